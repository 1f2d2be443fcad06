//! Reactions: add (idempotent), remove, list, counts, own reactions, rules.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn reactions_count_per_type_and_are_idempotent() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let id = app.group(&app.a, &t[0], &["bob", "carol"]).await;
    let m = app.say(&app.a, &t[0], &id, "react to me").await;
    let r = format!("/messages/{}/reactions", m["id"].as_str().unwrap());

    let first = app.post(&app.a, &t[1], &r, json!({ "type": "👍" })).await;
    assert_eq!(
        first.assert_status(201)["message"]["reaction_counts"]["👍"],
        1
    );
    assert_eq!(first.body["message"]["own_reactions"], json!(["👍"]));
    let again = app.post(&app.a, &t[1], &r, json!({ "type": "👍" })).await;
    assert_eq!(
        again.assert_status(200)["message"]["reaction_counts"]["👍"],
        1
    );
    app.post(&app.a, &t[2], &r, json!({ "type": "👍", "score": 3 }))
        .await
        .assert_status(201);
    app.post(&app.a, &t[2], &r, json!({ "type": "love" }))
        .await
        .assert_status(201);
    // Concurrent adds of different users stay exact.
    let adds = ["alice"]
        .iter()
        .map(|_| app.post(&app.a, &t[0], &r, json!({ "type": "love" })));
    futures::future::join_all(adds).await;

    let history = app
        .get(&app.a, &t[2], &format!("/channels/{id}/messages"))
        .await;
    let msg = history.assert_status(200)["messages"][0].clone();
    assert_eq!(msg["reaction_counts"], json!({ "👍": 2, "love": 2 }));
    let mut own: Vec<String> = serde_json::from_value(msg["own_reactions"].clone()).unwrap();
    own.sort();
    assert_eq!(own, ["love", "👍"]);

    let page = app.get(&app.a, &t[0], &format!("{r}?limit=2")).await;
    assert_eq!(
        page.assert_status(200)["reactions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let next = page.body["next"].as_str().unwrap().to_string();
    let rest = app
        .get(&app.a, &t[0], &format!("{r}?limit=2&next={next}"))
        .await;
    assert_eq!(
        rest.assert_status(200)["reactions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let removed = app
        .delete(&app.a, &t[1], &format!("{r}/%F0%9F%91%8D"))
        .await;
    assert_eq!(
        removed.assert_status(200)["message"]["reaction_counts"]["👍"],
        1
    );
    app.delete(&app.a, &t[1], &format!("{r}/%F0%9F%91%8D"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn reactions_are_refused_where_they_do_not_belong() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let id = app.group(&app.a, &t[0], &["bob"]).await;
    let m = app.say(&app.a, &t[0], &id, "x").await;
    let r = format!("/messages/{}/reactions", m["id"].as_str().unwrap());
    for bad in [
        json!({ "type": "" }),
        json!({ "type": "a b" }),
        json!({ "type": "a#b" }),
        json!({ "type": "x".repeat(33) }),
        json!({ "type": "ok", "score": 0 }),
        json!({}),
    ] {
        app.post(&app.a, &t[1], &r, bad)
            .await
            .assert_error(400, "validation_error");
    }
    app.post(&app.a, &t[2], &r, json!({ "type": "like" }))
        .await
        .assert_error(403, "forbidden");
    app.post(&app.a, &t[0], &format!("/channels/{id}/freeze"), json!({}))
        .await
        .assert_status(200);
    app.post(&app.a, &t[1], &r, json!({ "type": "like" }))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/unfreeze"),
        json!({}),
    )
    .await
    .assert_status(200);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{id}/bans"),
        json!({ "user_id": "bob" }),
    )
    .await
    .assert_status(201);
    app.post(&app.a, &t[1], &r, json!({ "type": "like" }))
        .await
        .assert_error(403, "forbidden");
    let off = app
        .create_channel(
            &app.a,
            &t[0],
            json!({ "type": "group", "settings": { "reactions": false } }),
        )
        .await;
    let m2 = app.say(&app.a, &t[0], &off, "no reactions here").await;
    app.post(
        &app.a,
        &t[0],
        &format!("/messages/{}/reactions", m2["id"].as_str().unwrap()),
        json!({ "type": "like" }),
    )
    .await
    .assert_error(403, "forbidden");
    let after = app
        .get(
            &app.a,
            &t[0],
            &format!("/messages/{}", m["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        after.assert_status(200)["message"]["reaction_counts"],
        json!({})
    );
}
