//! What the DynamoDB client sends, seen by the tap in front of the emulator:
//! signed, with the invocation id that ties retries together, and without
//! the SDK's user-agent headers (`shared/src/db/extras.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_local::{Stack, StackOptions};
use chat_shared::db::Entity;
use chat_shared::ids::{AppId, ChannelId, UserId};
use chat_shared::realtime::online::Online;

#[tokio::test]
async fn requests_are_signed_and_carry_no_user_agent() {
    let stack = Stack::start(StackOptions {
        dynamodb_tap: true,
        ..StackOptions::ephemeral()
    })
    .await
    .unwrap();
    let tap = stack.tap.clone().unwrap();
    let entry = Online {
        app_id: AppId::parse("app_extras").unwrap(),
        channel_id: ChannelId::parse("c1").unwrap(),
        user_id: UserId::parse("alice").unwrap(),
        expires: chat_shared::time::now_secs() + 600,
    };
    let before = tap.seen().len();
    let found: Option<Online> = stack.state.db.get(&entry.key()).await.unwrap();
    assert!(found.is_none());

    let seen = tap.seen();
    let get = seen[before..]
        .iter()
        .find(|s| s.operation == "GetItem")
        .expect("the read went through the tap");
    let has = |name: &str| get.headers.iter().any(|h| h == name);
    assert!(
        has("authorization") && has("x-amz-date"),
        "{:?}",
        get.headers
    );
    assert!(has("amz-sdk-invocation-id"), "{:?}", get.headers);
    assert!(!has("user-agent"), "{:?}", get.headers);
    assert!(!has("x-amz-user-agent"), "{:?}", get.headers);
}
