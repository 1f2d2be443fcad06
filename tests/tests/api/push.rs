//! Pushes to members who are not connected, through the local FCM and APNs
//! emulators (real protocols: OAuth2 JWT-bearer and FCM v1; HTTP/2 with an
//! ES256 provider token), which record what they accept. Pushes go out from
//! the notify function, outside the send.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

/// App A pushes through both providers with the development keys.
async fn push_app() -> TestApp {
    let app = TestApp::spawn().await;
    let set = json!({
        "firebase": chat_local::push::dev_firebase(),
        "apn": chat_local::push::dev_apn(),
        "push_title": "{sender} in {channel}",
    });
    let shown = app
        .patch(&app.a, &app.a.server, "/app", json!({ "set": set }))
        .await;
    assert_eq!(
        shown.assert_status(200)["app"]["push"],
        json!({"firebase": true, "apn": true})
    );
    app
}

async fn device(app: &TestApp, t: &Tenant, token: &str, id: &str, provider: &str) {
    app.post(
        t,
        token,
        "/devices",
        json!({ "id": id, "push_provider": provider }),
    )
    .await
    .assert_status(201);
}

/// The pushes the emulators accepted for this device token.
fn pushes_to(app: &TestApp, device: &str) -> Vec<chat_local::push::Recorded> {
    app.stack
        .pushes
        .list()
        .into_iter()
        .filter(|p| p.device_token == device)
        .collect()
}

/// Waits until `device` has `n` pushes.
async fn wait_for(app: &TestApp, device: &str, n: usize) -> Vec<chat_local::push::Recorded> {
    for _ in 0..200 {
        let got = pushes_to(app, device);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{device} got {:?}; all pushes: {:?}",
        pushes_to(app, device),
        app.stack.pushes.list()
    );
}

/// Time for anything else in flight to arrive (asserting an absence).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn named_group(app: &TestApp, owner: &str, members: &[&str]) -> String {
    app.create_channel(
        &app.a,
        owner,
        json!({ "type": "group", "name": "Crew", "members": members }),
    )
    .await
}

#[tokio::test]
async fn offline_members_get_a_push_on_each_device_and_nobody_else_does() {
    let app = push_app().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = named_group(&app, &t[0], &["bob", "carol", "dave"]).await;
    device(&app, &app.a, &t[1], "fcm-bob", "firebase").await;
    device(&app, &app.a, &t[1], "apns-bob", "apn").await;
    device(&app, &app.a, &t[2], "fcm-carol", "firebase").await;
    device(&app, &app.a, &t[0], "fcm-alice", "firebase").await;
    // Carol is connected: she hears it on her socket instead.
    let mut carol = app.ws(&app.a, &t[2]).await;

    let sent = app.say(&app.a, &t[0], &ch, "hi crew").await;
    let fcm = wait_for(&app, "fcm-bob", 1).await;
    assert_eq!(fcm[0].provider, "firebase");
    assert_eq!(fcm[0].title.as_deref(), Some("alice in Crew"));
    assert_eq!(fcm[0].body.as_deref(), Some("hi crew"));
    assert_eq!(fcm[0].badge, Some(1), "the badge is bob's total unread");
    assert_eq!(fcm[0].data["channel_id"], ch.as_str());
    assert_eq!(fcm[0].data["message_id"], sent["id"]);
    assert_eq!(fcm[0].data["type"], "message.new");
    let apns = wait_for(&app, "apns-bob", 1).await;
    assert_eq!(apns[0].provider, "apn");
    assert_eq!(apns[0].body.as_deref(), Some("hi crew"));
    assert_eq!(apns[0].badge, Some(1));
    assert_eq!(apns[0].data["message_id"], sent["id"]);
    carol.expect("message.new").await;

    // A second message: the badge counts both.
    app.say(&app.a, &t[0], &ch, "still there?").await;
    assert_eq!(wait_for(&app, "fcm-bob", 2).await[1].badge, Some(2));
    settle().await;
    assert!(pushes_to(&app, "fcm-carol").is_empty(), "carol is online");
    assert!(pushes_to(&app, "fcm-alice").is_empty(), "never the sender");
    // Once carol disconnects, she gets the next one.
    drop(carol);
    let mut offline = false;
    for _ in 0..100 {
        let user = app.get(&app.a, &app.a.server, "/users/carol").await;
        if user.assert_status(200)["user"]["online"] == false {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(offline);
    app.say(&app.a, &t[0], &ch, "carol?").await;
    assert_eq!(
        wait_for(&app, "fcm-carol", 1).await[0].body.as_deref(),
        Some("carol?")
    );
}

#[tokio::test]
async fn mute_silent_preferences_and_mentions_decide_who_is_pushed() {
    let app = push_app().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = named_group(&app, &t[0], &["bob", "carol", "dave"]).await;
    for (i, user) in ["bob", "carol", "dave"].iter().enumerate() {
        device(&app, &app.a, &t[i + 1], &format!("fcm-{user}"), "firebase").await;
    }
    // Bob mutes the channel; carol wants mentions only (set by herself);
    // dave wants nothing (set by the app's backend).
    app.post(&app.a, &t[1], &format!("/channels/{ch}/mute"), json!({}))
        .await
        .assert_status(200);
    let patched = app
        .patch(
            &app.a,
            &t[2],
            "/users/carol",
            json!({"set": {"push_preference": "mentions"}}),
        )
        .await;
    assert_eq!(
        patched.assert_status(200)["user"]["push_preference"],
        "mentions"
    );
    // Her own setting: other users do not see it.
    let seen_by_bob = app.get(&app.a, &t[1], "/users/carol").await;
    assert!(seen_by_bob.assert_status(200)["user"]
        .get("push_preference")
        .is_none());
    let listed = app.get(&app.a, &t[1], "/users?ids=carol,bob").await;
    let listed = listed.assert_status(200)["users"].clone();
    assert!(listed[0].get("push_preference").is_none(), "{listed}");
    assert_eq!(listed[1]["push_preference"], "all", "bob sees his own");
    app.patch(
        &app.a,
        &app.a.server,
        "/users/dave",
        json!({"set": {"push_preference": "off"}}),
    )
    .await
    .assert_status(200);
    app.patch(
        &app.a,
        &t[1],
        "/users/bob",
        json!({"set": {"push_preference": "sometimes"}}),
    )
    .await
    .assert_error(400, "validation_error");

    // Silent: nobody.
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "shh", "silent": true}),
    )
    .await
    .assert_status(201);
    // Plain: nobody either (muted, mentions only, off).
    app.say(&app.a, &t[0], &ch, "plain").await;
    // Mentioning carol and dave: carol only (dave's pushes are off).
    app.post(
        &app.a,
        &t[0],
        "/messages",
        json!({"channel_id": ch, "text": "@carol @dave look", "mentions": ["carol", "dave"]}),
    )
    .await
    .assert_status(201);
    let carol = wait_for(&app, "fcm-carol", 1).await;
    assert_eq!(carol[0].body.as_deref(), Some("@carol @dave look"));
    settle().await;
    assert_eq!(pushes_to(&app, "fcm-carol").len(), 1);
    assert!(
        pushes_to(&app, "fcm-bob").is_empty(),
        "bob muted the channel"
    );
    assert!(
        pushes_to(&app, "fcm-dave").is_empty(),
        "dave's pushes are off"
    );
    // Upserting a user keeps a preference the upsert does not mention.
    app.upsert(&app.a, json!([{"id": "dave", "display_name": "Dave"}]))
        .await
        .assert_status(200);
    let dave = app.get(&app.a, &app.a.server, "/users/dave").await;
    assert_eq!(dave.assert_status(200)["user"]["push_preference"], "off");
}

#[tokio::test]
async fn shadow_bans_and_threads_limit_who_is_pushed() {
    let app = push_app().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    let ch = named_group(&app, &t[0], &["bob", "carol", "dave"]).await;
    for (i, user) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        device(&app, &app.a, &t[i], &format!("fcm-{user}"), "firebase").await;
    }
    // A thread bob starts and carol replies to.
    let parent = app.say(&app.a, &t[1], &ch, "thread start").await;
    wait_for(&app, "fcm-dave", 1).await;
    let reply = |token: String, text: &str| {
        let body = json!({"channel_id": ch, "text": text, "parent_id": parent["id"]});
        let app = &app;
        async move {
            app.post(&app.a, &token, "/messages", body)
                .await
                .assert_status(201);
        }
    };
    reply(t[2].clone(), "carol replies").await;
    // Bob started it: he hears of carol's reply.
    let bob = wait_for(&app, "fcm-bob", 1).await;
    assert_eq!(bob[0].body.as_deref(), Some("carol replies"));
    settle().await;
    // Alice and dave took no part: nothing beyond the thread's start.
    assert_eq!(pushes_to(&app, "fcm-alice").len(), 1);
    assert_eq!(pushes_to(&app, "fcm-dave").len(), 1);
    // A mention in a reply reaches dave.
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": ch, "text": "dave, see this", "parent_id": parent["id"], "mentions": ["dave"]}),
    )
    .await
    .assert_status(201);
    wait_for(&app, "fcm-dave", 2).await;
    // Carol replied, so she hears of bob's reply too (her first push was
    // the thread's start).
    assert_eq!(
        wait_for(&app, "fcm-carol", 2).await[1].body.as_deref(),
        Some("dave, see this")
    );

    // A shadow-banned member's messages push to nobody.
    app.shadow_ban(&app.a, &t[0], &ch, "dave").await;
    let before: usize = ["alice", "bob", "carol"]
        .iter()
        .map(|u| pushes_to(&app, &format!("fcm-{u}")).len())
        .sum();
    app.say(&app.a, &t[3], &ch, "nobody hears me").await;
    settle().await;
    let after: usize = ["alice", "bob", "carol"]
        .iter()
        .map(|u| pushes_to(&app, &format!("fcm-{u}")).len())
        .sum();
    assert_eq!(before, after);
}

/// A dead token deletes its device; a push the provider throttles is tried
/// again through the scheduler.
#[tokio::test]
async fn dead_tokens_delete_their_devices_and_throttling_is_retried() {
    let app = push_app().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = named_group(&app, &t[0], &["bob"]).await;
    for (id, provider) in [
        ("dead-fcm", "firebase"),
        ("dead-apns", "apn"),
        ("bad-apns", "apn"),
        ("throttled-fcm", "firebase"),
        ("throttled-apns", "apn"),
        ("live-fcm", "firebase"),
    ] {
        device(&app, &app.a, &t[1], id, provider).await;
    }
    app.say(&app.a, &t[0], &ch, "who is still there?").await;
    wait_for(&app, "live-fcm", 1).await;
    let live = std::time::Instant::now();
    // Throttled once, then accepted on the scheduler's second try, due 1 s
    // after the first (no function waits for it): one push each.
    assert_eq!(wait_for(&app, "throttled-fcm", 1).await.len(), 1);
    assert_eq!(wait_for(&app, "throttled-apns", 1).await.len(), 1);
    let retried = live.elapsed();
    assert!(
        retried >= Duration::from_millis(400) && retried <= Duration::from_secs(2),
        "the throttled pushes came {retried:?} after the others; due 1 s after"
    );
    let mut ids = Vec::new();
    for _ in 0..100 {
        let devices = app.get(&app.a, &t[1], "/devices").await;
        ids = devices.assert_status(200)["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>();
        ids.sort();
        if ids.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ids, ["live-fcm", "throttled-apns", "throttled-fcm"]);
    assert!(pushes_to(&app, "dead-fcm").is_empty());
}

#[tokio::test]
async fn push_credentials_are_write_only_and_checked() {
    let app = push_app().await;
    let shown = app.get(&app.a, &app.a.server, "/app").await;
    let body = shown.assert_status(200).to_string();
    assert!(!body.contains("PRIVATE KEY"), "keys are never shown");
    assert!(!body.contains("DEVKEY0001"));
    for bad in [
        json!({"firebase": {"project_id": "p", "client_email": "a@b.c", "private_key": "not a key"}}),
        json!({"apn": {"team_id": "DEVTEAM001", "key_id": "DEVKEY0001", "private_key": "nope", "bundle_id": "x"}}),
        json!({"apn": {"team_id": "short", "key_id": "DEVKEY0001", "private_key": "nope", "bundle_id": "x"}}),
    ] {
        app.patch(&app.a, &app.a.server, "/app", json!({ "set": bad }))
            .await
            .assert_error(400, "validation_error");
    }
    // An RSA key is not an APNs (P-256) key.
    let mut wrong: Value = serde_json::to_value(chat_local::push::dev_apn()).unwrap();
    wrong["private_key"] = json!(chat_local::push::dev_firebase().private_key);
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": {"apn": wrong} }),
    )
    .await
    .assert_error(400, "validation_error");
    let unset = app
        .patch(
            &app.a,
            &app.a.server,
            "/app",
            json!({ "unset": ["firebase"] }),
        )
        .await;
    assert_eq!(
        unset.assert_status(200)["app"]["push"],
        json!({"firebase": false, "apn": true})
    );
}

#[tokio::test]
async fn a_user_who_blocks_the_sender_is_not_pushed_and_their_badge_leaves_them_out() {
    let app = push_app().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let ch = named_group(&app, &t[0], &["bob", "carol"]).await;
    for (i, user) in ["alice", "bob", "carol"].iter().enumerate() {
        device(&app, &app.a, &t[i], &format!("fcm-{user}"), "firebase").await;
    }
    app.post(&app.a, &t[0], "/blocks", json!({"user_id": "bob"}))
        .await
        .assert_status(201);
    app.say(&app.a, &t[1], &ch, "from bob").await;
    wait_for(&app, "fcm-carol", 1).await;
    settle().await;
    assert!(pushes_to(&app, "fcm-alice").is_empty());
    // Carol's next message reaches alice, badged with what she can see.
    app.say(&app.a, &t[2], &ch, "from carol").await;
    let alice = wait_for(&app, "fcm-alice", 1).await;
    assert_eq!(alice[0].body.as_deref(), Some("from carol"));
    assert_eq!(alice[0].badge, Some(1), "{alice:?}");
}

/// The push job of a message, if its send wrote one (jobs stay in the
/// outbox for an hour after they ran).
async fn push_job(app: &TestApp, channel: &str, message: &Value) -> Option<chat_shared::push::Job> {
    let key = chat_shared::keys::push(
        &app.a.app.app_id,
        &chat_shared::ids::ChannelId::parse(channel).unwrap(),
        &chat_shared::ids::MessageId::parse(message["id"].as_str().unwrap()).unwrap(),
    );
    app.stack.state.db.outbox().get(&key).await.unwrap()
}

#[tokio::test]
async fn pushes_follow_the_members_who_have_a_device() {
    let app = push_app().await;
    let t = app
        .create_users(&app.a, &["alice", "bob", "carol", "dave"])
        .await;
    // Dave has a phone before he is a member; nobody in the channel has one.
    device(&app, &app.a, &t[3], "fcm-dave", "firebase").await;
    let ch = named_group(&app, &t[0], &["bob", "carol"]).await;
    let quiet = app.say(&app.a, &t[0], &ch, "nobody has a phone").await;
    assert!(
        push_job(&app, &ch, &quiet).await.is_none(),
        "no push job where no member has a device"
    );

    // Bob registers a phone: the next message is pushed to him.
    device(&app, &app.a, &t[1], "fcm-bob", "firebase").await;
    let heard = app.say(&app.a, &t[0], &ch, "bob has a phone").await;
    assert!(push_job(&app, &ch, &heard).await.is_some());
    assert_eq!(
        wait_for(&app, "fcm-bob", 1).await[0].body.as_deref(),
        Some("bob has a phone")
    );

    // Dave joins with the phone he had: pushed too.
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/members"),
        json!({ "user_ids": ["dave"] }),
    )
    .await
    .assert_status(200);
    app.say(&app.a, &t[0], &ch, "dave is here").await;
    assert_eq!(
        wait_for(&app, "fcm-dave", 1).await[0].body.as_deref(),
        Some("dave is here")
    );
    wait_for(&app, "fcm-bob", 2).await;

    // Bob's phone goes and Dave leaves: no job again, nobody pushed.
    app.delete(&app.a, &t[1], "/devices/fcm-bob")
        .await
        .assert_status(204);
    app.post(&app.a, &t[3], &format!("/channels/{ch}/leave"), json!({}))
        .await
        .assert_status(204);
    let quiet = app.say(&app.a, &t[0], &ch, "nobody again").await;
    assert!(push_job(&app, &ch, &quiet).await.is_none());
    settle().await;
    assert_eq!(pushes_to(&app, "fcm-bob").len(), 2);
    assert_eq!(pushes_to(&app, "fcm-dave").len(), 1);
}

/// Hiding a channel does not silence it: a newer message brings it back to
/// the member's list, and its push goes out as for any channel.
#[tokio::test]
async fn a_hidden_channel_still_pushes_its_new_messages() {
    let app = push_app().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    device(&app, &app.a, &t[1], "fcm-bob", "firebase").await;
    let ch = named_group(&app, &t[0], &["bob"]).await;
    app.post(&app.a, &t[1], &format!("/channels/{ch}/hide"), json!({}))
        .await
        .assert_status(200);
    app.say(&app.a, &t[0], &ch, "are you there?").await;
    let pushed = wait_for(&app, "fcm-bob", 1).await;
    assert_eq!(pushed[0].body.as_deref(), Some("are you there?"));
}

/// Bob's total unread, as `GET /unread` shows it.
async fn unread_total(app: &TestApp, token: &str) -> u64 {
    let unread = app.get(&app.a, token, "/unread").await;
    unread.assert_status(200)["total_unread_count"]
        .as_u64()
        .unwrap()
}

/// `who` says `text` in `channel`; the badge of the push that bob's phone
/// gets for it (his `n`th), checked equal to his `GET /unread` total and to
/// `expected`.
async fn badge_after(
    app: &TestApp,
    bob: &str,
    (who, channel, text): (&str, &str, &str),
    n: usize,
    expected: u64,
) {
    app.say(&app.a, who, channel, text).await;
    let pushes = wait_for(app, "fcm-bob", n).await;
    let pushed = &pushes[n - 1];
    assert_eq!(pushed.body.as_deref(), Some(text), "{pushes:?}");
    assert_eq!(
        (pushed.badge, unread_total(app, bob).await),
        (Some(expected), expected),
        "after {text:?}: the badge and GET /unread"
    );
}

#[tokio::test]
async fn a_pushs_badge_is_the_total_of_get_unread_through_reads_deletes_truncation_leaving_blocks_and_shadow_bans(
) {
    let app = push_app().await;
    let t = app.create_users(&app.a, &["alice", "bob", "carol"]).await;
    let (alice, bob, carol) = (t[0].as_str(), t[1].as_str(), t[2].as_str());
    let one = named_group(&app, alice, &["bob", "carol"]).await;
    let two = named_group(&app, alice, &["bob"]).await;
    let three = named_group(&app, carol, &["bob"]).await;
    // Unread before his first device counts in its first badge.
    app.say(&app.a, alice, &one, "before the phone 1").await;
    app.say(&app.a, carol, &three, "before the phone 2").await;
    device(&app, &app.a, bob, "fcm-bob", "firebase").await;
    badge_after(&app, bob, (alice, &two, "first push"), 1, 3).await;
    badge_after(&app, bob, (alice, &one, "across channels"), 2, 4).await;

    // Reads: channel one read; a silent message counts, unpushed.
    app.post(&app.a, bob, &format!("/channels/{one}/read"), json!({}))
        .await
        .assert_status(200);
    app.post(
        &app.a,
        alice,
        "/messages",
        json!({"channel_id": two, "text": "shh", "silent": true}),
    )
    .await
    .assert_status(201);
    badge_after(&app, bob, (alice, &two, "after a read"), 3, 4).await;

    // Bob's own send reads channel two up to it.
    app.say(&app.a, bob, &two, "my reply").await;
    badge_after(&app, bob, (alice, &one, "after his send"), 4, 2).await;

    // Deletes, soft and hard.
    let doomed = app.say(&app.a, alice, &one, "soon soft-deleted").await;
    let hard = app.say(&app.a, alice, &one, "soon hard-deleted").await;
    wait_for(&app, "fcm-bob", 6).await;
    let id = doomed["id"].as_str().unwrap();
    app.delete(&app.a, alice, &format!("/messages/{id}"))
        .await
        .assert_status(200);
    let id = hard["id"].as_str().unwrap();
    app.delete(&app.a, alice, &format!("/messages/{id}?hard=true"))
        .await
        .assert_status(204);
    badge_after(&app, bob, (alice, &two, "after deletes"), 7, 3).await;

    // Truncation of channel one hides its unread.
    app.post(
        &app.a,
        alice,
        &format!("/channels/{one}/truncate"),
        json!({}),
    )
    .await
    .assert_status(200);
    badge_after(&app, bob, (alice, &two, "after truncation"), 8, 3).await;

    // Leaving channel three takes its unread with it.
    app.post(&app.a, bob, &format!("/channels/{three}/leave"), json!({}))
        .await
        .assert_status(204);
    badge_after(&app, bob, (alice, &two, "after leaving"), 9, 3).await;

    // Blocking carol leaves her messages out; unblocking brings them back.
    app.say(&app.a, carol, &one, "from carol").await;
    wait_for(&app, "fcm-bob", 10).await;
    app.post(&app.a, bob, "/blocks", json!({"user_id": "carol"}))
        .await
        .assert_status(201);
    badge_after(&app, bob, (alice, &one, "after a block"), 11, 4).await;
    app.delete(&app.a, bob, "/blocks/carol")
        .await
        .assert_status(204);
    badge_after(&app, bob, (alice, &one, "after unblocking"), 12, 6).await;

    // A shadow-banned member's messages count for nobody else.
    app.post(
        &app.a,
        alice,
        &format!("/channels/{one}/bans"),
        json!({"user_id": "carol", "shadow": true}),
    )
    .await
    .assert_status(201);
    app.say(&app.a, carol, &one, "shadowed").await;
    badge_after(&app, bob, (alice, &one, "after a shadow ban"), 13, 7).await;
}
