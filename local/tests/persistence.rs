//! The default local store is a file: what was written survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chat_local::{Stack, StackOptions};
use chat_shared::apps;

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart_of_the_local_stack() {
    let dir = common::temp_dir("chat-persist");
    let options = StackOptions {
        data_dir: Some(dir.clone()),
        ..StackOptions::ephemeral()
    };

    let first = Stack::start(options.clone()).await.unwrap();
    let app = first.ensure_dev_app().await.unwrap();
    first.stop();
    drop(first);

    let second = Stack::start(options).await.unwrap();
    let again = second.ensure_dev_app().await.unwrap();
    assert_eq!(again.api_key, app.api_key);
    assert_eq!(again.api_secret, app.api_secret);
    let stored = apps::get_app(&second.state.db, &app.app_id).await.unwrap();
    assert!(stored.is_some());
    assert!(dir.join("chat.sqlite").exists());
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}
