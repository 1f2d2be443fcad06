//! Property tests: generated request bodies, query strings, tokens and
//! WebSocket frames against the running local stack. Whatever comes in, the
//! answer is never a 5xx and always the JSON error shape (or a success), and
//! a socket never drops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/ws.rs"]
mod ws;

use std::sync::OnceLock;

use helpers::TestApp;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    token: String,
    channel: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, token, channel) = runtime.block_on(async {
            let app = TestApp::spawn().await;
            // Hundreds of generated requests from one user a minute: past
            // every default limit (docs/api.md: Rate limits).
            let most = chat_shared::ratelimit::MAX_LIMIT;
            let limit = json!({ "user": most, "app": most });
            app.patch(
                &app.a,
                &app.a.server,
                "/app",
                json!({ "set": { "rate_limits": { "send": limit, "write": limit, "read": limit } } }),
            )
            .await
            .assert_status(200);
            let token = app.create_users(&app.a, &["alice", "bob"]).await.remove(0);
            let channel = app.group(&app.a, &token, &["bob"]).await;
            (app, token, channel)
        });
        World {
            runtime,
            app,
            token,
            channel,
        }
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("text".to_string()),
                    Just("type".to_string()),
                    Just("channel_id".to_string()),
                    Just("members".to_string()),
                    Just("users".to_string()),
                    Just("metadata".to_string()),
                    Just("user_ids".to_string()),
                    Just("set".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Metadata DynamoDB cannot store: nested past its depth, an empty map key
/// anywhere, a number outside its range.
fn unstorable_metadata() -> impl Strategy<Value = Value> {
    let deep = (17usize..48).prop_map(|levels| {
        let mut value = json!(1);
        for i in 0..levels {
            value = if i % 3 == 0 {
                json!([value])
            } else {
                json!({ "k": value })
            };
        }
        json!({ "deep": value })
    });
    let empty_key = (json_value(), 0usize..4).prop_map(|(inner, depth)| {
        let mut value = json!({ "": inner });
        for _ in 0..depth {
            value = json!({ "k": value });
        }
        value
    });
    let out_of_range = prop_oneof![
        (126i32..308).prop_map(|e| 10f64.powi(e)),
        (131i32..300).prop_map(|e| -(10f64.powi(-e))),
    ]
    .prop_map(|n| json!({ "n": n }));
    prop_oneof![deep, empty_key, out_of_range]
}

/// A cursor of the members list with extra attributes or altered values.
fn forged_cursor() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map("[a-z0-9_]{1,8}", ".{0,20}".prop_map(Value::from), 1..4)
        .prop_map(|extra| extra.into_iter().collect())
}

/// The answer a client may see: a success, or a 4xx with the error shape.
fn check(status: u16, body: &Value, what: &str) {
    assert!(status < 500, "{what}: {status} {body}");
    if status >= 400 {
        assert!(body["error"]["code"].is_string(), "{what}: {status} {body}");
        assert!(
            body["error"]["message"].is_string(),
            "{what}: {status} {body}"
        );
    }
}

const BODY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/users"),
    ("PATCH", "/users/alice"),
    ("POST", "/devices"),
    ("POST", "/channels"),
    ("PATCH", "/channels/{c}"),
    ("POST", "/channels/{c}/members"),
    ("POST", "/channels/{c}/bans"),
    ("POST", "/channels/{c}/read"),
    ("PUT", "/channels/{c}/draft"),
    ("POST", "/messages"),
    ("POST", "/users/alice/token"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_bodies_never_fail_the_server(route in 0..BODY_ROUTES.len(), body in json_value(), as_server in any::<bool>()) {
        let w = world();
        let (method, path) = BODY_ROUTES[route];
        let path = path.replace("{c}", &w.channel);
        let token = if as_server { w.app.a.server.clone() } else { w.token.clone() };
        let resp = w.runtime.block_on(w.app.send(method.parse::<Method>().unwrap(), &path, Some(w.app.a.key()), Some(&token), Some(body.clone())));
        check(resp.status, &resp.body, &format!("{method} {path} {body}"));
    }

    #[test]
    fn raw_bodies_and_query_strings_never_fail_the_server(raw in ".{0,200}", query in "[ -~]{0,80}") {
        let w = world();
        let resp = w.runtime.block_on(async {
            let response = w.app.http
                .post(w.app.url("/messages"))
                .header("X-Api-Key", w.app.a.key())
                .bearer_auth(&w.token)
                .header("content-type", "application/json")
                .body(raw.clone())
                .send()
                .await
                .unwrap();
            TestApp::read(response).await
        });
        check(resp.status, &resp.body, &format!("raw body {raw:?}"));
        let encoded: String = url_escape(&query);
        for path in [format!("/channels?{encoded}"), format!("/channels/{}/messages?{encoded}", w.channel), format!("/search?{encoded}"), format!("/users?{encoded}")] {
            let resp = w.runtime.block_on(w.app.send(Method::GET, &path, Some(w.app.a.key()), Some(&w.token), None));
            check(resp.status, &resp.body, &path);
        }
    }

    #[test]
    fn unstorable_metadata_is_refused_with_a_400_on_rest_and_socket(metadata in unstorable_metadata(), route in 0..4usize) {
        let w = world();
        let (method, path, body) = match route {
            0 => (Method::POST, "/messages".to_string(), json!({"channel_id": w.channel, "text": "x", "metadata": metadata})),
            1 => (Method::PATCH, "/users/alice".to_string(), json!({"set": {"metadata": metadata}})),
            2 => (Method::POST, "/channels".to_string(), json!({"type": "group", "metadata": metadata})),
            _ => (Method::PUT, format!("/channels/{}/draft", w.channel), json!({"text": "x", "metadata": metadata})),
        };
        let resp = w.runtime.block_on(w.app.send(method, &path, Some(w.app.a.key()), Some(&w.token), Some(body.clone())));
        prop_assert_eq!(resp.status, 400, "{} {}: {}", path, body, resp.body);
        check(resp.status, &resp.body, &path);
        let ack = w.runtime.block_on(async {
            let mut socket = w.app.ws(&w.app.a, &w.token).await;
            let ack = socket.request(json!({"action": "message.send", "channel_id": w.channel, "text": "x", "metadata": metadata})).await;
            socket.close().await;
            ack
        });
        prop_assert_eq!(&ack["error"]["code"], "validation_error", "{}", ack);
    }

    #[test]
    fn forged_cursors_are_refused_with_a_400(extra in forged_cursor(), keep_key in any::<bool>()) {
        use base64::Engine;
        let w = world();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let resp = w.runtime.block_on(async {
            let path = format!("/channels/{}/members?limit=1", w.channel);
            let page = w.app.send(Method::GET, &path, Some(w.app.a.key()), Some(&w.token), None).await;
            let next = page.body["next"].as_str().unwrap().to_string();
            let mut cursor: serde_json::Map<String, Value> = serde_json::from_slice(&b64.decode(&next).unwrap()).unwrap();
            if !keep_key {
                cursor.remove("sk");
            }
            cursor.extend(extra.clone());
            let forged = b64.encode(serde_json::to_vec(&cursor).unwrap());
            w.app.send(Method::GET, &format!("{path}&next={forged}"), Some(w.app.a.key()), Some(&w.token), None).await
        });
        let genuine = keep_key && extra.keys().all(|k| k == "pk" || k == "sk");
        if !genuine {
            prop_assert_eq!(resp.status, 400, "{:?}: {}", extra, resp.body);
        }
        check(resp.status, &resp.body, "forged cursor");
    }

    #[test]
    fn generated_tokens_are_refused_cleanly(token in "[A-Za-z0-9._~+/=-]{0,300}", header in any::<bool>()) {
        let w = world();
        let resp = w.runtime.block_on(async {
            let mut request = w.app.http.get(w.app.url("/users/alice")).header("X-Api-Key", w.app.a.key());
            request = if header { request.bearer_auth(&token) } else { request.header("Authorization", token.clone()) };
            TestApp::read(request.send().await.unwrap()).await
        });
        prop_assert_eq!(resp.status, 401, "{}", resp.body);
        check(resp.status, &resp.body, &token);
    }

    #[test]
    fn generated_frames_get_acks_and_the_socket_lives(frames in prop::collection::vec(prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        json_value().prop_map(|mut v| { if let Value::Object(m) = &mut v { m.insert("action".into(), json!("message.send")); } v.to_string() }),
        ".{0,100}",
    ], 1..6)) {
        let w = world();
        w.runtime.block_on(async {
            let mut socket = w.app.ws(&w.app.a, &w.token).await;
            for frame in &frames {
                socket.send_text(frame.clone()).await;
                let ack = socket.expect("ack").await;
                assert!(ack["ok"].is_boolean(), "{frame}: {ack}");
                if ack["ok"] == false {
                    let code = ack["error"]["code"].as_str().unwrap_or_default().to_string();
                    assert!(!code.is_empty() && code != "internal_error", "{frame}: {ack}");
                }
            }
            let alive = socket.request(json!({ "action": "health.check" })).await;
            assert_eq!(alive["ok"], true);
            socket.close().await;
        });
    }
}

fn url_escape(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '#' => "%23".to_string(),
            c => c.to_string(),
        })
        .collect()
}
