//! The sample API Gateway events in `events/` go through `lambda_http`'s own
//! request conversion into the users function's router, under the
//! environment `template.yaml` gives the functions: the Lambda path, against
//! the same local table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
mod helpers;

use chat_shared::http;
use tower::ServiceExt;

use helpers::{Tenant, TestApp};

/// Applies the functions' `AWS_LAMBDA_*` variables from the template, e.g. the
/// one that keeps the REST stage out of the routed path.
fn lambda_environment_from_template() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("template")).expect("yaml");
    let vars = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .expect("Globals.Function.Environment.Variables");
    for (name, value) in vars {
        let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
            continue;
        };
        if name.starts_with("AWS_LAMBDA_") {
            // Safe here: this test binary holds one test, run before any thread.
            std::env::set_var(name, value);
        }
    }
}

async fn invoke(
    app: &TestApp,
    tenant: &Tenant,
    event: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let path = format!("{}/../events/{event}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .expect("event file")
        .replace("REPLACE_WITH_API_KEY", tenant.key())
        .replace("REPLACE_WITH_TOKEN", token);
    let request = lambda_http::request::from_str(&text).expect("a valid API Gateway event");
    let router = http::users::router(app.stack.state.clone());
    let response = router.oneshot(request).await.expect("router answers");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[test]
fn sample_rest_events_are_served_by_the_users_function_router() {
    lambda_environment_from_template();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(serve_samples());
}

async fn serve_samples() {
    let app = TestApp::spawn().await;
    let a = app.a.clone();
    let (status, body) = invoke(&app, &a, "rest-health.json", "").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let (status, body) = invoke(&app, &a, "rest-users-upsert.json", &a.server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"][0]["id"], "alice");

    let alice = a.user_token("alice");
    let (status, body) = invoke(&app, &a, "rest-users-get.json", &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["display_name"], "Alice");

    let (status, body) = invoke(&app, &a, "rest-devices-register.json", &alice).await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = invoke(&app, &a, "rest-users-get.json", "not-a-token").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_token"))
    );
}
