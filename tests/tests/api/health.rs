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

#[tokio::test]
async fn browsers_get_cors_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/health"))
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let preflight = app
        .http
        .request(Method::OPTIONS, app.url("/messages"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,x-api-key,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("x-api-key") && allowed.contains("authorization"),
        "{allowed}"
    );
}
