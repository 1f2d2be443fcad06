//! History pages, threads, one message, pins, truncation.

use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn seed(app: &TestApp, token: &str, channel: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.say(&app.a, token, channel, &format!("m{i:02}")).await);
    }
    out
}

#[tokio::test]
async fn history_pages_newest_last_with_before_after_and_around() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let sent = seed(&app, &t[0], &id, 12).await;
    let history = |q: String| {
        let app = &app;
        let token = t[1].clone();
        let path = format!("/channels/{id}/messages{q}");
        async move { app.get(&app.a, &token, &path).await }
    };
    let latest = history("?limit=5".into()).await;
    assert_eq!(
        TestApp::texts(latest.assert_status(200)),
        ["m07", "m08", "m09", "m10", "m11"]
    );
    let first_id = latest.body["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let older = history(format!("?limit=5&before={first_id}")).await;
    assert_eq!(
        TestApp::texts(older.assert_status(200)),
        ["m02", "m03", "m04", "m05", "m06"]
    );
    let oldest_id = older.body["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let oldest = history(format!("?limit=5&before={oldest_id}")).await;
    assert_eq!(TestApp::texts(oldest.assert_status(200)), ["m00", "m01"]);

    let after = history(format!(
        "?limit=3&after={}",
        sent[3]["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(
        TestApp::texts(after.assert_status(200)),
        ["m04", "m05", "m06"]
    );
    let around = history(format!(
        "?limit=5&around={}",
        sent[6]["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(
        TestApp::texts(around.assert_status(200)),
        ["m04", "m05", "m06", "m07", "m08"]
    );
    let default = history(String::new()).await;
    assert_eq!(
        default.assert_status(200)["messages"]
            .as_array()
            .unwrap()
            .len(),
        12
    );

    history("?limit=0".into())
        .await
        .assert_error(400, "validation_error");
    history("?limit=101".into())
        .await
        .assert_error(400, "validation_error");
    history("?before=nope".into())
        .await
        .assert_error(400, "validation_error");
    let both = format!("?before={first_id}&after={first_id}");
    history(both).await.assert_error(400, "validation_error");
}

#[tokio::test]
async fn history_respects_truncation_and_read_permission() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    seed(&app, &t[0], &id, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.say(&app.a, &t[1], &id, "after truncate").await;
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{id}/messages"))
        .await;
    assert_eq!(
        TestApp::texts(history.assert_status(200)),
        ["after truncate"]
    );

    app.get(&app.a, &t[2], &format!("/channels/{id}/messages"))
        .await
        .assert_error(403, "forbidden");
    app.get(&app.a, &t[2], &format!("/channels/{id}/pinned"))
        .await
        .assert_error(403, "forbidden");
    let public = app
        .create_channel(&app.a, &t[0], json!({ "type": "public" }))
        .await;
    app.say(&app.a, &t[0], &public, "open").await;
    let seen = app
        .get(&app.a, &t[2], &format!("/channels/{public}/messages"))
        .await;
    assert_eq!(TestApp::texts(seen.assert_status(200)), ["open"]);
}

#[tokio::test]
async fn threads_quotes_and_enrichment() {
    let app = TestApp::spawn().await;
    app.upsert(&app.a, json!([{ "id": "alice", "display_name": "Alice", "avatar_url": "https://img.example.com/a.png" }, { "id": "bob" }]))
        .await
        .assert_status(200);
    let (alice, bob) = (app.a.user_token("alice"), app.a.user_token("bob"));
    let id = app.group(&app.a, &alice, &["bob"]).await;
    let parent = app.say(&app.a, &alice, &id, "parent").await;
    let pid = parent["id"].as_str().unwrap();
    for i in 0..3 {
        app.post(
            &app.a,
            &bob,
            "/messages",
            json!({ "channel_id": id, "text": format!("reply {i}"), "parent_id": pid }),
        )
        .await
        .assert_status(201);
    }
    let shown = app
        .post(&app.a, &bob, "/messages", json!({ "channel_id": id, "text": "also in channel", "parent_id": pid, "show_in_channel": true }))
        .await;
    shown.assert_status(201);
    // Replies to replies are refused.
    let reply_id = shown.body["message"]["id"].as_str().unwrap();
    app.post(
        &app.a,
        &bob,
        "/messages",
        json!({ "channel_id": id, "text": "nested", "parent_id": reply_id }),
    )
    .await
    .assert_error(400, "validation_error");
    let quote = app
        .post(
            &app.a,
            &bob,
            "/messages",
            json!({ "channel_id": id, "text": "quoting", "quoted_message_id": pid }),
        )
        .await;
    quote.assert_status(201);

    let history = app
        .get(&app.a, &bob, &format!("/channels/{id}/messages"))
        .await;
    let body = history.assert_status(200).clone();
    assert_eq!(
        TestApp::texts(&body),
        ["parent", "also in channel", "quoting"]
    );
    let first = &body["messages"][0];
    assert_eq!(first["reply_count"], 4);
    assert_eq!(first["user"]["display_name"], "Alice");
    assert_eq!(first["user"]["avatar_url"], "https://img.example.com/a.png");
    assert_eq!(body["messages"][2]["quoted_message"]["text"], "parent");
    assert_eq!(body["messages"][2]["quoted_message"]["user_id"], "alice");

    let page1 = app
        .get(&app.a, &bob, &format!("/messages/{pid}/replies?limit=3"))
        .await;
    assert_eq!(
        TestApp::texts(page1.assert_status(200)),
        ["reply 0", "reply 1", "reply 2"]
    );
    let next = page1.body["next"].as_str().unwrap().to_string();
    let page2 = app
        .get(
            &app.a,
            &bob,
            &format!("/messages/{pid}/replies?limit=3&next={next}"),
        )
        .await;
    assert_eq!(
        TestApp::texts(page2.assert_status(200)),
        ["also in channel"]
    );

    let one = app.get(&app.a, &alice, &format!("/messages/{pid}")).await;
    assert_eq!(one.assert_status(200)["message"]["reply_count"], 4);
    app.get(&app.a, &alice, "/messages/unknown-id")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn pins_by_author_and_moderators_listed_in_order() {
    let app = TestApp::spawn().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "eve"])
        .await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let a = app.say(&app.a, &t[1], &id, "bob's").await;
    let b = app.say(&app.a, &t[2], &id, "carol's").await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    app.post(&app.a, &t[2], &format!("/messages/{aid}/pin"), json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[3], &format!("/messages/{aid}/pin"), json!({}))
        .await
        .assert_error(403, "forbidden");
    let pinned = app
        .post(&app.a, &t[1], &format!("/messages/{aid}/pin"), json!({}))
        .await;
    assert_eq!(pinned.assert_status(200)["message"]["pinned"], true);
    assert_eq!(pinned.body["message"]["pinned_by"], "bob");
    let pinned = app
        .post(&app.a, &t[0], &format!("/messages/{bid}/pin"), json!({}))
        .await;
    assert_eq!(pinned.assert_status(200)["message"]["pinned_by"], "alice");
    assert!(pinned.body["message"]["pinned_at"].is_string());

    let list = app
        .get(&app.a, &t[2], &format!("/channels/{id}/pinned"))
        .await;
    assert_eq!(
        TestApp::texts(list.assert_status(200)),
        ["bob's", "carol's"]
    );
    app.delete(&app.a, &t[2], &format!("/messages/{aid}/pin"))
        .await
        .assert_error(403, "forbidden");
    let unpinned = app
        .delete(&app.a, &t[0], &format!("/messages/{aid}/pin"))
        .await;
    assert_eq!(unpinned.assert_status(200)["message"]["pinned"], false);
    let list = app
        .get(&app.a, &t[2], &format!("/channels/{id}/pinned"))
        .await;
    assert_eq!(TestApp::texts(list.assert_status(200)), ["carol's"]);
}
