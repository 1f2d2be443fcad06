//! A poll as stored and as its readers see it; its votes, each voter's mark
//! per option, and the inputs of its endpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acting::Ctx;
use crate::db::Entity;
use crate::ids::{AppId, ChannelId, MessageId, PollId, UserId};
use crate::keys::{self, Key};
use crate::messages::message_key;

pub const MAX_QUESTION_LEN: usize = 255;
pub const MAX_OPTION_LEN: usize = 100;
pub const MIN_OPTIONS: usize = 2;
/// Options a poll is made with.
pub const MAX_OPTIONS: usize = 10;
/// Options it may reach with its voters' suggestions.
pub const MAX_OPTIONS_SUGGESTED: usize = 20;
/// Voters shown by `GET /polls/{id}` (newest first).
pub const LATEST_VOTES: i32 = 10;

/// Who sees who voted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VotingVisibility {
    /// Readers see the latest voters and events name the voter.
    #[default]
    Public,
    /// No one sees a voter but the voter: not the creator, not the server.
    Anonymous,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PollOption {
    pub id: String,
    pub text: String,
}

/// The message a poll was sent in: where it is read, and whose it is (its
/// events go where the message's do).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PollMessage {
    pub channel_id: ChannelId,
    pub message_id: MessageId,
    pub sort_id: MessageId,
    pub in_channel: bool,
    pub author: UserId,
    pub shadowed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Poll {
    pub app_id: AppId,
    pub id: PollId,
    pub created_by: UserId,
    pub question: String,
    pub options: Vec<PollOption>,
    /// Votes per option id, moved by each vote's transaction.
    pub vote_counts: BTreeMap<String, i64>,
    pub enforce_unique_vote: bool,
    /// Votes one user may cast (`None`: one per option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_votes_allowed: Option<u32>,
    pub voting_visibility: VotingVisibility,
    pub allow_user_suggested_options: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Set once, by the send that carries the poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<PollMessage>,
    pub created_at: String,
    pub updated_at: String,
}

impl Entity for Poll {
    const TYPE: &'static str = "poll";
    type Item = keys::item::Poll;
    fn key(&self) -> Key<Self::Item> {
        keys::poll(&self.app_id, &self.id)
    }
}

impl Poll {
    pub fn is_closed(&self, now_ms: i64) -> bool {
        self.closed_at.is_some() || self.closes_ms.is_some_and(|at| at <= now_ms)
    }

    pub fn anonymous(&self) -> bool {
        self.voting_visibility == VotingVisibility::Anonymous
    }

    /// Votes one user may cast.
    pub fn votes_allowed(&self) -> u32 {
        if self.enforce_unique_vote {
            1
        } else {
            self.max_votes_allowed
                .unwrap_or(MAX_OPTIONS_SUGGESTED as u32)
        }
    }

    pub fn message_key(&self) -> Option<Key<keys::item::Message>> {
        self.message
            .as_ref()
            .map(|m| message_key(&self.app_id, &m.channel_id, &m.sort_id, m.in_channel))
    }

    /// Its creator and the server may do what its voters may not.
    pub fn is_creator(&self, ctx: &Ctx) -> bool {
        ctx.user.as_ref() == Some(&self.created_by)
    }

    /// As everyone sees it (no own votes, no voters).
    pub fn view(&self) -> PollView {
        let count = |id: &str| self.vote_counts.get(id).copied().unwrap_or(0).max(0);
        PollView {
            id: self.id.clone(),
            question: self.question.clone(),
            options: self
                .options
                .iter()
                .map(|o| OptionView {
                    id: o.id.clone(),
                    text: o.text.clone(),
                    vote_count: count(&o.id),
                })
                .collect(),
            vote_count: self.options.iter().map(|o| count(&o.id)).sum(),
            enforce_unique_vote: self.enforce_unique_vote,
            max_votes_allowed: self.max_votes_allowed,
            voting_visibility: self.voting_visibility,
            allow_user_suggested_options: self.allow_user_suggested_options,
            closes_at: self.closes_at.clone(),
            is_closed: self.is_closed(crate::time::now_millis()),
            closed_at: self.closed_at.clone(),
            created_by: self.created_by.clone(),
            channel_id: self.message.as_ref().map(|m| m.channel_id.clone()),
            message_id: self.message.as_ref().map(|m| m.message_id.clone()),
            own_votes: Vec::new(),
            latest_votes: Vec::new(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// The scheduler's task: close the poll at `closes_ms` (a poll closed
/// before, or gone, is left alone).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PollCloses {
    pub app_id: AppId,
    pub poll_id: PollId,
    pub closes_ms: i64,
}

impl crate::scheduler::Task for PollCloses {
    const KIND: &'static str = "poll_closes";
}

/// One vote, by its time-ordered id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Vote {
    pub app_id: AppId,
    pub poll_id: PollId,
    pub id: String,
    pub option_id: String,
    pub user_id: UserId,
    pub created_at: String,
}

impl Entity for Vote {
    const TYPE: &'static str = "vote";
    type Item = keys::item::Vote;
    fn key(&self) -> Key<Self::Item> {
        keys::vote(&self.app_id, &self.poll_id, &self.id)
    }
    fn gsi1(&self) -> Option<Key<keys::item::Index>> {
        Some(keys::voter_vote(&self.app_id, &self.user_id, &self.id))
    }
}

impl Vote {
    /// As a reader sees it: in an anonymous poll, without its voter.
    pub fn view(&self, anonymous: bool) -> VoteView {
        VoteView {
            id: self.id.clone(),
            poll_id: self.poll_id.clone(),
            option_id: self.option_id.clone(),
            user_id: (!anonymous).then(|| self.user_id.clone()),
            created_at: self.created_at.clone(),
        }
    }

    pub fn mark(&self) -> VoteMark {
        VoteMark {
            app_id: self.app_id.clone(),
            poll_id: self.poll_id.clone(),
            user_id: self.user_id.clone(),
            option_id: self.option_id.clone(),
            vote_id: self.id.clone(),
        }
    }
}

/// A voter's vote on one option: made with the vote, it refuses a second.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VoteMark {
    pub app_id: AppId,
    pub poll_id: PollId,
    pub user_id: UserId,
    pub option_id: String,
    pub vote_id: String,
}

impl Entity for VoteMark {
    const TYPE: &'static str = "vote_mark";
    type Item = keys::item::VoteMark;
    fn key(&self) -> Key<Self::Item> {
        keys::vote_mark(&self.app_id, &self.poll_id, &self.user_id, &self.option_id)
    }
}

impl VoteMark {
    pub fn vote_key(&self) -> Key<keys::item::Vote> {
        keys::vote(&self.app_id, &self.poll_id, &self.vote_id)
    }
}

/// `{"id", "text", "vote_count"}`
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OptionView {
    pub id: String,
    pub text: String,
    pub vote_count: i64,
}

/// A vote as its reader sees it (`user_id` absent in an anonymous poll,
/// but for the voter's own votes).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PollVote)]
pub struct VoteView {
    pub id: String,
    pub poll_id: PollId,
    pub option_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub created_at: String,
}

/// A poll: its options with their counts, and for `GET /polls/{id}` the
/// caller's votes and the latest voters (never in an anonymous poll).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Poll)]
pub struct PollView {
    pub id: PollId,
    pub question: String,
    pub options: Vec<OptionView>,
    /// Votes on all options.
    pub vote_count: i64,
    pub enforce_unique_vote: bool,
    pub max_votes_allowed: Option<u32>,
    pub voting_visibility: VotingVisibility,
    pub allow_user_suggested_options: bool,
    pub closes_at: Option<String>,
    pub is_closed: bool,
    pub closed_at: Option<String>,
    pub created_by: UserId,
    /// Where it was sent (`null` until a message carries it).
    pub channel_id: Option<ChannelId>,
    pub message_id: Option<MessageId>,
    /// The caller's votes (empty in events).
    pub own_votes: Vec<VoteView>,
    /// The newest votes, with their voters (empty in events and in an
    /// anonymous poll).
    pub latest_votes: Vec<VoteView>,
    pub created_at: String,
    pub updated_at: String,
}

/// One option of `POST /polls`, or a suggestion (`POST /polls/{id}/options`).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionInput {
    /// 1–100 characters, unique in the poll (case-insensitive).
    pub text: String,
    /// With a server token, on a suggestion: the user suggesting it.
    #[serde(default)]
    pub user_id: Option<UserId>,
}

/// `POST /polls`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollInput {
    /// 1–255 characters.
    pub question: String,
    /// 2–10 options.
    pub options: Vec<OptionInput>,
    /// One vote per user: a second vote replaces the first.
    #[serde(default)]
    pub enforce_unique_vote: bool,
    /// Votes one user may cast (1–20; without it, one per option).
    pub max_votes_allowed: Option<u32>,
    #[serde(default)]
    pub voting_visibility: VotingVisibility,
    /// Members may add options (up to 20 in all).
    #[serde(default)]
    pub allow_user_suggested_options: bool,
    /// When it closes by itself (RFC 3339, in the future).
    pub closes_at: Option<String>,
    /// With a server token: the creator.
    pub user_id: Option<UserId>,
}

/// `POST /polls/{id}/votes`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteInput {
    pub option_id: String,
    /// With a server token: the voter.
    pub user_id: Option<UserId>,
}
