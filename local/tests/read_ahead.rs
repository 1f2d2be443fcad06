//! Reads ahead (`Db::read_ahead`) against the DynamoDB emulator: one batch
//! read for several keys, each answer taken once, a missing item answered as
//! missing, and a second read of a key going to the table again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_local::{Stack, StackOptions};
use chat_shared::db::{Cond, Entity};
use chat_shared::ids::{AppId, ChannelId, UserId};
use chat_shared::realtime::online::Online;

fn entry(user: &str) -> Online {
    Online {
        app_id: AppId::parse("app_readahead").unwrap(),
        channel_id: ChannelId::parse("c1").unwrap(),
        user_id: UserId::parse(user).unwrap(),
        expires: chat_shared::time::now_secs() + 600,
    }
}

fn requests(stack: &Stack, op: &str) -> u64 {
    stack
        .state
        .db
        .request_counts()
        .get(op)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn each_answer_read_ahead_is_taken_once() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let db = &stack.state.db;
    let (alice, bob) = (entry("alice"), entry("bob"));
    db.put(&alice, Cond::Always).await.unwrap();
    let (gets, batches) = (
        requests(&stack, "GetItem"),
        requests(&stack, "BatchGetItem"),
    );

    let ahead = db.read_ahead(&[alice.key(), bob.key()]).await.unwrap();
    assert_eq!(requests(&stack, "BatchGetItem"), batches + 1);
    // Both keys held: reading ahead again asks nothing.
    let ahead = ahead.read_ahead(&[bob.key()]).await.unwrap();
    assert_eq!(requests(&stack, "BatchGetItem"), batches + 1);

    let found: Option<Online> = ahead.get(&alice.key()).await.unwrap();
    assert_eq!(found.map(|o| o.user_id), Some(alice.user_id.clone()));
    let missing: Option<Online> = ahead.get(&bob.key()).await.unwrap();
    assert!(missing.is_none());
    assert_eq!(requests(&stack, "GetItem"), gets, "answered from the batch");

    // Taken once: the next read of a key goes to the table and sees a write
    // made since the batch.
    ahead.put(&bob, Cond::Always).await.unwrap();
    let again: Option<Online> = ahead.get(&bob.key()).await.unwrap();
    assert_eq!(again.map(|o| o.user_id), Some(bob.user_id.clone()));
    assert_eq!(requests(&stack, "GetItem"), gets + 1);
    // The client the view came from never reads ahead.
    let _: Option<Online> = db.get(&alice.key()).await.unwrap();
    assert_eq!(requests(&stack, "GetItem"), gets + 2);
}
