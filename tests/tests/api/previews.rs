//! Link previews: the first link in a sent message's text becomes an
//! attachment of type `link` after the send (the notify function reads the
//! page through the outbound guard), told as `message.updated`; cached per
//! app and URL (a link that gave none, for an hour); skipped on request or by the app's setting; a page that is
//! not HTML, too slow, redirected too often or to an address the service
//! may not reach leaves the message as it was.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{Tenant, TestApp};

/// A site of the test's own on loopback, counting the page reads.
struct Site {
    base: String,
    reads: Arc<AtomicUsize>,
    /// Reads of the page's image: a preview references it, never reads it.
    image_reads: Arc<AtomicUsize>,
    /// The user agent of the last page read.
    agent: Arc<std::sync::Mutex<String>>,
    /// Reads of a page that answers 500.
    broken_reads: Arc<AtomicUsize>,
}

fn page(title: &str) -> String {
    format!(
        r#"<html><head><meta property="og:title" content="{title}">
        <meta property="og:description" content="About {title}">
        <meta property="og:image" content="https://images.example/{title}.png"></head><body></body></html>"#
    )
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html")], body).into_response()
}

async fn site() -> Site {
    let reads = Arc::new(AtomicUsize::new(0));
    let image_reads = Arc::new(AtomicUsize::new(0));
    let agent = Arc::new(std::sync::Mutex::new(String::new()));
    let broken_reads = Arc::new(AtomicUsize::new(0));
    let (counted, seen, image_counted) = (reads.clone(), agent.clone(), image_reads.clone());
    let broken_counted = broken_reads.clone();
    let router = axum::Router::new()
        .route(
            "/og",
            get(move |headers: axum::http::HeaderMap| {
                counted.fetch_add(1, Ordering::SeqCst);
                let ua = headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok());
                *seen.lock().unwrap() = ua.unwrap_or_default().to_string();
                let body = page("Counted").replace("https://images.example/Counted.png", "/og.png");
                async { html(body) }
            }),
        )
        .route(
            "/og.png",
            get(move || {
                image_counted.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            }),
        )
        .route("/hop1", get(|| async { Redirect::temporary("/hop2") }))
        .route("/hop2", get(|| async { Redirect::temporary("/end") }))
        .route("/end", get(|| async { html(page("Redirected")) }))
        .route("/r1", get(|| async { Redirect::temporary("/r2") }))
        .route("/r2", get(|| async { Redirect::temporary("/r3") }))
        .route("/r3", get(|| async { Redirect::temporary("/r4") }))
        .route("/r4", get(|| async { Redirect::temporary("/end") }))
        .route(
            "/private",
            get(|| async { Redirect::temporary("http://10.1.2.3/") }),
        )
        .route(
            "/metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{}").into_response() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                html(page("Slow"))
            }),
        )
        .route("/gone", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/broken",
            get(move || {
                broken_counted.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::INTERNAL_SERVER_ERROR }
            }),
        )
        .route(
            "/huge",
            // The tags come after the 512 KB a read may take.
            get(|| async {
                html(format!(
                    "<html><head>{}{}</head></html>",
                    " ".repeat(600 * 1024),
                    page("Late")
                ))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Site {
        base,
        reads,
        image_reads,
        agent,
        broken_reads,
    }
}

/// The `link` attachments of a message as `token` reads it.
async fn links(app: &TestApp, t: &Tenant, token: &str, id: &str) -> Vec<Value> {
    let read = app.get(t, token, &format!("/messages/{id}")).await;
    read.assert_status(200)["message"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "link")
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_local_stacks_sample_page_becomes_a_link_attachment_told_as_an_update() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let sample = app.stack.sample_page.clone();
    let text = format!("look at {sample} and https://second.example/");
    let id = app.say_id(&app.a, &t[0], &ch, &text).await;
    bob.expect("message.new").await;
    let updated = bob.expect("message.updated").await;
    assert_eq!(updated["message"]["id"], id.as_str());
    let link = &updated["message"]["attachments"][0];
    assert_eq!(link["type"], "link");
    assert_eq!(link["title"], "A walk on the ridge");
    assert_eq!(link["site_name"], "Sample Trails");
    assert!(link["description"]
        .as_str()
        .unwrap()
        .starts_with("Three hours"));
    let base = sample.trim_end_matches("/article");
    assert_eq!(link["image_url"], format!("{base}/ridge.svg"));
    assert_eq!(link["url"], sample.as_str());
    assert_eq!(
        links(&app, &app.a, &t[1], &id).await,
        std::slice::from_ref(link)
    );
    // The text and the rest of the message are as sent.
    let read = app.get(&app.a, &t[1], &format!("/messages/{id}")).await;
    assert_eq!(read.body["message"]["text"], text.as_str());
    assert_eq!(read.body["message"]["edited_at"], Value::Null);
}

#[tokio::test]
async fn previews_are_cached_per_app_and_follow_redirects_up_to_three() {
    let app = TestApp::spawn().await;
    let site = site().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    let og = format!("{}/og", site.base);
    for n in 0..2 {
        app.say_id(&app.a, &t[0], &ch, &format!("{og} #{n}")).await;
        let updated = bob.expect("message.updated").await;
        assert_eq!(updated["message"]["attachments"][0]["title"], "Counted");
    }
    assert_eq!(
        site.reads.load(Ordering::SeqCst),
        1,
        "the second send used the cache"
    );
    let agent = site.agent.lock().unwrap().clone();
    assert!(agent.starts_with("chat-backend-link-preview/"), "{agent}");
    assert_eq!(
        site.image_reads.load(Ordering::SeqCst),
        0,
        "the image is referenced only"
    );
    // Another app reads the page for itself.
    let other = app.create_users(&app.b, &["carol"]).await;
    let och = app.group(&app.b, &other[0], &[]).await;
    let oid = app.say_id(&app.b, &other[0], &och, &og).await;
    let mut found = Vec::new();
    for _ in 0..50 {
        found = links(&app, &app.b, &other[0], &oid).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1);
    assert_eq!(site.reads.load(Ordering::SeqCst), 2);

    app.say_id(&app.a, &t[0], &ch, &format!("{}/hop1", site.base))
        .await;
    let updated = bob.expect("message.updated").await;
    assert_eq!(updated["message"]["attachments"][0]["title"], "Redirected");
    assert_eq!(
        updated["message"]["attachments"][0]["url"],
        format!("{}/end", site.base)
    );
}

#[tokio::test]
async fn a_link_that_cannot_be_read_safely_leaves_the_message_as_it_was() {
    // A name that resolves to a private address: refused where the
    // connection is made, whatever the URL looks like.
    let mut options = chat_local::StackOptions::ephemeral();
    let private = "10.0.0.5".parse().unwrap();
    options.config.outbound_hosts = vec![("intranet.example".into(), private)];
    let app = TestApp::spawn_with(options).await;
    let site = site().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let paths = [
        "/r1",
        "/private",
        "/metadata",
        "/json",
        "/slow",
        "/gone",
        "/huge",
    ];
    let mut sent = Vec::new();
    for path in paths {
        let text = format!("see {}{path}", site.base);
        sent.push((path, app.say_id(&app.a, &t[0], &ch, &text).await));
    }
    let inside = "https://intranet.example/wiki";
    sent.push((inside, app.say_id(&app.a, &t[0], &ch, inside).await));
    // Opted out by the send, or by the app.
    let og = format!("{}/og", site.base);
    let skipped = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({ "channel_id": ch, "text": og, "skip_enrich_url": true }),
        )
        .await;
    sent.push((
        "skip_enrich_url",
        skipped.assert_status(201)["message"]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    ));
    // Past the 3 s a read may take, and then some.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (what, id) in &sent {
        assert_eq!(
            links(&app, &app.a, &t[1], id).await,
            Vec::<Value>::new(),
            "{what}"
        );
    }
    assert_eq!(
        site.reads.load(Ordering::SeqCst),
        0,
        "skip_enrich_url read nothing"
    );
}

#[tokio::test]
async fn an_app_can_turn_previews_off() {
    let mut options = chat_local::StackOptions::ephemeral();
    options.config.app_cache_ttl = Duration::ZERO;
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let set = |on: bool| json!({ "set": { "enrich_urls": on } });
    let off = app.patch(&app.a, &app.a.server, "/app", set(false)).await;
    assert_eq!(
        off.assert_status(200)["app"]["settings"]["enrich_urls"],
        false
    );
    let quiet = app.say_id(&app.a, &t[0], &ch, &app.stack.sample_page).await;
    app.patch(&app.a, &app.a.server, "/app", set(true))
        .await
        .assert_status(200);
    let loud = app.say_id(&app.a, &t[0], &ch, &app.stack.sample_page).await;
    let mut found = Vec::new();
    for _ in 0..50 {
        found = links(&app, &app.a, &t[0], &loud).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1);
    assert!(links(&app, &app.a, &t[0], &quiet).await.is_empty());
    app.patch(
        &app.a,
        &app.a.server,
        "/app",
        json!({ "set": { "enrich_urls": "yes" } }),
    )
    .await
    .assert_error(400, "validation_error");
}

#[tokio::test]
async fn a_link_that_gave_no_preview_is_not_read_again_for_an_hour() {
    let app = TestApp::spawn().await;
    let site = site().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let broken = format!("{}/broken", site.base);
    let first = app.say_id(&app.a, &t[0], &ch, &broken).await;
    let db = &app.stack.state.db;
    let hash: String = sha2::Sha256::digest(broken.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = chat_shared::keys::link_preview(&app.a.app.app_id, &hash);
    let mut kept = None;
    for _ in 0..100 {
        kept = db.get::<Value>(&key.any()).await.unwrap();
        if kept.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What is kept says only that the link gave nothing, for an hour.
    let kept = kept.expect("the failed read is kept");
    assert_eq!(kept["none"], true, "{kept}");
    assert_eq!(kept.get("title"), None, "{kept}");
    let fetched = kept["fetched_at"].as_i64().unwrap();
    assert_eq!(kept["ttl"].as_i64().unwrap(), fetched + 3600, "{kept}");
    assert_eq!(site.broken_reads.load(Ordering::SeqCst), 1);

    // The same link again: no read, no attachment; a good link still is.
    let second = app
        .say_id(&app.a, &t[0], &ch, &format!("again {broken}"))
        .await;
    let mut bob = app.ws(&app.a, &t[1]).await;
    app.say_id(&app.a, &t[0], &ch, &format!("{}/og", site.base))
        .await;
    let updated = bob.expect("message.updated").await;
    assert_eq!(updated["message"]["attachments"][0]["title"], "Counted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(site.broken_reads.load(Ordering::SeqCst), 1, "read once");
    for id in [&first, &second] {
        assert_eq!(links(&app, &app.a, &t[1], id).await, Vec::<Value>::new());
    }
}
