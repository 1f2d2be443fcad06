//! Socket relays (chat_local::relay): a connection held by a relay in front
//! of the gateway is the gateway's like any other: `$connect` refuses what
//! it refuses, events reach it, its frames reach the handler, the
//! management API closes it, a frame over 32 KB closes it with 1009, and
//! its close runs `$disconnect`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;

/// A relay linked to the app's gateway, on a port of its own: its
/// `ws://` URL.
async fn relay(app: &TestApp) -> String {
    let link = format!(
        "{}/_relay",
        app.stack.management_url.replacen("http://", "ws://", 1)
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        chat_local::relay::run(
            &link,
            listener,
            Duration::from_secs(10),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    url
}

#[tokio::test]
async fn a_relayed_connection_is_the_gateways_own() {
    let app = TestApp::spawn().await;
    let relayed = relay(&app).await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[1], &["alice"]).await;
    let url = |token: &str| format!("{relayed}/?api_key={}&token={token}", app.a.key());

    // $connect decides, with the same answer as on the gateway's own port.
    let direct = app
        .ws_refused(&app.ws_url(app.a.key(), "not-a-token"))
        .await;
    assert_eq!(app.ws_refused(&url("not-a-token")).await, direct);
    assert_eq!(direct, 401);

    let mut alice = app.ws_at(&url(&t[0])).await;
    let ack = alice.request(json!({ "action": "health.check" })).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let id = ack["result"]["connection_id"].as_str().unwrap().to_string();
    assert!(app.stack.gateway.connection_ids().contains(&id));

    app.say(&app.a, &t[1], &ch, "through the relay").await;
    let event = alice.expect("message.new").await;
    assert_eq!(event["message"]["text"], "through the relay");

    // The management API closes it (1001), and it is gone.
    let closed = app
        .http
        .delete(format!("{}/@connections/{id}", app.stack.management_url))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status().as_u16(), 204);
    assert_eq!(alice.close_code(Duration::from_secs(5)).await, Some(1001));

    // A frame over API Gateway's 32 KB closes it with 1009.
    let mut big = app.ws_at(&url(&t[0])).await;
    let id = big.request(json!({ "action": "health.check" })).await["result"]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    big.send_text(json!({ "action": "health.check", "pad": "x".repeat(40_000) }).to_string())
        .await;
    assert_eq!(big.close_code(Duration::from_secs(5)).await, Some(1009));
    assert_gone(&app, &id).await;

    // A client that leaves: `$disconnect` runs, the id is gone.
    let mut leaving = app.ws_at(&url(&t[0])).await;
    let id = leaving.request(json!({ "action": "health.check" })).await["result"]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app.stack.gateway.connection_ids().contains(&id));
    leaving.close().await;
    assert_gone(&app, &id).await;
}

/// The gateway lets go of `id` (within 5 s): a read of it gets 410.
async fn assert_gone(app: &TestApp, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.stack.gateway.connection_ids().iter().any(|c| c == id)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gone = app
        .http
        .get(format!("{}/@connections/{id}", app.stack.management_url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);
}
