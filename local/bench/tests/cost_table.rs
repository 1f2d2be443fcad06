//! The cost table in docs/storage.md is what the code costs today: it is
//! regenerated here and compared with that copy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chat_bench::costs;
use chat_local::Stack;
use chat_shared::apps;

#[tokio::test(flavor = "multi_thread")]
async fn the_cost_table_in_the_docs_is_current() {
    let stack = Stack::start(costs::stack_options()).await.unwrap();
    let app = apps::create_app(&stack.state.db, None, "costs")
        .await
        .unwrap();
    let table = costs::table(&stack, app).await.unwrap();
    println!("{table}");
    // Capacity is reported for every operation that reads or writes, and
    // every operation has a price: at least its capacity units and posts at
    // AWS's prices.
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(rows.len() > 30, "{table}");
    for line in &rows {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let number = |i: usize| -> f64 { cells[i].parse().unwrap() };
        let (rcu, wcu, posts, replies, price) =
            (number(4), number(5), number(6), number(7), number(9));
        assert!(rcu + wcu > 0.0, "capacity reported: {line}");
        let floor = rcu * 0.125 + wcu * 0.625 + (posts + replies) * 1.0;
        assert!(
            price >= floor - 0.005 && price > 0.0,
            "the price covers the units and posts: {line}"
        );
    }
    // The budgets: a send to a small channel stays within 4 requests
    // counting the rate limiter (its claim is an item of the send's
    // transaction: 10 WCU in all); a socket send to 10 online members is 4
    // requests and 10 posts (the deliveries), its ack the route's response
    // (no post); with
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
    assert_eq!(socket[6], "10", "{socket:?}");
    assert_eq!(socket[7], "1", "{socket:?}");
    // Its price: DynamoDB's units, 12 WebSocket messages (the frame, 10
    // deliveries and the ack) and one short invocation.
    let price: f64 = socket[9].parse().unwrap();
    let units = 26.0 * 0.125 + 10.0 * 0.625;
    assert!(
        price > units + 12.0 && price < units + 12.0 + 0.5,
        "{socket:?}"
    );
    // The month's example is priced from the rows, and it adds up.
    let total = table
        .lines()
        .find(|l| l.starts_with("| **total** |"))
        .expect("the month's total");
    let dollars = |cell: &str| -> f64 { cell.trim().trim_start_matches('$').parse().unwrap() };
    let cells: Vec<&str> = total.split('|').collect();
    let by_service: f64 = cells[3..7].iter().map(|c| dollars(c)).sum();
    assert!((by_service - dollars(cells[7])).abs() < 0.02, "{total}");
    assert!(
        dollars(cells[7]) > 15.0 * price,
        "15 million messages: {total}"
    );
    let asleep = row("send a message, 10,000 members, none connected");
    assert!(asleep[4].parse::<f64>().unwrap() <= 25.0, "{asleep:?}");
    // Coalescing: 11 messages to 990 connections, 10 of them made during
    // the first one's fan-out, cost two posts a connection, not eleven.
    let eleven = row("11 sends, 991 members, 990 connected: 1, then 10 during its fan-out (coalesced; with the fan-out function's work)");
    assert_eq!(eleven[6], (2 * 990).to_string(), "{eleven:?}");
    // Pushes follow the members who have a device: where nobody has one,
    // an app that can push pays what one that cannot does (no job, no
    // notify work); two phones in a small channel cost no more than the
    // whole-member read did (24 requests, 35.5 RCU).
    let unreachable =
        row("send a message, 10,000 members, none connected, none with a phone (the app can push)");
    assert_eq!(unreachable[2..6], asleep[2..6], "{unreachable:?}");
    let phones = row("send a message, 5 members, none connected, 2 with a phone (with the notify function's pushes)");
    assert!(phones[3].parse::<u32>().unwrap() <= 22, "{phones:?}");
    assert!(phones[4].parse::<f64>().unwrap() <= 30.0, "{phones:?}");
    // Ten phones in a 10,000-member channel: at most 30 requests and 60
    // RCU with the notify function's marks, badges and pushes.
    let crowd = row("send a message, 10,000 members, none connected, 10 with a phone (with the notify function's pushes)");
    assert!(crowd[3].parse::<u32>().unwrap() <= 30, "{crowd:?}");
    assert!(crowd[4].parse::<f64>().unwrap() <= 60.0, "{crowd:?}");
    // A badge is one query of the recipient's unread marks, whatever the
    // number of their channels: 20 more channels with unread cost no
    // request more, and at most a unit of capacity a recipient.
    let busy = row("send a message, 5 members, none connected, 2 with a phone, each with unread in 20 more channels (with the notify function's pushes)");
    assert_eq!(busy[2..4], phones[2..4], "{busy:?}");
    assert!(
        busy[4].parse::<f64>().unwrap() <= phones[4].parse::<f64>().unwrap() + 2.0 * 2.0,
        "{busy:?}"
    );
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/storage.md"
    ))
    .unwrap();
    let regenerated =
        costs::splice(&readme, &table).expect("docs/storage.md has the costs markers");
    assert!(
        regenerated == readme,
        "the cost table in docs/storage.md is stale; run \
         `cargo run --release -p chat-bench --bin chat-bench -- costs --write docs/storage.md`"
    );
}
