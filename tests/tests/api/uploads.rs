//! Uploads: presigned PUT/GET against the local S3 server (SigV4 checked),
//! validation, membership, direct multipart uploads, safe keys, and
//! attachment ownership across apps.

use std::time::Duration;

use chat_local::{Stack, StackOptions};
use chat_shared::Config;
use serde_json::{json, Value};

use crate::helpers::{Tenant, TestApp};

async fn sign(app: &TestApp, t: &Tenant, token: &str, query: &str) -> crate::helpers::Resp {
    app.get(t, token, &format!("/upload/signed-url?{query}"))
        .await
}

/// PUTs `bytes` to a signed URL with its headers, possibly overridden.
async fn put(app: &TestApp, signed: &Value, bytes: Vec<u8>, override_type: Option<&str>) -> u16 {
    let mut request = app
        .http
        .put(signed["upload_url"].as_str().unwrap())
        .body(bytes);
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // reqwest sets it from the body
        }
        let value = match (name.eq_ignore_ascii_case("content-type"), override_type) {
            (true, Some(other)) => other,
            _ => value.as_str().unwrap(),
        };
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// `POST /upload` as `token`: a file, and the channel when one is given.
async fn direct(
    app: &TestApp,
    token: &str,
    channel: Option<&str>,
    file_name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> crate::helpers::Resp {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(mime)
        .unwrap();
    let mut form = reqwest::multipart::Form::new();
    if let Some(channel) = channel {
        form = form.text("channel_id", channel.to_string());
    }
    let response = app
        .http
        .post(app.url("/upload"))
        .header("X-Api-Key", app.a.key())
        .bearer_auth(token)
        .multipart(form.part("file", part))
        .send()
        .await
        .unwrap();
    TestApp::read(response).await
}

async fn fetch(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let response = app.http.get(url).send().await.unwrap();
    (
        response.status().as_u16(),
        response.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn presigned_put_then_read_back_identical_bytes() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let resp = sign(
        &app,
        &app.a,
        &t[0],
        &format!(
            "file_name=photo.png&mime_type=image/png&size={}&channel_id={id}",
            bytes.len()
        ),
    )
    .await;
    let signed = resp.assert_status(200).clone();
    assert_eq!(signed["method"], "PUT");
    assert_eq!(signed["headers"]["content-type"], "image/png");
    assert_eq!(signed["file_name"], "photo.png");
    assert!(signed["expires_at"].is_string());
    let key = signed["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("{}/{id}/", app.a.app.app_id)),
        "{key}"
    );
    assert!(key.ends_with(".png"));

    assert_eq!(put(&app, &signed, bytes.clone(), None).await, 200);
    let (status, body) = fetch(&app, signed["file_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
}

#[tokio::test]
async fn the_s3_server_refuses_other_types_tampered_and_expired_urls() {
    let options = StackOptions {
        config: Config {
            upload_url_ttl: Duration::from_secs(1),
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    };
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let q = format!("file_name=a.txt&mime_type=text/plain&size=5&channel_id={id}");

    let signed = sign(&app, &app.a, &t[0], &q)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        put(&app, &signed, b"hello".to_vec(), Some("text/html")).await,
        403
    );
    let mut tampered = signed.clone();
    let url = signed["upload_url"].as_str().unwrap();
    // Flip the signature's last hex digit.
    let (head, last) = url.split_at(url.len() - 1);
    let flipped = format!("{head}{}", if last == "0" { "1" } else { "0" });
    tampered["upload_url"] = json!(flipped);
    assert_eq!(put(&app, &tampered, b"hello".to_vec(), None).await, 403);
    // Another key under the same signature.
    let mut moved = signed.clone();
    moved["upload_url"] = json!(url.replace(&format!("/{id}/"), "/other/"));
    assert_eq!(put(&app, &moved, b"hello".to_vec(), None).await, 403);
    // A different size than signed.
    assert_eq!(put(&app, &signed, b"hello world".to_vec(), None).await, 403);

    let fresh = sign(&app, &app.a, &t[0], &q)
        .await
        .assert_status(200)
        .clone();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(put(&app, &fresh, b"hello".to_vec(), None).await, 403);
}

#[tokio::test]
async fn signing_is_for_members_and_checks_type_and_size() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "eve"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let ok = format!("file_name=a.pdf&mime_type=application/pdf&size=1000&channel_id={id}");
    sign(&app, &app.a, &t[1], &ok)
        .await
        .assert_error(403, "forbidden");
    sign(
        &app,
        &app.a,
        &t[0],
        "file_name=a.pdf&mime_type=application/pdf&size=10&channel_id=nope",
    )
    .await
    .assert_error(404, "not_found");
    let too_big = 25 * 1024 * 1024 + 1;
    sign(
        &app,
        &app.a,
        &t[0],
        &format!("file_name=a.mp4&mime_type=video/mp4&size={too_big}&channel_id={id}"),
    )
    .await
    .assert_error(413, "payload_too_large");
    for bad in [
        format!("file_name=a.exe&mime_type=application/x-msdownload&size=10&channel_id={id}"),
        format!("file_name=a&mime_type=IMAGE/PNG&size=10&channel_id={id}"),
        format!("file_name=a&mime_type=nonsense&size=10&channel_id={id}"),
        format!("file_name=a&mime_type=image/png&size=0&channel_id={id}"),
        format!("file_name=a&mime_type=image/png&size=abc&channel_id={id}"),
        format!("mime_type=image/png&size=10&channel_id={id}"),
        format!("file_name=a&size=10&channel_id={id}"),
        // (Without a channel_id it is the user's own file: see
        // a_user_uploads_their_own_file_without_a_channel.)
    ] {
        sign(&app, &app.a, &t[0], &bad)
            .await
            .assert_error(400, "validation_error");
    }
    // Wildcard families are allowed.
    sign(
        &app,
        &app.a,
        &t[0],
        &format!("file_name=a.webm&mime_type=audio/webm&size=10&channel_id={id}"),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn traversal_in_a_file_name_yields_a_safe_key() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let resp = sign(
        &app,
        &app.a,
        &t[0],
        &format!("file_name=..%2F..%2Fetc%2Fpasswd&mime_type=text/plain&size=4&channel_id={id}"),
    )
    .await;
    let signed = resp.assert_status(200).clone();
    assert_eq!(signed["file_name"], "passwd");
    let key = signed["key"].as_str().unwrap();
    assert!(!key.contains(".."), "{key}");
    assert_eq!(key.matches('/').count(), 2, "{key}");
    assert!(key.starts_with(&format!("{}/{id}/", app.a.app.app_id)));
    assert_eq!(put(&app, &signed, b"root".to_vec(), None).await, 200);
    // The object is inside the storage folder, nothing was written beside it.
    let stored = app
        .stack
        .s3_root
        .join(app.stack.state.storage.bucket())
        .join(key);
    assert!(stored.exists(), "{}", stored.display());
}

#[tokio::test]
async fn multipart_upload_round_trips() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "eve"]).await;
    let id = app.group(&app.a, &t[0], &[]).await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let send = |token: &str, form: reqwest::multipart::Form| {
        app.http
            .post(app.url("/upload"))
            .header("X-Api-Key", app.a.key())
            .bearer_auth(token)
            .multipart(form)
            .send()
    };
    let resp = direct(
        &app,
        &t[0],
        Some(&id),
        "../../notes.txt",
        "text/plain",
        bytes.clone(),
    )
    .await;
    let body = resp.assert_status(201).clone();
    assert_eq!(body["file_name"], "notes.txt");
    assert_eq!(body["file_size"], 100_000);
    assert_eq!(body["mime_type"], "text/plain");
    assert!(body["key"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/{id}/", app.a.app.app_id)));
    let (status, read) = fetch(&app, body["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(read, bytes);

    let refused = direct(
        &app,
        &t[1],
        Some(&id),
        "../../notes.txt",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    refused.assert_error(403, "forbidden");
    let big = direct(
        &app,
        &t[0],
        Some(&id),
        "../../notes.txt",
        "text/plain",
        vec![0u8; 5 * 1024 * 1024],
    )
    .await;
    // Refused either way. Behind API Gateway (the faithful mode) the base64
    // event exceeds Lambda's 6 MB payload limit, so API Gateway answers with
    // its own body before the function runs; the merged server answers with
    // the API's error shape.
    assert_eq!(big.status, 413, "{}", big.body);
    if big.body.get("error").is_some() {
        big.assert_error(413, "payload_too_large");
    } else {
        assert_eq!(big.body["message"], "Request Too Long");
    }
    let bad_type = direct(
        &app,
        &t[0],
        Some(&id),
        "../../notes.txt",
        "application/x-msdownload",
        b"MZ".to_vec(),
    )
    .await;
    bad_type.assert_error(400, "validation_error");
    let no_file = reqwest::multipart::Form::new().text("channel_id", id.clone());
    TestApp::read(send(&t[0], no_file).await.unwrap())
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn attachments_may_not_link_another_apps_files() {
    let app = TestApp::spawn().await;
    let a = app.create_users(&app.a, &["alice"]).await;
    let b = app.create_users(&app.b, &["mallory"]).await;
    let a_channel = app.group(&app.a, &a[0], &[]).await;
    let b_channel = app.group(&app.b, &b[0], &[]).await;
    let theirs = sign(
        &app,
        &app.b,
        &b[0],
        &format!("file_name=x.png&mime_type=image/png&size=3&channel_id={b_channel}"),
    )
    .await;
    let theirs = theirs.assert_status(200).clone();
    let mine = sign(
        &app,
        &app.a,
        &a[0],
        &format!("file_name=y.png&mime_type=image/png&size=3&channel_id={a_channel}"),
    )
    .await;
    let mine = mine.assert_status(200).clone();
    let attach = |url: &Value| json!({ "channel_id": a_channel, "attachments": [{ "type": "image", "url": url }] });
    app.post(&app.a, &a[0], "/messages", attach(&theirs["file_url"]))
        .await
        .assert_error(403, "forbidden");
    // Their file in every spelling that may reach the bucket: the bucket in
    // another case, doubled slashes, dot segments, encoded slashes.
    let url = theirs["file_url"].as_str().unwrap();
    let bucket = app.stack.state.storage.bucket().to_string();
    let key = theirs["key"].as_str().unwrap();
    let base = url.split(&format!("/{bucket}/")).next().unwrap();
    let mine_key = mine["key"].as_str().unwrap();
    let my_dir = &mine_key[..mine_key.find('/').unwrap()];
    for spelled in [
        format!("{base}/{}/{key}", bucket.to_uppercase()),
        format!("{base}//{bucket}/{key}"),
        format!("{base}/{bucket}//{key}"),
        format!("{base}/{bucket}/{my_dir}/../{key}"),
        format!("{base}/{bucket}/{my_dir}/%2e%2e/{key}"),
        format!("{base}/{bucket}/{my_dir}/..%2F{key}"),
        format!("{base}/{bucket}/{my_dir}/.%2F..%2F{key}"),
        format!("{}/{bucket}/{key}", base.replace("127.0.0.1", "localhost")),
    ] {
        app.post(&app.a, &a[0], "/messages", attach(&json!(spelled)))
            .await
            .assert_error(403, "forbidden");
    }
    app.post(&app.a, &a[0], "/messages", attach(&mine["file_url"]))
        .await
        .assert_status(201);
    // Links elsewhere on the web are fine.
    app.post(
        &app.a,
        &a[0],
        "/messages",
        attach(&json!("https://example.com/cat.png")),
    )
    .await
    .assert_status(201);
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_files_survive_a_restart() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("chat-upload-restart-{nanos}"));
    let options = StackOptions {
        data_dir: Some(dir.clone()),
        ..StackOptions::ephemeral()
    };
    let key = {
        let stack = Stack::start(options.clone()).await.unwrap();
        let key = "dev/c1/kept.txt".to_string();
        stack
            .state
            .storage
            .put(&key, "text/plain", b"still here".to_vec())
            .await
            .unwrap();
        stack.stop();
        key
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stack = Stack::start(options).await.unwrap();
    let url = stack
        .state
        .storage
        .read_url(&key, "kept.txt", "text/plain", Duration::from_secs(60))
        .await
        .unwrap();
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"still here");
    drop(stack);
    let _ = std::fs::remove_dir_all(dir);
}

/// Signs and uploads `bytes` as `alice` of tenant `t`; returns the signature.
async fn upload(
    app: &TestApp,
    t: &Tenant,
    token: &str,
    channel: &str,
    name: &str,
    mime: &str,
    bytes: &[u8],
) -> Value {
    let signed = sign(
        app,
        t,
        token,
        &format!(
            "file_name={name}&mime_type={mime}&size={}&channel_id={channel}",
            bytes.len()
        ),
    )
    .await
    .assert_status(200)
    .clone();
    assert_eq!(put(app, &signed, bytes.to_vec(), None).await, 200);
    signed
}

#[tokio::test]
async fn an_uploaded_object_cannot_be_overwritten_through_its_put_url() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let signed = upload(&app, &app.a, &t[0], &ch, "a.txt", "text/plain", b"first!").await;
    assert_eq!(signed["headers"]["if-none-match"], "*", "{signed}");
    // The same URL, within its lifetime, with the same length: refused.
    assert_eq!(put(&app, &signed, b"later!".to_vec(), None).await, 412);
    let (status, body) = fetch(&app, signed["file_url"].as_str().unwrap()).await;
    assert_eq!((status, body.as_slice()), (200, b"first!".as_slice()));
}

#[tokio::test]
async fn active_types_are_downloads_and_every_answer_says_nosniff() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let ch = app.group(&app.a, &t[0], &[]).await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#;
    for (name, mime, bytes, disposition) in [
        ("x.svg", "image/svg%2Bxml", svg.as_slice(), "attachment"),
        ("p.png", "image/png", b"\x89PNG....".as_slice(), "inline"),
    ] {
        let signed = upload(&app, &app.a, &t[0], &ch, name, mime, bytes).await;
        let response = app
            .http
            .get(signed["file_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let header = |h: &str| {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            header("content-disposition").starts_with(disposition),
            "{name}: {}",
            header("content-disposition")
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{name}");
    }
}

#[tokio::test]
async fn banned_members_and_channels_without_uploads_get_no_uploads() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let query = format!("file_name=a.txt&mime_type=text/plain&size=3&channel_id={ch}");
    sign(&app, &app.a, &t[1], &query).await.assert_status(200);
    app.post(
        &app.a,
        &t[0],
        &format!("/channels/{ch}/bans"),
        json!({"user_id": "bob"}),
    )
    .await
    .assert_status(201);
    sign(&app, &app.a, &t[1], &query)
        .await
        .assert_error(403, "forbidden");
    direct(
        &app,
        &t[1],
        Some(&ch),
        "a.txt",
        "text/plain",
        b"abc".to_vec(),
    )
    .await
    .assert_error(403, "forbidden");

    app.patch(
        &app.a,
        &t[0],
        &format!("/channels/{ch}"),
        json!({"set": {"settings": {"uploads": false}}}),
    )
    .await
    .assert_status(200);
    sign(&app, &app.a, &t[0], &query)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn the_ownership_check_parses_the_url_however_it_is_spelled() {
    let app = TestApp::spawn().await;
    let ta = app.create_users(&app.a, &["alice"]).await;
    let tb = app.create_users(&app.b, &["mallory"]).await;
    let cha = app.group(&app.a, &ta[0], &[]).await;
    let chb = app.group(&app.b, &tb[0], &[]).await;
    let theirs = upload(&app, &app.b, &tb[0], &chb, "b.txt", "text/plain", b"b's").await;
    let key = theirs["key"].as_str().unwrap();
    let port = app.stack.s3_url.rsplit(':').next().unwrap();
    let encoded_key = key.replace('/', "%2F");
    let spellings = [
        format!("http://127.0.0.1:{port}/chat-uploads/{key}"),
        format!("http://LOCALHOST:{port}/chat-uploads/{key}"),
        format!("http://localhost.:{port}/chat-uploads/{key}"),
        format!("http://127.0.0.1:{port}/chat%2Duploads/{key}"),
        format!("http://127.0.0.1:{port}/chat-uploads/{encoded_key}"),
        format!("http://127.0.0.1:{port}/chat-uploads/./{key}"),
        format!("https://chat-uploads.s3.us-east-1.amazonaws.com/{key}"),
        format!("https://CHAT-UPLOADS.s3.dualstack.eu-west-1.amazonaws.com./{key}"),
        format!("https://s3.amazonaws.com:443/chat-uploads/{key}"),
    ];
    for url in spellings {
        app.post(
            &app.a,
            &ta[0],
            "/messages",
            json!({"channel_id": cha, "attachments": [{"type": "file", "url": url}]}),
        )
        .await
        .assert_error(403, "forbidden");
    }
    // A protocol-relative link is no link at all.
    app.post(
        &app.a,
        &ta[0],
        "/messages",
        json!({"channel_id": cha, "attachments": [{"type": "file", "url": format!("//127.0.0.1:{port}/chat-uploads/{key}")}]}),
    )
    .await
    .assert_error(400, "validation_error");
    // The app's own object, spelled another way, is still its own.
    let mine = upload(&app, &app.a, &ta[0], &cha, "a.txt", "text/plain", b"a's").await;
    let own = format!(
        "http://LOCALHOST:{port}/chat-uploads/{}",
        mine["key"].as_str().unwrap()
    );
    app.post(
        &app.a,
        &ta[0],
        "/messages",
        json!({"channel_id": cha, "attachments": [{"type": "file", "url": own}]}),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn post_upload_without_a_multipart_body_gets_the_json_error() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    app.post(&app.a, &t[0], "/upload", json!({"file": "nope"}))
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn attachment_links_outlive_the_url_lifetime() {
    let options = StackOptions {
        config: Config {
            upload_url_ttl: Duration::from_secs(2),
            ..Config::default()
        },
        ..StackOptions::ephemeral()
    };
    let app = TestApp::spawn_with(options).await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let ch = app.group(&app.a, &t[0], &["bob"]).await;
    let bytes: Vec<u8> = (0..5_000u32).map(|i| (i % 253) as u8).collect();
    let signed = upload(&app, &app.a, &t[0], &ch, "photo.png", "image/png", &bytes).await;
    let first_link = signed["file_url"].as_str().unwrap().to_string();
    let sent = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({"channel_id": ch, "attachments": [{"type": "image", "url": first_link, "file_name": "photo.png", "mime_type": "image/png"}]}),
        )
        .await;
    let stored_key = sent.assert_status(201)["message"]["attachments"][0]["key"].clone();
    assert_eq!(
        stored_key, signed["key"],
        "the message keeps the object's key"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The link the upload returned has expired…
    assert_eq!(fetch(&app, &first_link).await.0, 403);
    // …but every read hands out one that works now, for the same bytes.
    let history = app
        .get(&app.a, &t[1], &format!("/channels/{ch}/messages"))
        .await;
    let link = history.assert_status(200)["messages"][0]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(link, first_link);
    let (status, body) = fetch(&app, &link).await;
    assert_eq!((status, body == bytes), (200, true));
    // A client cannot point the key at something else: it is recomputed.
    let forged = app
        .post(
            &app.a,
            &t[0],
            "/messages",
            json!({"channel_id": ch, "attachments": [{"type": "file", "url": "https://cdn.example.com/x", "key": "other-app/c/x"}]}),
        )
        .await;
    assert!(forged.assert_status(201)["message"]["attachments"][0]["key"].is_null());
}

#[tokio::test]
async fn a_user_uploads_their_own_file_without_a_channel() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob"]).await;
    let query = "file_name=me.png&mime_type=image/png&size=4";
    let signed = sign(&app, &app.a, &t[0], query)
        .await
        .assert_status(200)
        .clone();
    let key = signed["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("{}/~users/alice/", app.a.app.app_id)),
        "{key}"
    );
    assert_eq!(put(&app, &signed, b"\x89PNG".to_vec(), None).await, 200);
    // Usable as the user's avatar: a link into the app's own bucket space.
    app.patch(
        &app.a,
        &t[0],
        "/users/alice",
        json!({"set": {"avatar_url": signed["file_url"]}}),
    )
    .await
    .assert_status(200);
    // Only for oneself: a user token cannot name another user; a server token must name one.
    sign(&app, &app.a, &t[1], &format!("{query}&user_id=alice"))
        .await
        .assert_error(403, "forbidden");
    sign(&app, &app.a, &app.a.server, query)
        .await
        .assert_error(400, "validation_error");
    let for_bob = sign(&app, &app.a, &app.a.server, &format!("{query}&user_id=bob")).await;
    assert!(for_bob.assert_status(200)["key"]
        .as_str()
        .unwrap()
        .contains("/~users/bob/"));
    sign(
        &app,
        &app.a,
        &app.a.server,
        &format!("{query}&user_id=nobody"),
    )
    .await
    .assert_error(404, "not_found");
    // The direct upload takes the same shape.
    let body = direct(&app, &t[1], None, "note.txt", "text/plain", b"hey".to_vec()).await;
    assert!(body.assert_status(201)["key"]
        .as_str()
        .unwrap()
        .contains("/~users/bob/"));
}
