//! Path and query parameters many routes share, each documented once: a
//! handler extracts the struct and its route lists the same struct in
//! `params(...)`, so the OpenAPI document cannot drift from what is parsed.

use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use super::common::PageParams;
use crate::ids::{ChannelId, MessageId, PollId, UserId};

/// `{id}` of `/channels/{id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// channel id
    #[param(value_type = String)]
    pub id: ChannelId,
}

/// `{id}` of `/messages/{id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MessagePath {
    /// message id
    #[param(value_type = String)]
    pub id: MessageId,
}

/// `{id}` of `/polls/{id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PollPath {
    /// poll id
    #[param(value_type = String)]
    pub id: PollId,
}

/// `{id}` of `/users/{id}…`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// user id
    #[param(value_type = String)]
    pub id: UserId,
}

/// `{id}/members/{user_id}` of a channel.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// channel id
    #[param(value_type = String)]
    pub id: ChannelId,
    /// member's user id
    #[param(value_type = String)]
    pub user_id: UserId,
}

/// `?user_id=`: the user a server token acts for.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActingUserQuery {
    /// with a server token: the acting user
    #[param(value_type = Option<String>)]
    pub user_id: Option<UserId>,
}

/// `?user_id=&limit=&next=`: a page read by an acting user.
#[derive(Debug, Default, Deserialize)]
pub struct ActingPageQuery {
    pub user_id: Option<UserId>,
    #[serde(flatten)]
    pub page: PageParams,
}

/// utoipa's derive cannot follow `#[serde(flatten)]`: the two documented
/// halves, in the order they are listed.
impl IntoParams for ActingPageQuery {
    fn into_params(in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = ActingUserQuery::into_params(&in_provider);
        params.extend(PageParams::into_params(&in_provider));
        params
    }
}

super::common::names_user! {
    ActingUserQuery => user_id,
    ActingPageQuery => user_id,
}
