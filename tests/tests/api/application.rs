//! `GET /app` and `PATCH /app`: an application's settings, for its server
//! tokens only, validated, and in force for the next request.

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_server_reads_and_changes_its_apps_settings() {
    // A change applies at once in the process that made it and in other warm
    // processes within the app cache's lifetime: with no cache, in all of
    // them, whichever process takes the next request.
    let mut options = chat_local::StackOptions::ephemeral();
    options.config.app_cache_ttl = Duration::ZERO;
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    let body = shown.assert_status(200);
    assert_eq!(body["app"]["app_id"], app.a.app.app_id.as_str());
    assert_eq!(body["app"]["settings"]["max_message_length"], 5000);
    assert!(
        !body.to_string().contains(&app.a.app.api_secret),
        "never the secret"
    );

    // Users may not read or change it.
    app.get(&app.a, &t[0], "/app")
        .await
        .assert_error(403, "forbidden");
    app.patch(
        &app.a,
        &t[0],
        "/app",
        json!({"set": {"max_message_length": 10}}),
    )
    .await
    .assert_error(403, "forbidden");

    // Changed limits apply to the next request.
    let ch = app.group(&app.a, &t[0], &[]).await;
    let changed = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"set": {"name": "Renamed", "max_message_length": 10, "max_upload_bytes": 100, "allowed_mime_types": ["text/plain"]}}),
        )
        .await;
    let changed = changed.assert_status(200);
    assert_eq!(changed["app"]["name"], "Renamed");
    assert_eq!(changed["app"]["settings"]["max_upload_bytes"], 100);
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "longer than ten"}),
    )
    .await
    .assert_error(400, "validation_error");
    app.get(
        &app.a,
        &t[0],
        &format!("/upload/signed-url?file_name=a.png&mime_type=image/png&size=10&channel_id={ch}"),
    )
    .await
    .assert_error(400, "validation_error");
    app.get(
        &app.a,
        &t[0],
        &format!(
            "/upload/signed-url?file_name=a.txt&mime_type=text/plain&size=101&channel_id={ch}"
        ),
    )
    .await
    .assert_error(413, "payload_too_large");
    // The other app is untouched.
    let other = app.get(&app.b, &app.b.server, "/app").await;
    assert_eq!(
        other.assert_status(200)["app"]["settings"]["max_message_length"],
        5000
    );

    // Unset returns a field to its default.
    let reset = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"unset": ["max_message_length"]}),
        )
        .await;
    assert_eq!(
        reset.assert_status(200)["app"]["settings"]["max_message_length"],
        5000
    );
    app.say(&app.a, &t[0], &ch, "longer than ten").await;
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"set": {"max_message_length": 0}}),
        json!({"set": {"max_message_length": 1_000_000}}),
        json!({"set": {"max_metadata_bytes": 10_000_000}}),
        json!({"set": {"max_upload_bytes": 0}}),
        json!({"set": {"allowed_mime_types": ["IMAGE/PNG"]}}),
        json!({"set": {"allowed_mime_types": ["nonsense"]}}),
        json!({"set": {"api_secret": "mine"}}),
        json!({"set": {"max_upload_bytes": 10}, "unset": ["max_upload_bytes"]}),
        json!({"unset": ["name"]}),
        json!({"set": {"name": ""}}),
    ] {
        app.patch(&app.a, &app.a.server, "/app", body.clone())
            .await
            .assert_error(400, "validation_error");
    }
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    assert_eq!(
        shown.assert_status(200)["app"]["settings"]["max_message_length"],
        5000
    );
}
