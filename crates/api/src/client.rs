//! Facts about the requesting client: its address (for throttling and audit), whether it came
//! over TLS, whether it already holds a response's version, and the tenant named by the host it
//! called.
//!
//! Forwarding headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are believed only when the
//! connection comes from one of the `TRUSTED_PROXIES`: any client can send them.

use std::net::IpAddr;

use actix_web::http::header::{EntityTag, HeaderMap, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest};
use domain::tenant::SYSTEM_TENANT_SUBDOMAIN;
use ipnet::IpNet;
use persistence::ClientInfo;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The proxies in front of the server (`TRUSTED_PROXIES`): addresses and CIDR ranges whose
/// forwarding headers count. Empty (the default): no header counts, the peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated IP addresses (`10.0.0.5`, `::1`) and CIDR ranges (`10.0.0.0/8`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8)"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
    /// rightmost `X-Forwarded-For` hop that is not a trusted proxy (hops to its left were
    /// written by the client and prove nothing). A hop that is not an IP address stops the
    /// walk: the peer is taken, as no proxy of ours wrote it.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_values(headers, X_FORWARDED_FOR).rev() {
            let Ok(ip) = strip_port(hop).parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
                return peer;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }

    /// Whether the client's connection was TLS: directly, or (from a trusted proxy) as the
    /// proxy's `X-Forwarded-Proto` says; its first value is the scheme the outermost proxy saw.
    pub fn came_over_tls(&self, direct_tls: bool, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        if direct_tls {
            return true;
        }
        peer.is_some_and(|peer| self.contains(peer))
            && forwarded_values(headers, X_FORWARDED_PROTO)
                .next()
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https"))
    }
}

/// The comma-separated values of every instance of a header, in order.
/// A value that is not visible ASCII counts as one unparseable value.
fn forwarded_values<'h>(headers: &'h HeaderMap, name: &'static str) -> std::vec::IntoIter<&'h str> {
    let values: Vec<&str> = headers
        .get_all(name)
        .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
        .map(str::trim)
        .collect();
    values.into_iter()
}

/// Whether the request's `If-None-Match` names `etag` (weakly, as RFC 9110 asks), so a 304
/// answers it.
pub fn holds(req: &HttpRequest, etag: &EntityTag) -> bool {
    match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        None => false,
    }
}

/// The client's IP address (see [`TrustedProxies::client_ip`]).
pub fn address(req: &HttpRequest, proxies: &TrustedProxies) -> String {
    match req.peer_addr() {
        Some(peer) => proxies.client_ip(peer.ip(), req.headers()).to_string(),
        None => "unknown".to_owned(),
    }
}

/// Whether the request reached us over TLS (see [`TrustedProxies::came_over_tls`]).
pub fn came_over_tls(req: &HttpRequest, proxies: &TrustedProxies) -> bool {
    proxies.came_over_tls(req.app_config().secure(), req.peer_addr().map(|a| a.ip()), req.headers())
}

pub fn info(req: &HttpRequest, proxies: &TrustedProxies) -> ClientInfo {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    ClientInfo { addr: Some(address(req, proxies)), user_agent }
}

/// The tenant a host names: `acme.prompts.example.com` and `acme.localhost` → `acme`; a bare
/// domain, `localhost` or an IP address → the system tenant.
pub fn tenant_from_host(host: &str) -> &str {
    let host = strip_port(host);
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return SYSTEM_TENANT_SUBDOMAIN;
    }
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [first, "localhost"] => first,
        [first, _, _, ..] => first,
        _ => SYSTEM_TENANT_SUBDOMAIN,
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(ip, _)| &ip[1..]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_come_from_the_first_label_of_a_subdomain() {
        assert_eq!(tenant_from_host("acme.prompts.example.com"), "acme");
        assert_eq!(tenant_from_host("acme.example.com:7860"), "acme");
        assert_eq!(tenant_from_host("acme.localhost:7860"), "acme");
        assert_eq!(tenant_from_host("localhost:7860"), "localhost");
        assert_eq!(tenant_from_host("example.com"), "localhost");
        assert_eq!(tenant_from_host("127.0.0.1:7860"), "localhost");
        assert_eq!(tenant_from_host("[::1]:7860"), "localhost");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                actix_web::http::header::HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_ranges() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,::1, fd00::/8,").unwrap();
        for trusted in ["10.1.2.3", "192.168.1.7", "::1", "fd12::1", "::ffff:10.9.9.9"] {
            assert!(proxies.contains(ip(trusted)), "{trusted}");
        }
        for untrusted in ["11.0.0.1", "192.168.1.8", "::2", "203.0.113.9"] {
            assert!(!proxies.contains(ip(untrusted)), "{untrusted}");
        }
        // A range written with host bits set still means the range.
        assert!(TrustedProxies::parse("10.0.0.1/8").unwrap().contains(ip("10.200.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.*", "1.2.3.4:80"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = headers(&[(X_FORWARDED_FOR, "198.51.100.1")]);
        // An untrusted peer's header is ignored, even with no proxies configured at all.
        assert_eq!(proxies.client_ip(ip("203.0.113.5"), &spoofed), ip("203.0.113.5"));
        assert_eq!(TrustedProxies::default().client_ip(ip("10.0.0.2"), &spoofed), ip("10.0.0.2"));
        // From a trusted peer, the header names the client.
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &spoofed), ip("198.51.100.1"));
        // No header: the peer.
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("10.0.0.2");
        let cases: &[(&[&str], &str)] = &[
            // The client prepended a fake hop; our proxy appended the real one.
            (&["1.1.1.1, 203.0.113.9"], "203.0.113.9"),
            // Trusted hops on the right are skipped.
            (&["1.1.1.1, 203.0.113.9, 10.0.0.7, 10.0.0.8"], "203.0.113.9"),
            // Several header lines read as one list, in order.
            (&["1.1.1.1", "203.0.113.9, 10.0.0.7"], "203.0.113.9"),
            // Ports and brackets are tolerated; IPv6 works.
            (&["203.0.113.9:4711"], "203.0.113.9"),
            (&["[2001:db8::1]:443"], "2001:db8::1"),
            (&["2001:db8::1"], "2001:db8::1"),
            // Only trusted hops: the leftmost is as far as we can see.
            (&["10.1.1.1, 10.0.0.7"], "10.1.1.1"),
            // Garbage where our proxies write: not believed, the peer is taken.
            (&["203.0.113.9, not-an-ip"], "10.0.0.2"),
            (&[""], "10.0.0.2"),
            (&["203.0.113.9, 10.0.0.7 extra"], "10.0.0.2"),
            (&["unknown"], "10.0.0.2"),
            // Garbage to the left of the client is the client's own business.
            (&["<script>, 203.0.113.9"], "203.0.113.9"),
        ];
        for (values, expected) in cases {
            let pairs: Vec<_> = values.iter().map(|v| (X_FORWARDED_FOR, *v)).collect();
            assert_eq!(proxies.client_ip(peer, &headers(&pairs)), ip(expected), "{values:?}");
        }
    }

    #[test]
    fn tls_counts_directly_or_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let https = headers(&[(X_FORWARDED_PROTO, "https")]);
        assert!(proxies.came_over_tls(true, Some(ip("203.0.113.5")), &HeaderMap::new()));
        assert!(proxies.came_over_tls(false, Some(ip("10.0.0.2")), &https));
        assert!(proxies.came_over_tls(
            false,
            Some(ip("10.0.0.2")),
            &headers(&[(X_FORWARDED_PROTO, "HTTPS, http")])
        ));
        assert!(!proxies.came_over_tls(false, Some(ip("203.0.113.5")), &https));
        assert!(!proxies.came_over_tls(false, None, &https));
        assert!(!proxies.came_over_tls(
            false,
            Some(ip("10.0.0.2")),
            &headers(&[(X_FORWARDED_PROTO, "http")])
        ));
        assert!(!proxies.came_over_tls(false, Some(ip("10.0.0.2")), &HeaderMap::new()));
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("10.0.0.1:5000"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
    }
}
