//! Security sweeps driven by the OpenAPI document: every operation that
//! takes a JSON body refuses an oversized one early with 413 and the JSON
//! error shape, and every operation refuses another app's token on this
//! app's key, without leaking anything.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn operations(doc: &Value) -> Vec<(Method, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let concrete: String = path
                .trim_start_matches("/api/v1")
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let json_body = operation["requestBody"]["content"]["application/json"].is_object();
            out.push((method, concrete, json_body));
        }
    }
    out
}

#[tokio::test]
async fn oversized_bodies_are_refused_early_everywhere() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    let huge = json!({ "text": "x".repeat(3 * 1024 * 1024) });
    let mut checked = 0;
    for (method, path, json_body) in operations(&doc) {
        if !json_body {
            continue;
        }
        for credential in [&token, &app.a.server] {
            let resp = app
                .send(
                    method.clone(),
                    &path,
                    Some(app.a.key()),
                    Some(credential),
                    Some(huge.clone()),
                )
                .await;
            resp.assert_error(413, "payload_too_large");
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked} operations with bodies");
}

#[tokio::test]
async fn another_apps_token_is_refused_on_every_operation() {
    let app = TestApp::spawn().await;
    app.create_users(&app.a, &["alice"]).await;
    let b_user = app.create_users(&app.b, &["alice"]).await.remove(0);
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .body;
    for (method, path, json_body) in operations(&doc) {
        if path.ends_with("/health") {
            continue;
        }
        let body = json_body.then(|| json!({}));
        for token in [&b_user, &app.b.server] {
            let resp = app
                .send(
                    method.clone(),
                    &path,
                    Some(app.a.key()),
                    Some(token),
                    body.clone(),
                )
                .await;
            resp.assert_error(401, "invalid_signature");
            let text = resp.body.to_string();
            assert!(
                !text.contains(app.a.app.app_id.as_str())
                    && !text.contains(app.b.app.app_id.as_str()),
                "{method} {path}: {text}"
            );
        }
    }
}
