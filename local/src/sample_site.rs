//! A page the local stack serves on a port of its own, so link previews can
//! be seen end to end: a message with its URL gets a `link` attachment from
//! the page's Open Graph tags (and the outbound guard lets the notify
//! function reach it: loopback, not one of the stack's own services).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const ARTICLE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>A walk on the ridge (plain title)</title>
  <meta name="description" content="The plain description, behind Open Graph's.">
  <meta property="og:title" content="A walk on the ridge">
  <meta property="og:description" content="Three hours above the valley, with a map and the best spot for lunch.">
  <meta property="og:image" content="/ridge.svg">
  <meta property="og:site_name" content="Sample Trails">
  <meta property="og:url" content="/article">
</head>
<body><h1>A walk on the ridge</h1><p>The local stack serves this page for link previews.</p></body>
</html>"#;

const IMAGE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="63" viewBox="0 0 120 63"><rect width="120" height="63" fill="#cfe3f5"/><path d="M0 63 L40 20 L60 40 L85 12 L120 63 Z" fill="#5a7d5a"/></svg>"##;

/// `/article` (the page) and `/ridge.svg` (its image).
pub fn router() -> Router {
    Router::new()
        .route(
            "/article",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    ARTICLE,
                )
                    .into_response()
            }),
        )
        .route(
            "/ridge.svg",
            get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], IMAGE).into_response() }),
        )
}
