//! `GET /search`: case-insensitive substring, scoped to readable channels,
//! no deleted messages, paginated.

use crate::helpers::TestApp;

#[tokio::test]
async fn search_finds_text_in_readable_channels_only() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice", "bob", "eve"]).await;
    let mine = app.group(&app.a, &t[0], &["bob"]).await;
    let also = app.group(&app.a, &t[0], &[]).await;
    let secret = app.group(&app.a, &t[2], &[]).await;
    app.say(&app.a, &t[0], &mine, "The Quarterly REPORT is due")
        .await;
    app.say(&app.a, &t[0], &mine, "lunch?").await;
    app.say(&app.a, &t[0], &also, "report draft attached").await;
    app.say(&app.a, &t[2], &secret, "eve's secret report").await;
    let deleted = app.say(&app.a, &t[0], &mine, "old report, deleted").await;
    app.delete(
        &app.a,
        &t[0],
        &format!("/messages/{}", deleted["id"].as_str().unwrap()),
    )
    .await
    .assert_status(200);

    let all = app.get(&app.a, &t[0], "/search?query=rEpOrT").await;
    let mut texts: Vec<String> = all.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["The Quarterly REPORT is due", "report draft attached"]
    );

    let one = app
        .get(
            &app.a,
            &t[0],
            &format!("/search?query=report&channel_id={also}"),
        )
        .await;
    assert_eq!(
        one.assert_status(200)["results"].as_array().unwrap().len(),
        1
    );
    app.get(
        &app.a,
        &t[0],
        &format!("/search?query=report&channel_id={secret}"),
    )
    .await
    .assert_error(403, "forbidden");
    app.get(&app.a, &t[0], "/search?query=r")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/search")
        .await
        .assert_error(400, "validation_error");
    app.get(&app.a, &t[0], "/search?query=report&next=%%")
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn search_pages_through_many_results() {
    let app = TestApp::spawn().await;
    let t = app.create_users(&app.a, &["alice"]).await;
    let a = app.group(&app.a, &t[0], &[]).await;
    let b = app.group(&app.a, &t[0], &[]).await;
    for i in 0..7 {
        app.say(&app.a, &t[0], &a, &format!("needle a{i}")).await;
        app.say(&app.a, &t[0], &b, &format!("needle b{i}")).await;
        app.say(&app.a, &t[0], &b, &format!("hay {i}")).await;
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &next {
            Some(c) => format!("/search?query=NEEDLE&limit=4&next={c}"),
            None => "/search?query=NEEDLE&limit=4".to_string(),
        };
        let page = app.get(&app.a, &t[0], &path).await;
        let body = page.assert_status(200).clone();
        let results = body["results"].as_array().unwrap();
        assert!(results.len() <= 4);
        seen.extend(
            results
                .iter()
                .map(|m| m["text"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match body["next"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 20);
    }
    seen.sort();
    let mut expected: Vec<String> = (0..7)
        .flat_map(|i| [format!("needle a{i}"), format!("needle b{i}")])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(pages >= 4);
}
