//! `/devices`: register, list (paginated), delete.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn register_list_and_delete_own_devices() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let resp = app
        .post(
            &app.a,
            &token,
            "/devices",
            json!({ "id": "fcm:tok_1", "push_provider": "firebase", "push_provider_name": "prod" }),
        )
        .await;
    let device = resp.assert_status(201)["device"].clone();
    assert_eq!(device["user_id"], "alice");
    assert_eq!(device["push_provider"], "firebase");
    // Registering again updates in place.
    let again = app
        .post(
            &app.a,
            &token,
            "/devices",
            json!({ "id": "fcm:tok_1", "push_provider": "firebase" }),
        )
        .await;
    assert_eq!(
        again.assert_status(200)["device"]["created_at"],
        device["created_at"]
    );
    app.post(
        &app.a,
        &token,
        "/devices",
        json!({ "id": "apn-2", "push_provider": "apn" }),
    )
    .await
    .assert_status(201);

    let listed = app.get(&app.a, &token, "/devices").await;
    let ids: Vec<&str> = listed.assert_status(200)["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["apn-2", "fcm:tok_1"]);

    app.delete(&app.a, &token, "/devices/apn-2")
        .await
        .assert_status(204);
    app.delete(&app.a, &token, "/devices/apn-2")
        .await
        .assert_error(404, "not_found");
    let listed = app.get(&app.a, &token, "/devices").await;
    assert_eq!(
        listed.assert_status(200)["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn device_input_is_validated() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    let cases = [
        json!({ "id": "d1", "push_provider": "pigeon" }),
        json!({ "id": "d#1", "push_provider": "apn" }),
        json!({ "id": "", "push_provider": "apn" }),
        json!({ "id": "x".repeat(513), "push_provider": "apn" }),
        json!({ "push_provider": "apn" }),
        json!({ "id": "d1" }),
        json!({ "id": "d1", "push_provider": "apn", "push_provider_name": "" }),
        json!({ "id": "d1", "push_provider": "apn", "extra": true }),
    ];
    for body in cases {
        app.post(&app.a, &token, "/devices", body)
            .await
            .assert_error(400, "validation_error");
    }
    app.get(&app.a, &token, "/devices?limit=0")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &token, "/devices?limit=101")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &token, "/devices?limit=abc")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &token, "/devices?next=garbage")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn server_token_acts_for_a_named_user_and_users_only_for_themselves() {
    let app = TestApp::spawn().await;
    let tokens = app.create_users(&app.a, &["alice", "bob"]).await;
    app.post(
        &app.a,
        &app.a.server,
        "/devices",
        json!({ "id": "d1", "push_provider": "apn" }),
    )
    .await
    .assert_error(400, "validation_error");
    app.post(
        &app.a,
        &app.a.server,
        "/devices",
        json!({ "id": "d1", "push_provider": "apn", "user_id": "ghost" }),
    )
    .await
    .assert_error(404, "not_found");
    app.post(
        &app.a,
        &app.a.server,
        "/devices",
        json!({ "id": "d1", "push_provider": "apn", "user_id": "bob" }),
    )
    .await
    .assert_status(201);
    let listed = app.get(&app.a, &app.a.server, "/devices?user_id=bob").await;
    assert_eq!(listed.assert_status(200)["devices"][0]["id"], "d1");
    // Alice can neither register for, list, nor delete Bob's devices.
    app.post(
        &app.a,
        &tokens[0],
        "/devices",
        json!({ "id": "d2", "push_provider": "apn", "user_id": "bob" }),
    )
    .await
    .assert_error(403, "forbidden");
    app.get(&app.a, &tokens[0], "/devices?user_id=bob")
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &tokens[0], "/devices/d1?user_id=bob")
        .await
        .assert_error(403, "forbidden");
    app.delete(&app.a, &tokens[0], "/devices/d1")
        .await
        .assert_error(404, "not_found");
    let listed = app.get(&app.a, &tokens[1], "/devices").await;
    assert_eq!(
        listed.assert_status(200)["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn devices_page_with_a_cursor_and_are_capped_per_user() {
    let app = TestApp::spawn().await;
    let token = app.create_users(&app.a, &["alice"]).await.remove(0);
    for i in 0..25 {
        app.post(
            &app.a,
            &token,
            "/devices",
            json!({ "id": format!("d{i:02}"), "push_provider": "apn" }),
        )
        .await
        .assert_status(201);
    }
    app.post(
        &app.a,
        &token,
        "/devices",
        json!({ "id": "one-too-many", "push_provider": "apn" }),
    )
    .await
    .assert_error(409, "conflict");

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(cursor) => format!("/devices?limit=10&next={cursor}"),
            None => "/devices?limit=10".to_string(),
        };
        let page = app.get(&app.a, &token, &path).await;
        let body = page.assert_status(200).clone();
        for d in body["devices"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_string());
        }
        match body["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("d{i:02}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn devices_keep_platform_versions_and_when_they_were_last_seen() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let first = app
        .post(
            &app.a,
            &t[0],
            "/devices",
            json!({"id": "fcm-1", "push_provider": "firebase", "platform": "android", "app_version": "3.2.0", "os_version": "14"}),
        )
        .await;
    let device = first.assert_status(201)["device"].clone();
    assert_eq!(device["platform"], "android");
    assert_eq!(device["app_version"], "3.2.0");
    assert_eq!(device["os_version"], "14");
    let seen = device["last_active_at"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = app
        .post(
            &app.a,
            &t[0],
            "/devices",
            json!({"id": "fcm-1", "push_provider": "firebase", "platform": "android", "app_version": "3.3.0"}),
        )
        .await;
    let again = again.assert_status(200)["device"].clone();
    assert_eq!(again["app_version"], "3.3.0");
    assert!(
        again["last_active_at"].as_str().unwrap() > seen.as_str(),
        "refreshed"
    );
    assert_eq!(again["created_at"], device["created_at"]);

    // Web Push: the browser's subscription, stored as given.
    let subscription = json!({"endpoint": "https://push.example.com/send/abc", "expirationTime": null, "keys": {"p256dh": "BNc...", "auth": "tBH..."}});
    let web = app
        .post(
            &app.a,
            &t[0],
            "/devices",
            json!({"id": "web-1", "push_provider": "web", "platform": "web", "web_push_subscription": subscription}),
        )
        .await;
    assert_eq!(
        web.assert_status(201)["device"]["web_push_subscription"],
        subscription
    );
    let listed = app.get(&app.a, &t[0], "/devices").await;
    assert_eq!(
        listed.assert_status(200)["devices"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for bad in [
        json!({"id": "web-2", "push_provider": "web"}),
        json!({"id": "web-2", "push_provider": "web", "web_push_subscription": {"endpoint": "http://push.example.com/x", "keys": {"p256dh": "a", "auth": "b"}}}),
        json!({"id": "web-2", "push_provider": "web", "web_push_subscription": {"endpoint": "https://push.example.com/x"}}),
        json!({"id": "fcm-2", "push_provider": "firebase", "web_push_subscription": subscription}),
        json!({"id": "fcm-2", "push_provider": "firebase", "platform": "Android OS"}),
    ] {
        app.post(&app.a, &t[0], "/devices", bad)
            .await
            .assert_error(400, "validation_error");
    }
}
