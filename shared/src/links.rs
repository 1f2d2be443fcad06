//! Links one user puts in front of others (attachment and avatar URLs):
//! `https`, or `http` to a loopback host (the local stack); a host that is
//! not a cloud metadata service or link-local; nothing around it. Clients put
//! these into `href` and `src`, so `javascript:`, `data:` and `file:` never
//! pass.

use std::borrow::Cow;
use std::net::IpAddr;

use validator::ValidationError;

use crate::outbound::guard::{Destination, Guard};

/// Why a link is refused, or nothing.
pub fn problem(link: &str) -> Option<&'static str> {
    checked(link).err()
}

/// Why a URL the service itself calls (a webhook, a before-send hook) is
/// refused, or nothing: a link's rules, then the outbound guard's checks of
/// what the URL names (a literal address's class, a loopback host's port; a
/// name's addresses are checked again at every connection).
pub fn hook_problem(link: &str, guard: &Guard) -> Option<String> {
    if let Err(why) = checked(link) {
        return Some(why.to_string());
    }
    let url = url::Url::parse(link).ok()?;
    guard
        .check_url(&url, Destination::Customer)
        .err()
        .map(|refusal| format!("a hook URL may not be called: {refusal}"))
}

/// Whether the link's host is a loopback one, or why it is refused.
fn checked(link: &str) -> Result<bool, &'static str> {
    if link.trim() != link || link.is_empty() {
        return Err("a link has no surrounding whitespace");
    }
    let Ok(url) = url::Url::parse(link) else {
        return Err("a link is an absolute https URL");
    };
    let Some(host) = url.host() else {
        return Err("a link names a host");
    };
    let loopback = match &host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "metadata" | "metadata.google.internal" | "instance-data"
            ) || name.ends_with(".internal")
            {
                return Err("a link may not point at a metadata service");
            }
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => {
            if ip.is_link_local() || ip.is_unspecified() {
                return Err("a link may not point at a link-local address");
            }
            ip.is_loopback()
        }
        url::Host::Ipv6(ip) => {
            let ip = IpAddr::V6(*ip).to_canonical();
            let link_local = match ip {
                IpAddr::V4(v4) => v4.is_link_local(),
                IpAddr::V6(v6) => {
                    (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.segments()[0] == 0xfd00
                }
            };
            if link_local || ip.is_unspecified() {
                return Err("a link may not point at a link-local address");
            }
            ip.is_loopback()
        }
    };
    match url.scheme() {
        "https" => Ok(loopback),
        "http" if loopback => Ok(true),
        _ => Err("a link is an https URL (http only to the local stack)"),
    }
}

/// For `#[validate(custom(function = "crate::links::validate"))]`.
pub fn validate(link: &str) -> Result<(), ValidationError> {
    match problem(link) {
        None => Ok(()),
        Some(why) => Err(ValidationError::new("unsafe_link").with_message(Cow::Borrowed(why))),
    }
}

#[cfg(test)]
mod tests {
    use super::{hook_problem, problem};
    use crate::outbound::guard::Guard;

    /// Hooks the service calls itself: loopback only where allowed (the
    /// local stack) and never on its own ports; never a private, link-local
    /// or metadata address.
    #[test]
    fn hook_urls_reach_loopback_only_where_allowed() {
        let aws = Guard::default();
        let local = Guard::default().allow_loopback(vec![3001]);
        for loopback in [
            "http://127.0.0.1:8080/hook",
            "https://localhost/hook",
            "http://[::1]:9/h",
        ] {
            assert!(hook_problem(loopback, &local).is_none(), "{loopback}");
            assert!(hook_problem(loopback, &aws).is_some(), "{loopback}");
        }
        assert!(hook_problem("http://127.0.0.1:3001/@connections/x", &local).is_some());
        assert!(hook_problem("https://hooks.example.com/chat", &aws).is_none());
        for bad in [
            "http://hooks.example.com/chat",
            "https://169.254.169.254/latest",
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",
            "https://[fc00::1]/",
            "https://[::169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "javascript:alert(1)",
        ] {
            assert!(hook_problem(bad, &local).is_some(), "{bad}");
            assert!(hook_problem(bad, &aws).is_some(), "{bad}");
        }
    }

    #[test]
    fn only_https_and_local_http_pass() {
        for ok in [
            "https://cdn.example.com/a.png",
            "https://chat-uploads.s3.us-east-1.amazonaws.com/dev/c/x.png?X-Amz-Signature=1",
            "http://127.0.0.1:9000/chat-uploads/dev/c/x.png",
            "http://localhost:9000/a",
            "http://[::1]:9000/a",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "http://example.com/a.png",
            " https://example.com/a.png",
            "https://example.com/a.png\n",
            "//example.com/a.png",
            "https://169.254.169.254/latest/meta-data/",
            "https://2852039166/latest/meta-data/",
            "https://[fd00:ec2::254]/latest/meta-data/",
            "https://[::ffff:169.254.169.254]/",
            "https://metadata.google.internal/computeMetadata/v1/",
            "ftp://example.com/a",
            "",
        ] {
            assert!(problem(bad).is_some(), "{bad:?} should be refused");
        }
    }
}
