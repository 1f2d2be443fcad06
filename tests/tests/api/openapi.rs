//! The OpenAPI document is served, is OpenAPI 3.1, and every route in it is
//! a route the server answers (and, being generated from the routers, every
//! served route is in it).

use reqwest::Method;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_openapi_document_describes_every_served_route() {
    let app = TestApp::spawn().await;
    let resp = app
        .send(Method::GET, "/openapi.json", None, None, None)
        .await;
    let doc = resp.assert_status(200).clone();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 40, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            operations += 1;
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has a summary"
            );
            assert!(operation["responses"].is_object());
            let concrete: String = path
                .trim_start_matches("/api/v1")
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let resp = app.send(method.clone(), &concrete, None, None, None).await;
            let unrouted = resp.status == 405
                || (resp.status == 404 && resp.body["error"]["message"] == "no such route");
            assert!(!unrouted, "{method} {path}: {} {}", resp.status, resp.body);
            // Without credentials everything but the health check is a 401.
            if !path.ends_with("/health") {
                assert_eq!(resp.status, 401, "{method} {path}: {}", resp.body);
            }
        }
    }
    assert!(operations >= 55, "{operations} operations");
}
