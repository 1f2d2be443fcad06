//! A second app's valid credentials never read or change the first app's data.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn another_app_cannot_read_or_change_users() {
    let app = TestApp::spawn().await;
    app.upsert(
        &app.a,
        json!([{ "id": "alice", "display_name": "Alice of A" }]),
    )
    .await
    .assert_status(200);
    let b = &app.b;
    app.get(b, &b.server, "/users/alice")
        .await
        .assert_error(404, "not_found");
    let listed = app.get(b, &b.server, "/users?ids=alice").await;
    assert_eq!(listed.assert_status(200)["users"], json!([]));
    app.patch(
        b,
        &b.server,
        "/users/alice",
        json!({ "set": { "display_name": "owned" } }),
    )
    .await
    .assert_error(404, "not_found");
    app.post(b, &b.server, "/users/alice/deactivate", json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(b, &b.server, "/users/alice/token", json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(b, &b.server, "/users/alice/revoke-tokens", json!({}))
        .await
        .assert_error(404, "not_found");
    // App A's key with app B's server token: refused outright.
    app.send(
        Method::GET,
        "/users/alice",
        Some(app.a.key()),
        Some(&b.server),
        None,
    )
    .await
    .assert_error(401, "invalid_signature");
    // Upserting the same id in B creates B's own user; A's is untouched.
    app.upsert(b, json!([{ "id": "alice", "display_name": "Alice of B" }]))
        .await
        .assert_status(200);
    let a_alice = app.get(&app.a, &app.a.server, "/users/alice").await;
    assert_eq!(
        a_alice.assert_status(200)["user"]["display_name"],
        "Alice of A"
    );
    assert_eq!(a_alice.body["user"]["deactivated"], false);
}

#[tokio::test]
async fn another_app_cannot_see_or_delete_devices() {
    let app = TestApp::spawn().await;
    let a_token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let b_token = app.create_users(&app.b, &["alice"]).await.remove(0);
    for i in 0..3 {
        app.post(
            &app.a,
            &a_token,
            "/devices",
            json!({ "id": format!("a-dev-{i}"), "push_provider": "apn" }),
        )
        .await
        .assert_status(201);
    }
    let listed = app.get(&app.b, &b_token, "/devices").await;
    assert_eq!(listed.assert_status(200)["devices"], json!([]));
    app.delete(&app.b, &b_token, "/devices/a-dev-0")
        .await
        .assert_error(404, "not_found");
    app.get(&app.b, &app.b.server, "/devices?user_id=alice")
        .await
        .assert_status(200);

    // A cursor taken from app A's listing is refused in app B.
    let page = app.get(&app.a, &a_token, "/devices?limit=1").await;
    let cursor = page.assert_status(200)["next"]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&app.b, &b_token, &format!("/devices?limit=1&next={cursor}"))
        .await
        .assert_error(400, "validation_error");

    let still = app.get(&app.a, &a_token, "/devices").await;
    assert_eq!(
        still.assert_status(200)["devices"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
