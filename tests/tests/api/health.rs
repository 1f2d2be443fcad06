use crate::helpers::TestApp;
use reqwest::Method;

#[tokio::test]
async fn health_needs_no_auth() {
    let app = TestApp::spawn().await;
    let resp = app.send(Method::GET, "/health", None, None, None).await;
    assert_eq!(resp.assert_status(200)["status"], "ok");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    app.send(Method::GET, "/nope", None, None, None)
        .await
        .assert_error(404, "not_found");
    app.send(Method::PUT, "/health", None, None, None)
        .await
        .assert_error(405, "method_not_allowed");
}
