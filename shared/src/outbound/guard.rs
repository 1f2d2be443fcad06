//! The one guard every outbound request passes: which addresses the service
//! may connect to on its customers' behalf. A URL's literal address and
//! port are checked before a request is built; a host name is checked in
//! the HTTP client's resolver, on the very addresses the connection then
//! uses, so a second lookup cannot answer differently (DNS rebinding).
//!
//! Refused: loopback, private (RFC 1918), shared (100.64/10), link-local,
//! unique-local, multicast, unspecified, documentation, benchmarking and
//! reserved ranges, and IPv4 embedded in IPv6 (mapped, compatible, NAT64,
//! 6to4) whenever the embedded address would be refused. The local stack
//! allows loopback receivers, except on the stack's own ports (its
//! emulators, management API and runtime APIs). Operator-configured
//! endpoints (the push providers) pass as configured.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use ip_network::{Ipv4Network, Ipv6Network};

/// Why an address may not be reached. Names are what `refused_address`
/// failures record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Global,
    Loopback,
    Private,
    Shared,
    LinkLocal,
    UniqueLocal,
    Multicast,
    Unspecified,
    Documentation,
    /// Every other range that is not globally reachable (benchmarking,
    /// reserved, IETF protocol assignments, site-local, Teredo, NAT64
    /// local use).
    Reserved,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::Shared => "shared",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique-local",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        }
    }
}

/// The class of an address; IPv4 embedded in IPv6 is judged as the IPv4
/// address it carries.
pub fn class(ip: IpAddr) -> Class {
    match embedded(ip) {
        IpAddr::V4(v4) => class_v4(v4),
        IpAddr::V6(v6) => class_v6(v6),
    }
}

fn class_v4(ip: Ipv4Addr) -> Class {
    let net = Ipv4Network::from(ip);
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() {
        Class::Private
    } else if net.is_shared_address_space() {
        Class::Shared
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if ip.is_multicast() {
        Class::Multicast
    } else if ip.is_unspecified() || net.is_local_identification() {
        Class::Unspecified
    } else if ip.is_documentation() {
        Class::Documentation
    } else if net.is_global() {
        Class::Global
    } else {
        Class::Reserved
    }
}

fn class_v6(ip: Ipv6Addr) -> Class {
    let net = Ipv6Network::from(ip);
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_multicast() {
        Class::Multicast
    } else if ip.is_unique_local() {
        Class::UniqueLocal
    } else if ip.is_unicast_link_local() {
        Class::LinkLocal
    } else if net.is_documentation() {
        Class::Documentation
    } else if is_teredo(ip) || is_nat64_local(ip) || !net.is_unicast_global() {
        Class::Reserved
    } else {
        Class::Global
    }
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64's well-known prefix (`64:ff9b::/96`,
/// RFC 6052) and 6to4 (`2002::/16`, RFC 3056); otherwise the address.
fn embedded(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4() {
        // `::` and `::1` are IPv6's own unspecified and loopback.
        if !v6.is_unspecified() && !v6.is_loopback() {
            return IpAddr::V4(v4);
        }
    }
    let s = v6.segments();
    let low = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return low(s[6], s[7]);
    }
    if s[0] == 0x2002 {
        return low(s[1], s[2]);
    }
    ip
}

/// Teredo, `2001::/32` (RFC 4380): an IPv4 tunnel whose server and client
/// addresses the packet carries.
fn is_teredo(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    s[0] == 0x2001 && s[1] == 0
}

/// NAT64 for local use, `64:ff9b:1::/48` (RFC 8215).
fn is_nat64_local(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1
}

/// What a guarded connection was refused for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is not an http or https URL")]
    Scheme(String),
    #[error("the URL names no host")]
    NoHost,
    #[error("the host names a cloud metadata service")]
    Metadata,
    #[error("the address is {}", .0.name())]
    Address(Class),
    #[error("port {0} belongs to the local stack itself")]
    OwnPort(u16),
    #[error("the host name resolved to no address")]
    Unresolved,
}

/// Looks a host name up; the system resolver, or a map in tests.
pub trait Lookup: Send + Sync {
    fn lookup<'a>(&'a self, name: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (getaddrinfo on a blocking thread).
struct System;

impl Lookup for System {
    fn lookup<'a>(&'a self, name: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name, 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Fixed answers for some names (tests, and `CHAT_OUTBOUND_HOSTS`), the
/// system's for the rest. Every answer still passes the guard.
pub struct Hosts {
    names: HashMap<String, Vec<IpAddr>>,
}

impl Hosts {
    pub fn new(names: impl IntoIterator<Item = (String, IpAddr)>) -> Self {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in names {
            map.entry(name.to_ascii_lowercase()).or_default().push(ip);
        }
        Self { names: map }
    }
}

impl Lookup for Hosts {
    fn lookup<'a>(&'a self, name: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        match self.names.get(&name.to_ascii_lowercase()) {
            Some(ips) => Box::pin(std::future::ready(Ok(ips.clone()))),
            None => System.lookup(name),
        }
    }
}

/// Whom a call is for: a customer's server (a URL an app configured), or a
/// push provider the operator configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    Customer,
    Provider,
}

/// The policy: what may be reached, and how names are looked up.
#[derive(Clone)]
pub struct Guard {
    /// `Some`: loopback receivers are allowed (the local stack), except on
    /// these ports, which the stack itself serves.
    loopback: Option<Arc<[u16]>>,
    /// Operator-configured origins (`scheme://host:port`), reached as
    /// configured.
    trusted: Arc<[String]>,
    lookup: Arc<dyn Lookup>,
}

impl Default for Guard {
    /// Globally reachable addresses only, looked up by the system.
    fn default() -> Self {
        Self {
            loopback: None,
            trusted: Arc::from([]),
            lookup: Arc::new(System),
        }
    }
}

impl Guard {
    /// Loopback receivers allowed except on `own_ports`.
    pub fn allow_loopback(mut self, own_ports: Vec<u16>) -> Self {
        self.loopback = Some(own_ports.into());
        self
    }

    /// Origins the operator configured (push providers and their local
    /// emulators): a provider call to one passes the URL checks. Their
    /// names still resolve through the guard.
    pub fn trust(mut self, urls: &[&str]) -> Self {
        self.trusted = urls.iter().filter_map(|u| origin(u)).collect();
        self
    }

    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// The deployment's policy: the push providers it is configured with
    /// are trusted; loopback (but for the stack's own ports) only where
    /// `CHAT_HOOKS_ALLOW_LOOPBACK`; fixed host answers from
    /// `CHAT_OUTBOUND_HOSTS`.
    pub fn from_config(config: &crate::Config) -> Self {
        let mut guard = Self::default().trust(&[
            config.fcm_url.as_str(),
            config.fcm_token_url.as_str(),
            config.apns_url.as_deref().unwrap_or_default(),
        ]);
        if config.hooks_allow_loopback {
            guard = guard.allow_loopback(config.outbound_own_ports.clone());
        }
        if !config.outbound_hosts.is_empty() {
            guard = guard.with_lookup(Arc::new(Hosts::new(config.outbound_hosts.clone())));
        }
        guard
    }

    fn trusts(&self, url: &url::Url) -> bool {
        origin(url.as_str()).is_some_and(|o| self.trusted.contains(&o))
    }

    /// The checks a URL's text allows before any lookup: its scheme, a
    /// metadata host name, a literal address, and a loopback host's port.
    /// A provider call to a configured origin passes as configured.
    pub fn check_url(&self, url: &url::Url, to: Destination) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_string()));
        }
        if to == Destination::Provider && self.trusts(url) {
            return Ok(());
        }
        let port = url.port_or_known_default().unwrap_or(0);
        match url.host().ok_or(Refusal::NoHost)? {
            url::Host::Ipv4(ip) => self.check_address(IpAddr::V4(ip), port),
            url::Host::Ipv6(ip) => self.check_address(IpAddr::V6(ip), port),
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if is_metadata_name(&name) {
                    return Err(Refusal::Metadata);
                }
                if is_localhost(&name) {
                    return self.check_address(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                }
                Ok(())
            }
        }
    }

    /// Whether `ip` may be connected to on `port`.
    pub fn check_address(&self, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        match (class(ip), &self.loopback) {
            (Class::Global, _) => Ok(()),
            (Class::Loopback, Some(own)) if own.contains(&port) => Err(Refusal::OwnPort(port)),
            (Class::Loopback, Some(_)) => Ok(()),
            (other, _) => Err(Refusal::Address(other)),
        }
    }

    /// Looks `name` up and answers its addresses only if every one may be
    /// reached: the addresses the connection will use. Loopback is allowed
    /// only for `localhost` names (whose port the URL check saw), and only
    /// where loopback is allowed at all.
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let ips = self
            .lookup
            .lookup(&name)
            .await
            .map_err(ResolveError::Lookup)?;
        if ips.is_empty() {
            return Err(ResolveError::Refused(Refusal::Unresolved));
        }
        if is_metadata_name(&name) {
            return Err(ResolveError::Refused(Refusal::Metadata));
        }
        for ip in &ips {
            match class(*ip) {
                Class::Global => {}
                Class::Loopback if self.loopback.is_some() && is_localhost(&name) => {}
                other => return Err(ResolveError::Refused(Refusal::Address(other))),
            }
        }
        Ok(ips)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("lookup failed: {0}")]
    Lookup(std::io::Error),
}

/// reqwest's resolver hook: every name the client connects to goes through
/// [`Guard::resolve`].
pub(super) struct Resolver(pub Guard);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let ips = guard.resolve(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?
    ))
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Names cloud providers give their instance metadata services.
pub(crate) fn is_metadata_name(name: &str) -> bool {
    matches!(
        name,
        "metadata" | "metadata.google.internal" | "instance-data"
    ) || name.ends_with(".internal")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    #[test]
    fn classes_of_addresses_and_of_ipv4_inside_ipv6() {
        for (text, want) in [
            ("93.184.216.34", Class::Global),
            ("2606:4700::1111", Class::Global),
            ("127.0.0.1", Class::Loopback),
            ("127.1.2.3", Class::Loopback),
            ("::1", Class::Loopback),
            ("10.0.0.1", Class::Private),
            ("172.16.0.1", Class::Private),
            ("192.168.1.1", Class::Private),
            ("100.64.0.1", Class::Shared),
            ("169.254.169.254", Class::LinkLocal),
            ("fe80::1", Class::LinkLocal),
            ("fc00::1", Class::UniqueLocal),
            ("fd00:ec2::254", Class::UniqueLocal),
            ("224.0.0.1", Class::Multicast),
            ("ff02::1", Class::Multicast),
            ("ff0e::1", Class::Multicast),
            ("0.0.0.0", Class::Unspecified),
            ("0.1.2.3", Class::Unspecified),
            ("::", Class::Unspecified),
            ("192.0.2.1", Class::Documentation),
            ("2001:db8::1", Class::Documentation),
            ("198.18.0.1", Class::Reserved),
            ("240.0.0.1", Class::Reserved),
            ("255.255.255.255", Class::Reserved),
            ("fec0::1", Class::Reserved),
            ("2001:0:4136:e378::1", Class::Reserved),
            ("64:ff9b:1::a", Class::Reserved),
            // IPv4 inside IPv6: judged as the IPv4 address.
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:10.0.0.1", Class::Private),
            ("::169.254.169.254", Class::LinkLocal),
            ("::10.1.1.1", Class::Private),
            ("64:ff9b::a9fe:a9fe", Class::LinkLocal),
            ("64:ff9b::7f00:1", Class::Loopback),
            ("2002:a9fe:a9fe::1", Class::LinkLocal),
            ("2002:c0a8:0101::", Class::Private),
            ("::ffff:93.184.216.34", Class::Global),
            ("64:ff9b::5db8:d822", Class::Global),
        ] {
            assert_eq!(class(ip(text)), want, "{text}");
        }
    }

    #[test]
    fn urls_with_literal_addresses_are_checked_before_any_lookup() {
        let aws = Guard::default();
        for url in [
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",
            "https://[fc00::1]/",
            "https://[::169.254.169.254]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "http://localhost:8080/",
            "https://0.0.0.0/",
            // Spellings the URL parser turns into these addresses.
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://metadata.google.internal/",
            "ftp://example.com/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            assert!(
                aws.check_url(&parsed, Destination::Customer).is_err(),
                "{url} passed"
            );
        }
        for url in ["https://93.184.216.34/", "https://example.com/hook"] {
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(
                aws.check_url(&parsed, Destination::Customer),
                Ok(()),
                "{url}"
            );
        }
    }

    #[test]
    fn the_local_stack_reaches_loopback_but_never_its_own_ports() {
        let local = Guard::default().allow_loopback(vec![8000, 3001]);
        let check = |u: &str| local.check_url(&url::Url::parse(u).unwrap(), Destination::Customer);
        assert_eq!(check("http://127.0.0.1:4567/hook"), Ok(()));
        assert_eq!(check("http://localhost:4567/hook"), Ok(()));
        assert_eq!(check("http://127.0.0.1:8000/"), Err(Refusal::OwnPort(8000)));
        assert_eq!(check("http://[::1]:3001/"), Err(Refusal::OwnPort(3001)));
        assert_eq!(check("http://localhost:3001/"), Err(Refusal::OwnPort(3001)));
        assert_eq!(
            check("http://[::ffff:127.0.0.1]:8000/"),
            Err(Refusal::OwnPort(8000))
        );
        // Other private ranges stay refused.
        assert_eq!(
            check("https://10.0.0.1/"),
            Err(Refusal::Address(Class::Private))
        );
        // A configured push endpoint on an own port passes as configured,
        // for a provider call only.
        let trusting = local.clone().trust(&["http://127.0.0.1:8000/fcm"]);
        let push = url::Url::parse("http://127.0.0.1:8000/v1/send").unwrap();
        assert_eq!(trusting.check_url(&push, Destination::Provider), Ok(()));
        assert_eq!(
            trusting.check_url(&push, Destination::Customer),
            Err(Refusal::OwnPort(8000))
        );
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let hosts = Arc::new(Hosts::new([
            ("private.test".to_string(), ip("10.1.2.3")),
            ("metadata.test".to_string(), ip("169.254.169.254")),
            ("nat64.test".to_string(), ip("64:ff9b::a9fe:a9fe")),
            ("loopback.test".to_string(), ip("127.0.0.1")),
            ("mixed.test".to_string(), ip("93.184.216.34")),
            ("mixed.test".to_string(), ip("192.168.0.1")),
            ("public.test".to_string(), ip("93.184.216.34")),
            ("localhost".to_string(), ip("127.0.0.1")),
        ]));
        let aws = Guard::default().with_lookup(hosts.clone());
        let local = Guard::default().allow_loopback(vec![]).with_lookup(hosts);
        for name in [
            "private.test",
            "metadata.test",
            "nat64.test",
            "loopback.test",
            "mixed.test",
        ] {
            assert!(
                matches!(aws.resolve(name).await, Err(ResolveError::Refused(_))),
                "{name}"
            );
            // A name that resolves to loopback is no local receiver either:
            // the port check saw only `localhost`.
            assert!(
                matches!(local.resolve(name).await, Err(ResolveError::Refused(_))),
                "{name}"
            );
        }
        assert_eq!(
            aws.resolve("public.test").await.unwrap(),
            vec![ip("93.184.216.34")]
        );
        assert!(aws.resolve("localhost").await.is_err());
        assert_eq!(
            local.resolve("localhost").await.unwrap(),
            vec![ip("127.0.0.1")]
        );
    }
}
