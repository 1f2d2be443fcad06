//! The emulator never expires items by itself; the local stack's periodic
//! sweep does, as DynamoDB's TTL would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chat_local::{Stack, StackOptions};
use chat_shared::db::{Cond, Entity};
use chat_shared::keys::{item, Key};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Expiring {
    id: String,
    expires: i64,
}

impl Entity for Expiring {
    const TYPE: &'static str = "test_expiring";
    type Item = item::Any;
    fn key(&self) -> Key {
        Key::from_stored("TEST#ttl", &format!("ITEM#{}", self.id))
    }
    fn ttl(&self) -> Option<i64> {
        Some(self.expires)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_items_are_swept_and_live_ones_kept() {
    let stack = Stack::start(StackOptions {
        ttl_sweep_every: Duration::from_secs(3),
        ..StackOptions::ephemeral()
    })
    .await
    .unwrap();
    let db = &stack.state.db;
    let now = chat_shared::time::now_secs();
    db.put(
        &Expiring {
            id: "old".into(),
            expires: now - 10,
        },
        Cond::Always,
    )
    .await
    .unwrap();
    db.put(
        &Expiring {
            id: "new".into(),
            expires: now + 3600,
        },
        Cond::Always,
    )
    .await
    .unwrap();

    // Both are in the table until the first sweep, 3 s after the start.
    assert_eq!(db.count("TEST#ttl", "ITEM#").await.unwrap(), 2);
    // Reads already treat the expired item as gone...
    let old = Key::from_stored("TEST#ttl", "ITEM#old");
    assert!(db.get::<Expiring>(&old).await.unwrap().is_none());
    // ...and the sweep removes it from the table (a raw count sees it until then).
    let mut remaining = usize::MAX;
    for _ in 0..100 {
        remaining = db.count("TEST#ttl", "ITEM#").await.unwrap();
        if remaining == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 1);
    let new = Key::from_stored("TEST#ttl", "ITEM#new");
    assert!(db.get::<Expiring>(&new).await.unwrap().is_some());
}
