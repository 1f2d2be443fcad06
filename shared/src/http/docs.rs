//! The OpenAPI document, generated from the routers themselves: every route
//! is registered through `utoipa_axum` together with its `#[utoipa::path]`
//! annotation, so the document cannot drift from what is served.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, SecurityRequirement};

pub use crate::error::{ErrorBody, ErrorDetail};

/// The error responses every authenticated endpoint may give.
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
pub enum Errors {
    #[response(
        status = 400,
        description = "Invalid request (validation, malformed JSON, bad cursor)"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "Missing or invalid API key or token")]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "Not allowed (permission, ban, frozen channel, refused by the app's before-send hook)"
    )]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "Not found in this app")]
    NotFound(ErrorBody),
    #[response(status = 409, description = "Conflict (concurrent change, id taken)")]
    Conflict(ErrorBody),
    #[response(status = 413, description = "Too large")]
    TooLarge(ErrorBody),
    #[response(
        status = 429,
        description = "Slow mode or rate limit, with retry_after"
    )]
    RateLimited(ErrorBody),
    #[response(
        status = 503,
        description = "Storage throttled or failing after retries, or the app's before-send hook failing under its \
            block policy; nothing written, retry after retry_after"
    )]
    Unavailable(ErrorBody),
}

/// Adds the document's info and security schemes: every operation but the
/// health check needs the API key and a bearer token.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("Chat backend REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Multi-tenant chat: users, devices, channels, messages, uploads. Errors are \
             {\"error\": {\"code\", \"message\"}}. Lists page with `limit` and an opaque `next`.",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    // The error responses refer to these by name.
    {
        use utoipa::{PartialSchema, ToSchema};
        components
            .schemas
            .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
        components
            .schemas
            .insert(ErrorDetail::name().into_owned(), ErrorDetail::schema());
    }
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    let secured = SecurityRequirement::new("api_key", Vec::<String>::new())
        .add("bearer", Vec::<String>::new());
    for (path, item) in api.paths.paths.iter_mut() {
        if path.ends_with("/health") || path.ends_with("/openapi.json") {
            continue;
        }
        for operation in operations_mut(item) {
            operation.security = Some(vec![secured.clone()]);
        }
    }
    unique_operation_ids(&mut api);
    api
}

/// Operation ids are the handlers' names, which repeat across groups
/// (`list`, `create`); a generated client needs each unique, so a repeated
/// one takes its tag in front (`channels_list`, `moderation_list`).
fn unique_operation_ids(api: &mut OpenApi) {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for item in api.paths.paths.values() {
        for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in api.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .map(|t| t.replace(' ', "_"))
                    .unwrap_or_default();
                operation.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

/// The operations of a path item that the API uses.
fn operations_mut(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}
