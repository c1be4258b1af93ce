//! Facts about the requesting client: its address (for throttling and audit) and the tenant
//! named by the host it called.

use actix_web::HttpRequest;
use domain::tenant::SYSTEM_TENANT_SUBDOMAIN;
use persistence::ClientInfo;

/// The client's IP address. Proxy headers count only when `TRUST_PROXY_HEADERS` is on, since
/// any client can send them.
pub fn address(req: &HttpRequest, trust_proxy_headers: bool) -> String {
    if trust_proxy_headers && let Some(addr) = req.connection_info().realip_remote_addr() {
        return strip_port(addr).to_owned();
    }
    req.peer_addr().map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

pub fn info(req: &HttpRequest, trust_proxy_headers: bool) -> ClientInfo {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    ClientInfo { addr: Some(address(req, trust_proxy_headers)), user_agent }
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

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("10.0.0.1:5000"), "10.0.0.1");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
    }
}
