//! The sample API Gateway events in `events/` go through `lambda_http`'s own
//! request conversion into the users function's router, under the
//! environment `template.yaml` gives the functions: the Lambda path, against
//! the same local table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/ws.rs"]
mod ws;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use chat_shared::http;
use chat_shared::ids::{ConnectionId, UserId};
use chat_shared::realtime::connections;
use chat_shared::socket as handler;
use serde_json::json;
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

fn sample(event: &str, substitutions: &[(&str, &str)]) -> String {
    let path = format!("{}/../events/{event}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).expect("event file");
    for (from, to) in substitutions {
        text = text.replace(from, to);
    }
    text
}

async fn invoke(
    app: &TestApp,
    tenant: &Tenant,
    event: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let text = sample(
        event,
        &[
            ("REPLACE_WITH_API_KEY", tenant.key()),
            ("REPLACE_WITH_TOKEN", token),
        ],
    );
    let request = lambda_http::request::from_str(&text).expect("a valid API Gateway event");
    let state = app.stack.state.clone();
    // Each sample goes to the router of the function the template routes it to.
    let router = if event.starts_with("rest-channels") {
        http::channels::router(state)
    } else if event.starts_with("rest-messages") || event.starts_with("rest-channel-history") {
        http::messages::router(state)
    } else if event.starts_with("rest-upload") {
        http::uploads::router(state)
    } else {
        http::users::router(state)
    };
    let response = router.oneshot(request).await.expect("router answers");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, body)
}

#[test]
fn sample_events_are_served_by_the_functions_handlers() {
    lambda_environment_from_template();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(serve_samples());
    runtime.block_on(websocket_samples());
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

    app.upsert(&a, json!([{ "id": "bob" }]))
        .await
        .assert_status(200);
    let (status, body) = invoke(&app, &a, "rest-channels-create.json", &alice).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = invoke(&app, &a, "rest-messages-send.json", &alice).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = invoke(&app, &a, "rest-channel-history.json", &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["messages"][0]["text"],
        "hello from a sample REST event"
    );

    // A binary file through API Gateway's base64 body (`isBase64Encoded`):
    // stored byte for byte.
    let (status, body) = invoke(&app, &a, "rest-upload-multipart.json", &alice).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["file_size"], 1024);
    let stored = app
        .http
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let sent: Vec<u8> = (0..4).flat_map(|_| 0..=255u8).collect();
    assert!(
        stored.as_ref() == sent.as_slice(),
        "the upload came back changed"
    );
}

fn ws_event(event: &str, substitutions: &[(&str, &str)]) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(&sample(event, substitutions)).expect("a valid WebSocket event")
}

/// The WebSocket samples through the realtime handler: `$connect` and
/// `$disconnect` for a made-up connection, and each `$default` action for a
/// real client's connection, whose acks arrive on its socket.
async fn websocket_samples() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let channel = app.group(&app.a, &t[0], &["bob"]).await;
    let state = &app.stack.state;

    // The authorizer: a user's token is granted its app and user, anything
    // else fails with `Unauthorized` (API Gateway's 401), a server token is
    // denied (403).
    let authorize = |token: &str| {
        let event: handler::Event = serde_json::from_str(&sample(
            "ws-authorize.json",
            &[
                ("REPLACE_WITH_API_KEY", app.a.key()),
                ("REPLACE_WITH_TOKEN", token),
                ("REPLACE_WITH_CONNECTION_ID", "sample-conn+1="),
            ],
        ))
        .expect("a valid authorizer request");
        handler::answer(state, event)
    };
    let granted = serde_json::to_value(authorize(&t[0]).await.expect("allowed")).unwrap();
    assert_eq!(granted["principalId"], "alice");
    assert_eq!(granted["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(granted["context"]["user_id"], "alice");
    assert_eq!(granted["context"]["app_id"], app.a.app.app_id.as_str());
    assert_eq!(
        authorize("garbage").await.unwrap_err().to_string(),
        "Unauthorized"
    );
    let denied = serde_json::to_value(authorize(&app.a.server).await.expect("answered")).unwrap();
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");

    let refused = handler::handle(
        state,
        ws_event(
            "ws-connect.json",
            &[
                ("REPLACE_WITH_API_KEY", app.a.key()),
                ("REPLACE_WITH_TOKEN", "garbage"),
                ("REPLACE_WITH_CONNECTION_ID", "sample-refused="),
            ],
        ),
    )
    .await;
    assert_eq!(refused.status_code, 401);
    let connect = handler::handle(
        state,
        ws_event(
            "ws-connect.json",
            &[
                ("REPLACE_WITH_API_KEY", app.a.key()),
                ("REPLACE_WITH_TOKEN", &t[0]),
                ("REPLACE_WITH_CONNECTION_ID", "sample-conn+1="),
            ],
        ),
    )
    .await;
    assert_eq!(connect.status_code, 200);
    let id = ConnectionId::parse("sample-conn+1=").unwrap();
    let stored = connections::get(&state.db, &id)
        .await
        .unwrap()
        .expect("connection stored");
    assert_eq!(stored.user_id, UserId::parse("alice").unwrap());
    let disconnect = handler::handle(
        state,
        ws_event(
            "ws-disconnect.json",
            &[("REPLACE_WITH_CONNECTION_ID", "sample-conn+1=")],
        ),
    )
    .await;
    assert_eq!(disconnect.status_code, 200);
    assert!(connections::get(&state.db, &id).await.unwrap().is_none());

    let mut alice = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let real_id = alice.request(json!({ "action": "health.check" })).await["result"]
        ["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    let subs = [
        ("REPLACE_WITH_CONNECTION_ID", real_id.as_str()),
        ("REPLACE_WITH_CHANNEL_ID", channel.as_str()),
    ];
    for (event, request_id) in [
        ("ws-health-check.json", "7"),
        ("ws-message-send.json", "1"),
        ("ws-typing-start.json", "2"),
        ("ws-typing-stop.json", "3"),
        ("ws-channel-watch.json", "4"),
        ("ws-channel-unwatch.json", "5"),
        ("ws-message-read.json", "6"),
    ] {
        // The ack is the answer (the two-way route's response API Gateway
        // sends back on the socket), not a post to the socket.
        let response = handler::handle(state, ws_event(event, &subs)).await;
        assert_eq!(response.status_code, 200, "{event}");
        let Some(aws_lambda_events::encodings::Body::Text(body)) = &response.body else {
            panic!("{event}: no ack in {response:?}");
        };
        let ack: serde_json::Value = serde_json::from_str(body).expect("a JSON ack");
        assert_eq!(
            (&ack["type"], &ack["request_id"], &ack["ok"]),
            (&json!("ack"), &json!(request_id), &json!(true)),
            "{event}: {ack}"
        );
    }
    assert_eq!(
        bob.expect("message.new").await["message"]["text"],
        "hello from a sample event"
    );
    bob.expect("typing.start").await;
    bob.expect("typing.stop").await;
    assert_eq!(bob.expect("message.read").await["user"]["id"], "alice");

    // The outbox stream's sample: a fan-out job through the fan-out
    // function's handler reaches the channel's readers.
    let job: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&sample(
        "stream-fanout-job.json",
        &[
            ("REPLACE_WITH_APP_ID", app.a.app.app_id.as_str()),
            ("REPLACE_WITH_CHANNEL_ID", channel.as_str()),
        ],
    ))
    .expect("a valid DynamoDB stream event");
    let response = chat_shared::realtime::fanout::handle(state, job).await;
    assert!(response.batch_item_failures.is_empty());
    let event = bob.expect("typing.start").await;
    assert_eq!(event["id"], "0193a1b2c3d47e5f8a9b0c1d2e3f4a5b");

    // The outbox stream's webhook sample through the notify function's
    // handler: posted to the app's webhook with the event's id.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let receiver =
        axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let id = headers
                    .get("x-webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send((id, body));
                axum::http::StatusCode::NO_CONTENT
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"webhook_url": url}}),
    )
    .await
    .assert_status(200);
    let job: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&sample(
        "stream-webhook-job.json",
        &[
            ("REPLACE_WITH_APP_ID", app.a.app.app_id.as_str()),
            ("REPLACE_WITH_CHANNEL_ID", channel.as_str()),
        ],
    ))
    .expect("a valid DynamoDB stream event");
    let response = chat_shared::notify::handle(state, job).await;
    assert!(response.batch_item_failures.is_empty());
    let (id, body) = rx.recv().await.expect("the receiver got the webhook");
    assert_eq!(id, "0193a1b2c3d47e5f8a9b0c1d2e3f4a5c");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "channel.deleted");

    // The schedule queue's sample (a second attempt, due) through the
    // scheduler's handler: posted at once.
    let due: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&sample(
        "sqs-scheduled-webhook.json",
        &[
            ("REPLACE_WITH_APP_ID", app.a.app.app_id.as_str()),
            ("REPLACE_WITH_CHANNEL_ID", channel.as_str()),
        ],
    ))
    .expect("a valid SQS event");
    let response = chat_shared::notify::handle_due(state, due).await;
    assert!(response.batch_item_failures.is_empty());
    let (id, _) = rx.recv().await.expect("the receiver got the retry");
    assert_eq!(id, "0193a1b2c3d47e5f8a9b0c1d2e3f4a5d");
}
