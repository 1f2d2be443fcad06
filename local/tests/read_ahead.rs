//! Reads ahead (`Db::read_ahead`) against the DynamoDB emulator: one batch
//! read for several keys, each answer taken once, a missing item answered as
//! missing, and a second read of a key going to the table again; keys read
//! ahead for a batch read (`Db::read_ahead_with`) and a query's page kept
//! for its next run (`Db::run_kept`), each answered once too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_local::{Stack, StackOptions};
use chat_shared::db::{Cond, Entity, Page, PageRequest, Query, SortCond};
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

#[tokio::test]
async fn a_batch_read_and_a_query_are_answered_ahead_once() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let db = &stack.state.db;
    let (alice, bob, carol) = (entry("alice"), entry("bob"), entry("carol"));
    for entry in [&alice, &bob] {
        db.put(entry, Cond::Always).await.unwrap();
    }
    let count = |op| requests(&stack, op);
    let (gets, batches, queries) = (count("GetItem"), count("BatchGetItem"), count("Query"));

    let pk = alice.key().pk;
    let query = Query {
        index: None,
        pk: &pk,
        sk: SortCond::Prefix(chat_shared::keys::ONLINE_PREFIX),
        page: PageRequest {
            limit: 10,
            cursor: None,
            forward: true,
        },
        filter: None,
    };
    let (view, page): (_, Page<Online>) = db.run_kept(&query).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(count("Query"), queries + 1);
    // Alice's key for a get and for a batch read, read once: DynamoDB
    // refuses a batch that names a key twice.
    let view = view
        .read_ahead_with(&[alice.key()], &[alice.key().any(), carol.key().any()])
        .await
        .unwrap();
    assert_eq!(count("BatchGetItem"), batches + 1);

    // The same query: answered from the page kept, once.
    let again: Page<Online> = view.run(&query).await.unwrap();
    assert_eq!(again.items.len(), 2);
    assert_eq!(count("Query"), queries + 1);
    let _: Page<Online> = view.run(&query).await.unwrap();
    assert_eq!(count("Query"), queries + 2);

    // The batch read: alice and carol (missing) from the read ahead, bob
    // from the table.
    let keys = [alice.key(), bob.key(), carol.key()];
    let found: Vec<Online> = view.batch_get(&keys).await.unwrap();
    let mut users: Vec<&str> = found.iter().map(|o| o.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    assert_eq!(count("BatchGetItem"), batches + 2);
    // The get of alice still has its own answer; then each goes to the table.
    let _: Option<Online> = view.get(&alice.key()).await.unwrap();
    assert_eq!(count("GetItem"), gets);
    let _: Vec<Online> = view.batch_get(&[alice.key()]).await.unwrap();
    assert_eq!(count("BatchGetItem"), batches + 3);
}
