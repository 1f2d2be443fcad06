//! Blocklists: an app's words and patterns screen every message's text on
//! send (REST and socket) and edit: `block` refuses it, `mask` stars out the
//! match, `flag` lets it through and opens a report for the moderators.

use serde_json::{json, Value};

use crate::helpers::TestApp;

fn lists() -> Value {
    json!([
        {"name": "scams", "action": "block", "words": ["cheap pills", "Ünlimited Øffer"], "patterns": []},
        {"name": "mild", "action": "mask", "words": ["heck", "ÉPÉE"], "patterns": ["d[a4]rn"]},
        {"name": "contact", "action": "flag", "words": [], "patterns": [r"\b\d{3}-\d{4}\b"]},
    ])
}

async fn with_lists() -> TestApp {
    let app = TestApp::spawn().await;
    let set = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"set": {"blocklists": lists()}}),
        )
        .await;
    assert_eq!(
        set.assert_status(200)["app"]["settings"]["blocklists"],
        lists()
    );
    app
}

/// App a with the lists, and a group of owner, bob and carol in it.
async fn room() -> (TestApp, Vec<String>, String) {
    let app = with_lists().await;
    let t = app.create_users(&app.a, &["owner", "bob", "carol"]).await;
    let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    (app, t, ch)
}

#[tokio::test]
async fn blocked_text_is_refused_over_rest_and_the_socket_and_nothing_stored() {
    let (app, t, ch) = room().await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let refused = app
        .post(
            &app.a,
            &t[1],
            "/messages",
            json!({"channel_id": ch, "text": "Get CHEAP   pills? no: get cheap pills"}),
        )
        .await;
    refused.assert_error(403, "message_rejected");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scams"),
        "{}",
        refused.body
    );
    let ack = bob
        .request(
            json!({"action": "message.send", "channel_id": ch, "text": "ünlimited øffer inside"}),
        )
        .await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "message_rejected", "{ack}");
    let history = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/messages"))
        .await;
    assert!(TestApp::texts(history.assert_status(200)).is_empty());
}

#[tokio::test]
async fn masked_words_are_stored_sent_and_shown_masked_and_not_searchable() {
    let (app, t, ch) = room().await;
    let mut owner = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let masked = app
        .say(
            &app.a,
            &t[1],
            &ch,
            "What the HECK, an épée? D4rn. Heckle on.",
        )
        .await;
    assert_eq!(masked["text"], "What the ****, an ****? ****. Heckle on.");
    let event = owner.expect("message.new").await;
    assert_eq!(
        event["message"]["text"],
        "What the ****, an ****? ****. Heckle on."
    );
    let socket = bob
        .request(json!({"action": "message.send", "channel_id": ch, "text": "oh heck"}))
        .await;
    assert_eq!(socket["ok"], true, "{socket}");
    assert_eq!(socket["result"]["message"]["text"], "oh ****", "{socket}");
    // Search does not find what was masked.
    let found = app.get(&app.a, &t[0], "/search?query=heck").await;
    let texts: Vec<&str> = found.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["What the ****, an ****? ****. Heckle on."]);
}

#[tokio::test]
async fn flagged_text_is_sent_as_written_and_reported_to_the_moderators() {
    let (app, t, ch) = room().await;
    let mut owner = app.ws(&app.a, &t[0]).await;
    let flagged = app.say(&app.a, &t[1], &ch, "call me at 555-1234").await;
    assert_eq!(flagged["text"], "call me at 555-1234");
    let told = owner.expect("message.flagged").await;
    assert_eq!(told["flag"]["message_id"], flagged["id"]);
    assert!(told["flag"]["reporter_id"].is_null(), "{told}");
    let queue = app
        .get(&app.a, &t[0], &format!("/moderation/flags?channel_id={ch}"))
        .await;
    let reports = queue.assert_status(200)["flags"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["reason"], "blocklist");
    assert_eq!(reports[0]["note"], "contact");
    assert_eq!(reports[0]["user_id"], "bob");
    assert!(reports[0]["reporter_id"].is_null());
}

#[tokio::test]
async fn edits_are_screened_like_sends() {
    let (app, t, ch) = room().await;
    let flagged = app.say(&app.a, &t[1], &ch, "call me at 555-1234").await;
    let id = flagged["id"].as_str().unwrap();
    app.patch(
        &app.a,
        &t[1],
        &format!("/messages/{id}"),
        json!({"text": "now buy cheap pills"}),
    )
    .await
    .assert_error(403, "message_rejected");
    let unchanged = app.get(&app.a, &t[0], &format!("/messages/{id}")).await;
    assert_eq!(
        unchanged.assert_status(200)["message"]["text"],
        "call me at 555-1234"
    );
    let edited = app
        .patch(
            &app.a,
            &t[1],
            &format!("/messages/{id}"),
            json!({"text": "heck, 555-9876 then"}),
        )
        .await;
    assert_eq!(
        edited.assert_status(200)["message"]["text"],
        "****, 555-9876 then"
    );
    let again = app
        .get(&app.a, &app.a.server, "/moderation/flags?status=open")
        .await;
    assert_eq!(
        again.assert_status(200)["flags"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn the_lists_apply_to_their_app_only_and_stop_when_unset() {
    let (app, t, ch) = room().await;
    let b = app.create_users(&app.b, &["bea", "ben"]).await;
    let other = app.group(&app.b, &b[0], &["ben"]).await;
    let plain = app.say(&app.b, &b[1], &other, "cheap pills, heck").await;
    assert_eq!(plain["text"], "cheap pills, heck");

    // Unset, the lists stop applying (at once in the process that changed
    // them; in another warm process within CHAT_APP_CACHE_SECONDS).
    let unset = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"unset": ["blocklists"]}),
        )
        .await;
    assert_eq!(
        unset.assert_status(200)["app"]["settings"]["blocklists"],
        json!([])
    );
    if app.stack.functions.is_none() {
        let free = app.say(&app.a, &t[1], &ch, "heck").await;
        assert_eq!(free["text"], "heck");
    }
}

#[tokio::test]
async fn bad_blocklists_are_refused_and_only_the_server_sets_them() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    for bad in [
        json!([{"name": "Bad Name", "action": "block", "words": ["x"]}]),
        json!([{"name": "empty", "action": "block"}]),
        json!([{"name": "blank", "action": "mask", "words": [" "]}]),
        json!([{"name": "regex", "action": "flag", "patterns": ["(unclosed"]}]),
        json!([{"name": "huge", "action": "flag", "patterns": ["\\w{1000}{1000}"]}]),
        json!([{"name": "verb", "action": "delete", "words": ["x"]}]),
        json!([{"name": "twice", "action": "block", "words": ["x"]}, {"name": "twice", "action": "mask", "words": ["y"]}]),
        json!([{"name": "extra", "action": "block", "words": ["x"], "colour": "red"}]),
    ] {
        app.patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({"set": {"blocklists": bad}}),
        )
        .await
        .assert_error(400, "validation_error");
    }
    let too_many: Vec<String> = (0..=chat_shared::blocklists::MAX_WORDS)
        .map(|i| format!("w{i}"))
        .collect();
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({"set": {"blocklists": [{"name": "big", "action": "mask", "words": too_many}]}}),
    )
    .await
    .assert_error(400, "validation_error");
    app.patch(
        &app.a,
        &t[0],
        "/app",
        json!({"set": {"blocklists": lists()}}),
    )
    .await
    .assert_error(403, "forbidden");
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    assert_eq!(
        shown.assert_status(200)["app"]["settings"]["blocklists"],
        json!([])
    );
}
