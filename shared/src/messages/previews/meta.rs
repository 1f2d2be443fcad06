//! What a page says about itself: Open Graph (`og:title`, `og:description`,
//! `og:image`, `og:site_name`, `og:url`), then the HTML fallbacks (`<title>`,
//! `<meta name="description">`, `<link rel="canonical">`). Tokenized with
//! html5gum (script and style contents are text, not tags), up to the
//! `<body>`'s end or the bytes read.

use html5gum::{DefaultEmitter, Token, Tokenizer};
use url::Url;

const MAX_TITLE: usize = 300;
const MAX_DESCRIPTION: usize = 1000;
const MAX_SITE_NAME: usize = 200;

/// A page's preview fields, each trimmed and cut to its limit; links made
/// absolute against the page's own URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageMeta {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub site_name: Option<String>,
    /// The canonical URL (`og:url`, then `rel=canonical`), else the page's.
    pub url: String,
}

impl PageMeta {
    /// Whether it says anything worth a preview.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whitespace folded to single spaces, cut to `max` characters; `None` when
/// nothing is left.
fn tidy(raw: &str, max: usize) -> Option<String> {
    let folded = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = folded.chars().take(max).collect();
    (!cut.is_empty()).then_some(cut)
}

/// An absolute http(s) link from `raw`, relative to `base`.
fn absolute(base: &Url, raw: &str) -> Option<String> {
    let url = base.join(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

#[derive(Default)]
struct Found {
    og_title: Option<String>,
    og_description: Option<String>,
    og_image: Option<String>,
    og_site_name: Option<String>,
    og_url: Option<String>,
    title: Option<String>,
    description: Option<String>,
    canonical: Option<String>,
}

/// Reads what the page says about itself; `base` is where it was fetched.
pub fn parse(html: &[u8], base: &Url) -> PageMeta {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut found = Found::default();
    let mut in_title = false;
    let mut title = String::new();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let attr = |name: &str| tag.attributes.get(name.as_bytes()).map(|v| text(&v.value));
                match tag.name.as_slice() {
                    b"title" if found.title.is_none() => in_title = true,
                    b"meta" => {
                        let key = attr("property")
                            .or_else(|| attr("name"))
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        let Some(content) = attr("content") else {
                            continue;
                        };
                        let slot = match key.as_str() {
                            "og:title" => &mut found.og_title,
                            "og:description" => &mut found.og_description,
                            "og:image" | "og:image:url" | "og:image:secure_url" => {
                                &mut found.og_image
                            }
                            "og:site_name" => &mut found.og_site_name,
                            "og:url" => &mut found.og_url,
                            "description" => &mut found.description,
                            _ => continue,
                        };
                        slot.get_or_insert(content);
                    }
                    b"link" => {
                        let canonical = attr("rel").is_some_and(|r| {
                            r.split_whitespace()
                                .any(|r| r.eq_ignore_ascii_case("canonical"))
                        });
                        if canonical {
                            if let Some(href) = attr("href") {
                                found.canonical.get_or_insert(href);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Token::String(s) if in_title => title.push_str(&text(&s.value)),
            Token::EndTag(tag) => match tag.name.as_slice() {
                b"title" if in_title => {
                    in_title = false;
                    found.title = Some(std::mem::take(&mut title));
                }
                b"body" | b"html" => break,
                _ => {}
            },
            _ => {}
        }
    }
    PageMeta {
        title: found
            .og_title
            .or(found.title)
            .and_then(|t| tidy(&t, MAX_TITLE)),
        description: found
            .og_description
            .or(found.description)
            .and_then(|d| tidy(&d, MAX_DESCRIPTION)),
        image_url: found.og_image.and_then(|i| absolute(base, &i)),
        site_name: found.og_site_name.and_then(|s| tidy(&s, MAX_SITE_NAME)),
        url: found
            .og_url
            .or(found.canonical)
            .and_then(|u| absolute(base, &u))
            .unwrap_or_else(|| base.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example/a/story?x=1").unwrap()
    }

    #[test]
    fn open_graph_comes_first_and_links_are_made_absolute() {
        let page = br#"<!doctype html><html><head>
            <title>Plain title</title>
            <meta name="description" content="plain description">
            <meta property="og:title" content="  The   &amp; story ">
            <meta property="og:description" content="What happened">
            <meta property="og:image" content="/img/cover.png">
            <meta property="og:site_name" content="News">
            <link rel="canonical" href="https://news.example/story">
            </head><body><p>text</p></body></html>"#;
        let meta = parse(page, &base());
        assert_eq!(meta.title.as_deref(), Some("The & story"));
        assert_eq!(meta.description.as_deref(), Some("What happened"));
        assert_eq!(
            meta.image_url.as_deref(),
            Some("https://news.example/img/cover.png")
        );
        assert_eq!(meta.site_name.as_deref(), Some("News"));
        assert_eq!(meta.url, "https://news.example/story");
    }

    #[test]
    fn html_metadata_fills_in_and_scripts_are_not_read_as_tags() {
        let page = br#"<html><head><script>var s = '<meta property="og:title" content="fake">';</script>
            <title>Only &lt;title&gt;</title><meta name="Description" content="desc"></head></html>"#;
        let meta = parse(page, &base());
        assert_eq!(meta.title.as_deref(), Some("Only <title>"));
        assert_eq!(meta.description.as_deref(), Some("desc"));
        assert_eq!(meta.image_url, None);
        assert_eq!(meta.url, base().to_string());
    }

    #[test]
    fn long_fields_are_cut_and_unsafe_images_dropped() {
        let long = "x".repeat(5000);
        let page = format!(
            r#"<meta property="og:title" content="{long}"><meta property="og:image" content="javascript:alert(1)">"#
        );
        let meta = parse(page.as_bytes(), &base());
        assert_eq!(meta.title.map(|t| t.chars().count()), Some(MAX_TITLE));
        assert_eq!(meta.image_url, None);
        assert!(parse(b"<p>nothing</p>", &base()).is_empty());
    }
}
