//! Reports and the moderation queue: members flag messages (once each),
//! anyone flags a user; the channel's owners and admins and the server list
//! and resolve them with one action; `message.flagged` reaches the
//! moderators but never the reported author.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp};

const QUIET: Duration = Duration::from_millis(300);

/// A group of an owner, bob and carol (eve is outside it) where bob said
/// something rude.
struct Scene {
    app: TestApp,
    /// owner, bob, carol, eve
    t: Vec<String>,
    ch: String,
    rude_id: String,
}

impl Scene {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let t = app
            .create_users(&app.a, &["owner", "bob", "carol", "eve"])
            .await;
        let ch = app.group(&app.a, &t[0], &["bob", "carol"]).await;
        let rude = app.say(&app.a, &t[1], &ch, "something rude").await;
        let rude_id = rude["id"].as_str().unwrap().to_string();
        Self {
            app,
            t,
            ch,
            rude_id,
        }
    }

    /// `reporter` flags `message_id`: the response.
    async fn flag(&self, reporter: usize, message_id: &str, reason: &str) -> Resp {
        self.app
            .post(
                &self.app.a,
                &self.t[reporter],
                "/moderation/flags",
                json!({"message_id": message_id, "reason": reason}),
            )
            .await
    }

    /// carol flags bob's message: the flag's id.
    async fn carol_flags(&self) -> String {
        let flagged = self.flag(2, &self.rude_id, "harassment").await;
        flagged.assert_status(201)["flag"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn resolve(&self, who: &str, flag_id: &str, action: &str) -> Resp {
        self.app
            .post(
                &self.app.a,
                who,
                &format!("/moderation/flags/{flag_id}/resolve"),
                json!({ "action": action }),
            )
            .await
    }

    async fn open_flags(&self, who: usize) -> Resp {
        let path = format!("/moderation/flags?channel_id={}&status=open", self.ch);
        self.app.get(&self.app.a, &self.t[who], &path).await
    }
}

#[tokio::test]
async fn a_flag_reaches_the_moderators_and_never_the_reported_author() {
    let s = Scene::new().await;
    let (app, t) = (&s.app, &s.t);
    let mut owner = app.ws(&app.a, &t[0]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let flagged = app
        .post(
            &app.a,
            &t[2],
            "/moderation/flags",
            json!({"message_id": s.rude_id, "reason": "harassment", "note": "see above"}),
        )
        .await;
    let flag = flagged.assert_status(201)["flag"].clone();
    assert_eq!(flag["user_id"], "bob");
    assert_eq!(flag["reporter_id"], "carol");
    assert_eq!(flag["channel_id"], s.ch.as_str());
    assert_eq!(flag["status"], "open");

    let event = owner.expect("message.flagged").await;
    assert_eq!(event["flag"]["message_id"], s.rude_id.as_str());
    assert_eq!(event["flag"]["reporter_id"], "carol");
    let seen_by_bob: Vec<Value> = bob.events(QUIET).await;
    assert!(
        seen_by_bob.iter().all(|e| e["type"] != "message.flagged"),
        "{seen_by_bob:?}"
    );
}

#[tokio::test]
async fn a_message_is_flagged_once_per_reporter_by_other_members_only() {
    let s = Scene::new().await;
    s.carol_flags().await;
    s.flag(2, &s.rude_id, "again")
        .await
        .assert_error(409, "conflict");
    // Never one's own message.
    s.flag(1, &s.rude_id, "me?")
        .await
        .assert_error(400, "validation_error");
    // Not from outside the channel.
    let outsider = s.flag(3, &s.rude_id, "nosy").await;
    assert!(matches!(outsider.status, 403 | 404), "{:?}", outsider.body);
    // Something must be named.
    s.app
        .post(
            &s.app.a,
            &s.t[2],
            "/moderation/flags",
            json!({"reason": "nothing named"}),
        )
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn only_the_channels_moderators_list_and_resolve_its_flags() {
    let s = Scene::new().await;
    let flag_id = s.carol_flags().await;
    s.open_flags(2).await.assert_error(403, "forbidden");
    // A user token lists one channel's flags at a time.
    s.app
        .get(&s.app.a, &s.t[0], "/moderation/flags")
        .await
        .assert_error(403, "forbidden");
    let listed = s.open_flags(0).await.assert_status(200)["flags"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], flag_id.as_str());
    s.resolve(&s.t[2], &flag_id, "dismiss")
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn resolving_with_delete_message_deletes_it_for_everyone_once() {
    let s = Scene::new().await;
    let mut bob = s.app.ws(&s.app.a, &s.t[1]).await;
    let flag_id = s.carol_flags().await;
    let resolved = s.resolve(&s.t[0], &flag_id, "delete_message").await;
    let resolved = resolved.assert_status(200)["flag"].clone();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["action"], "delete_message");
    assert_eq!(resolved["resolved_by"], "owner");
    let deleted = bob.expect("message.deleted").await;
    assert_eq!(deleted["message"]["id"], s.rude_id.as_str());
    let message = s
        .app
        .get(&s.app.a, &s.t[2], &format!("/messages/{}", s.rude_id))
        .await;
    assert_eq!(message.assert_status(200)["message"]["type"], "deleted");
    s.resolve(&s.t[0], &flag_id, "dismiss")
        .await
        .assert_error(409, "conflict");
    assert_eq!(s.open_flags(0).await.assert_status(200)["flags"], json!([]));
}

#[tokio::test]
async fn a_report_about_a_moderator_is_hidden_from_them_and_the_servers_to_resolve() {
    let s = Scene::new().await;
    let mut owner = s.app.ws(&s.app.a, &s.t[0]).await;
    let own = s.app.say(&s.app.a, &s.t[0], &s.ch, "owner speaking").await;
    let about_owner = s.flag(2, own["id"].as_str().unwrap(), "rude").await;
    let about_owner = about_owner.assert_status(201)["flag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.open_flags(0).await.assert_status(200)["flags"], json!([]));
    s.resolve(&s.t[0], &about_owner, "dismiss")
        .await
        .assert_error(403, "forbidden");
    let events = owner.events(QUIET).await;
    assert!(
        events.iter().all(|e| e["type"] != "message.flagged"),
        "{events:?}"
    );
    let server = s.app.a.server.clone();
    s.resolve(&server, &about_owner, "dismiss")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_report_resolved_with_a_ban_or_shadow_ban_bans_in_its_channel() {
    let s = Scene::new().await;
    let (app, t, ch) = (&s.app, &s.t, &s.ch);
    let on_bob = s.carol_flags().await;
    let carols = app.say(&app.a, &t[2], ch, "more spam").await;
    let on_carol = s.flag(1, carols["id"].as_str().unwrap(), "spam").await;
    let on_carol = on_carol.assert_status(201)["flag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The server lists every report, and resolves.
    let all = app.get(&app.a, &app.a.server, "/moderation/flags").await;
    assert_eq!(all.assert_status(200)["flags"].as_array().unwrap().len(), 2);
    s.resolve(&app.a.server, &on_bob, "ban")
        .await
        .assert_status(200);
    app.post(
        &app.a,
        &t[1],
        "/messages",
        json!({"channel_id": ch, "text": "hello?"}),
    )
    .await
    .assert_error(403, "forbidden");
    s.resolve(&t[0], &on_carol, "shadow_ban")
        .await
        .assert_status(200);
    let bans = app
        .get(&app.a, &t[0], &format!("/channels/{ch}/bans"))
        .await;
    let bans = bans.assert_status(200)["bans"].clone();
    let shadow: Vec<(String, bool)> = bans
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["user"]["id"].as_str().unwrap().to_string(),
                b["shadow"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(shadow.contains(&("bob".into(), false)), "{shadow:?}");
    assert!(shadow.contains(&("carol".into(), true)), "{shadow:?}");
}

#[tokio::test]
async fn a_report_of_a_user_goes_to_the_server_only_and_cannot_ban() {
    let s = Scene::new().await;
    let (app, t) = (&s.app, &s.t);
    let user_flag = app
        .post(
            &app.a,
            &t[2],
            "/moderation/flags",
            json!({"user_id": "bob", "reason": "impersonation"}),
        )
        .await;
    let user_flag = user_flag.assert_status(201)["flag"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.resolve(&t[0], &user_flag, "dismiss")
        .await
        .assert_error(403, "forbidden");
    // No channel to ban from.
    s.resolve(&app.a.server, &user_flag, "ban")
        .await
        .assert_error(400, "validation_error");
    s.resolve(&app.a.server, &user_flag, "dismiss")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn another_app_sees_and_resolves_none_of_the_reports() {
    let s = Scene::new().await;
    let app = &s.app;
    let on_bob = s.carol_flags().await;
    assert_eq!(
        app.get(&app.b, &app.b.server, "/moderation/flags")
            .await
            .assert_status(200)["flags"],
        json!([])
    );
    app.post(
        &app.b,
        &app.b.server,
        &format!("/moderation/flags/{on_bob}/resolve"),
        json!({"action": "dismiss"}),
    )
    .await
    .assert_error(404, "not_found");
    // Still open in its own app.
    assert_eq!(
        s.open_flags(0).await.assert_status(200)["flags"][0]["id"],
        on_bob.as_str()
    );
}
