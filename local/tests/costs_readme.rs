//! The README's cost table is what the code costs today: it is regenerated
//! here and compared with the README's copy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_local::{costs, Stack, StackOptions};
use chat_shared::apps;

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_cost_table_is_current() {
    let stack = Stack::start(StackOptions::ephemeral()).await.unwrap();
    let app = apps::create_app(&stack.state.db, None, "costs")
        .await
        .unwrap();
    let table = costs::table(&stack, app).await.unwrap();
    println!("{table}");
    // Capacity is reported for every operation that reads or writes.
    for line in table.lines().skip(2) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (rcu, wcu): (f64, f64) = (cells[4].parse().unwrap(), cells[5].parse().unwrap());
        assert!(rcu + wcu > 0.0, "capacity reported: {line}");
    }
    // The budgets: a send to a small channel stays within 4 requests
    // counting the rate limiter (its claim is an item of the send's
    // transaction: 10 WCU in all); a socket send to 10 online members is 4
    // requests and 11 posts (the 10 deliveries and the sender's ack); with
    // nobody online, a 10,000-member channel reads at most 25 RCU.
    let row = |operation: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("| {operation} |")))
            .unwrap_or_else(|| panic!("row {operation}"))
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let small = row("send a message, 5 members, none connected");
    assert!(small[3].parse::<u32>().unwrap() <= 4, "{small:?}");
    assert!(small[5].parse::<f64>().unwrap() <= 10.0, "{small:?}");
    let socket = row("socket `message.send`, 10 members, 10 connected");
    assert!(socket[3].parse::<u32>().unwrap() <= 4, "{socket:?}");
    assert_eq!(socket[6], "11", "{socket:?}");
    let asleep = row("send a message, 10,000 members, none connected");
    assert!(asleep[4].parse::<f64>().unwrap() <= 25.0, "{asleep:?}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let regenerated = costs::splice(&readme, &table).expect("README has the costs markers");
    assert!(
        regenerated == readme,
        "the README's cost table is stale; run \
         `cargo run --release -p chat-local --bin chat-bench -- costs --write README.md`"
    );
}
