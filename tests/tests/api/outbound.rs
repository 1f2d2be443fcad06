//! The outbound guard, seen through the API: hook URLs that name a private,
//! metadata or the stack's own address are refused when set; a name that
//! resolves to one is refused when called (the stack resolves the test
//! names below from `CHAT_OUTBOUND_HOSTS`, so nothing is ever sent); a
//! failed delivery records a category, never the receiver's network.

use std::time::Duration;

use chat_local::StackOptions;
use chat_shared::Config;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Names the stack resolves to refused addresses, and a one-attempt webhook.
async fn guarded_app() -> TestApp {
    TestApp::spawn_with(StackOptions {
        config: Config {
            // The tests change the webhook between deliveries: every
            // function process reads the app afresh (in the faithful mode
            // the notify process would otherwise keep the old URL a minute).
            app_cache_ttl: Duration::ZERO,
            webhook_max_attempts: 1,
            webhook_timeout: Duration::from_millis(500),
            outbound_hosts: vec![
                ("private.test".into(), "10.0.0.1".parse().unwrap()),
                ("metadata.test".into(), "169.254.169.254".parse().unwrap()),
                ("nat64.test".into(), "64:ff9b::a9fe:a9fe".parse().unwrap()),
                ("rebind.test".into(), "127.0.0.1".parse().unwrap()),
            ],
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    })
    .await
}

async fn set_webhook(app: &TestApp, url: &str) {
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"webhook_url": url}}),
    )
    .await
    .assert_status(200);
}

/// The dead letter of the message with this text, once `want` are listed.
async fn dead_letter_of(app: &TestApp, text: &str, want: usize) -> Value {
    let listed = dead_letters(app, want).await;
    listed
        .iter()
        .find(|d| d["event"]["message"]["text"] == text)
        .unwrap_or_else(|| panic!("no dead letter for {text:?}: {listed:?}"))
        .clone()
}

async fn dead_letters(app: &TestApp, want: usize) -> Vec<Value> {
    for _ in 0..200 {
        let failed = app.get(&app.a, &app.a.server, "/app/webhooks/failed").await;
        let listed = failed.assert_status(200)["failed"]
            .as_array()
            .unwrap()
            .clone();
        if listed.len() >= want {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {want} dead letters");
}

#[tokio::test]
async fn hook_urls_naming_refused_addresses_or_the_stacks_own_ports_are_refused_when_set() {
    let app = guarded_app().await;
    let own = [
        app.stack.management_url.clone(),
        app.stack.dynamodb_url.clone(),
        app.stack.s3_url.clone(),
        app.stack.rest_url.trim_end_matches("/api/v1").to_string(),
        app.stack.ws_url.replace("ws://", "http://"),
    ];
    let mut refused: Vec<String> = [
        "https://10.0.0.1/",
        "https://192.168.1.1/",
        "https://172.16.0.1/",
        "https://100.64.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fc00::1]/",
        "https://[fe80::1]/",
        "https://[::169.254.169.254]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:a9fe:a9fe::]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://192.0.2.1/",
        "https://0xa9.0xfe.0xa9.0xfe/",
        "https://metadata.google.internal/",
    ]
    .map(String::from)
    .to_vec();
    refused.extend(own.iter().map(|base| format!("{base}/@connections/x")));
    for url in &refused {
        for field in ["webhook_url", "before_message_send_url"] {
            let body = app
                .patch(&app.a, &app.a.server, "/app", json!({"set": {field: url}}))
                .await;
            body.assert_error(400, "validation_error");
        }
    }
    let settings = app.get(&app.a, &app.a.server, "/app").await;
    assert!(settings.assert_status(200)["app"]["settings"]["webhook_url"].is_null());
}

#[tokio::test]
async fn names_that_resolve_to_refused_addresses_are_never_called() {
    let app = guarded_app().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let names = ["private.test", "metadata.test", "nat64.test", "rebind.test"];
    for (i, name) in names.iter().enumerate() {
        set_webhook(&app, &format!("https://{name}/hook")).await;
        app.say(&app.a, &t[0], &ch, &format!("to {name}")).await;
        let entry = dead_letter_of(&app, &format!("to {name}"), i + 1).await;
        assert_eq!(entry["last_error"], "refused_address", "{entry}");
        assert!(entry.get("last_status").is_none(), "{entry}");
    }
    // A before-send hook behind such a name fails by the app's policy
    // (here: the default, which lets the message through).
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"before_message_send_url": "https://metadata.test/hook"}, "unset": ["webhook_url"]}),
    )
    .await
    .assert_status(200);
    app.say(&app.a, &t[0], &ch, "past the hook").await;
}

#[tokio::test]
async fn a_failed_delivery_records_a_category_not_the_receivers_network() {
    let app = guarded_app().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/hook");
    set_webhook(&app, &url).await;
    app.say(&app.a, &t[0], &ch, "nobody home").await;
    let listed = dead_letters(&app, 1).await;
    assert_eq!(listed[0]["last_error"], "connect_failed", "{listed:?}");
    let text = serde_json::to_string(&listed).unwrap();
    for leak in ["refused", "127.0.0.1", &port.to_string(), "Connection"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }

    // A receiver that never answers: a timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    set_webhook(&app, &url).await;
    app.say(&app.a, &t[0], &ch, "silence").await;
    let entry = dead_letter_of(&app, "silence", 2).await;
    assert_eq!(entry["last_error"], "timeout", "{entry}");
}
