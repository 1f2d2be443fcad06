//! Drafts: per channel and per thread; listed; cleared by sending.

use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn drafts_per_channel_and_thread_cleared_by_sending() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let parent = app.say(&app.a, &t[0], &id, "parent").await;
    let d = format!("/channels/{id}/draft");

    app.get(&app.a, &t[1], &d)
        .await
        .assert_error(404, "not_found");
    let put = app
        .send(
            reqwest::Method::PUT,
            &d,
            Some(app.a.key()),
            Some(&t[1]),
            Some(json!({ "text": "half a thought" })),
        )
        .await;
    assert_eq!(put.assert_status(200)["draft"]["text"], "half a thought");
    let thread = app
        .send(
            reqwest::Method::PUT,
            &d,
            Some(app.a.key()),
            Some(&t[1]),
            Some(json!({ "text": "thread draft", "parent_id": parent["id"] })),
        )
        .await;
    thread.assert_status(200);
    let got = app.get(&app.a, &t[1], &d).await;
    assert_eq!(got.assert_status(200)["draft"]["text"], "half a thought");
    let got = app
        .get(
            &app.a,
            &t[1],
            &format!("{d}?parent_id={}", parent["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(got.assert_status(200)["draft"]["text"], "thread draft");
    let all = app.get(&app.a, &t[1], "/drafts").await;
    assert_eq!(
        all.assert_status(200)["drafts"].as_array().unwrap().len(),
        2
    );
    // Alice has none: drafts are per user.
    let alice = app.get(&app.a, &t[0], "/drafts").await;
    assert_eq!(alice.assert_status(200)["drafts"], json!([]));

    app.say(&app.a, &t[1], &id, "the whole thought").await;
    app.get(&app.a, &t[1], &d)
        .await
        .assert_error(404, "not_found");
    let all = app.get(&app.a, &t[1], "/drafts").await;
    assert_eq!(all.assert_status(200)["drafts"][0]["text"], "thread draft");
    app.delete(
        &app.a,
        &t[1],
        &format!("{d}?parent_id={}", parent["id"].as_str().unwrap()),
    )
    .await
    .assert_status(204);
    app.delete(&app.a, &t[1], &d)
        .await
        .assert_error(404, "not_found");

    let bad = app
        .send(
            reqwest::Method::PUT,
            &d,
            Some(app.a.key()),
            Some(&t[1]),
            Some(json!({ "text": "x".repeat(5001) })),
        )
        .await;
    bad.assert_error(400, "validation_error");
    let outsider = app
        .send(
            reqwest::Method::PUT,
            &d,
            Some(app.a.key()),
            Some(&t[2]),
            Some(json!({ "text": "hi" })),
        )
        .await;
    outsider.assert_error(403, "forbidden");
}

#[tokio::test]
async fn drafts_keep_their_mentions() {
    let app = crate::helpers::TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    app.put(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/draft"),
        serde_json::json!({"text": "@bob look", "mentions": ["bob"]}),
    )
    .await
    .assert_status(200);
    let draft = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/draft"))
        .await;
    assert_eq!(
        draft.assert_status(200)["draft"]["mentions"],
        serde_json::json!(["bob"])
    );
}

/// A send does not delete the channel draft (four items per send, not
/// five): the draft reads as gone because the member posted after it, and
/// a draft saved after the send is there again.
#[tokio::test]
async fn a_channel_draft_saved_after_a_send_is_kept() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let d = format!("/channels/{id}/draft");
    let save = |text: &'static str| {
        app.send(
            reqwest::Method::PUT,
            &d,
            Some(app.a.key()),
            Some(&t[1]),
            Some(json!({ "text": text })),
        )
    };
    save("first").await.assert_status(200);
    app.say(&app.a, &t[1], &id, "first").await;
    app.get(&app.a, &t[1], &d)
        .await
        .assert_error(404, "not_found");
    app.delete(&app.a, &t[1], &d)
        .await
        .assert_error(404, "not_found");
    save("second").await.assert_status(200);
    let got = app.get(&app.a, &t[1], &d).await;
    assert_eq!(got.assert_status(200)["draft"]["text"], "second");
    let all = app.get(&app.a, &t[1], "/drafts").await;
    assert_eq!(all.assert_status(200)["drafts"][0]["text"], "second");
    // A message from someone else does not touch bob's draft.
    app.say(&app.a, &t[0], &id, "hi bob").await;
    let got = app.get(&app.a, &t[1], &d).await;
    assert_eq!(got.assert_status(200)["draft"]["text"], "second");
}

/// An error's status, code and message, with `id` replaced, to compare
/// the answers for two ids.
fn error_with_id_hidden(resp: &crate::helpers::Resp, id: &str) -> (u16, Value, String) {
    (
        resp.status,
        resp.body["error"]["code"].clone(),
        resp.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .replace(id, "ID"),
    )
}

/// Neither a draft nor a flag tells whether an id one cannot read exists: a
/// pending invitee quoting a real message, and an outsider flagging one,
/// get exactly the answer an unknown id gets.
#[tokio::test]
async fn drafts_and_flags_are_no_existence_oracle() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let real = app.say(&app.a, &t[0], &id, "private words").await;
    let real = real["id"].as_str().unwrap();
    let unknown = "0".repeat(32);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/members"),
        json!({ "user_ids": ["bob"], "invite": true }),
    )
    .await
    .assert_status(200);
    let draft = |quoted: &str| {
        let quoted = quoted.to_string();
        let app = &app;
        let (token, path) = (t[1].clone(), format!("/channels/{id}/draft"));
        async move {
            let resp = app
                .send(
                    reqwest::Method::PUT,
                    &path,
                    Some(app.a.key()),
                    Some(&token),
                    Some(json!({ "text": "hm", "quoted_message_id": quoted })),
                )
                .await;
            error_with_id_hidden(&resp, &quoted)
        }
    };
    let (for_real, for_unknown) = (draft(real).await, draft(&unknown).await);
    assert_eq!(for_real, for_unknown);
    assert_eq!(for_real.0, 400, "{for_real:?}");

    let flag = |message: &str, token: &str| {
        let message = message.to_string();
        let app = &app;
        let token = token.to_string();
        async move {
            let resp = app
                .post(
                    &app.a,
                    &token,
                    "/moderation/flags",
                    json!({ "message_id": message, "reason": "spam" }),
                )
                .await;
            error_with_id_hidden(&resp, &message)
        }
    };
    // The pending invitee and an outsider.
    for token in [&t[1], &t[2]] {
        let (for_real, for_unknown) = (flag(real, token).await, flag(&unknown, token).await);
        assert_eq!(for_real, for_unknown);
        assert_eq!(for_real.0, 404, "{for_real:?}");
    }
}
