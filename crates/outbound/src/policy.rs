//! Which addresses outbound calls may reach, and the resolver that enforces it after DNS.
//!
//! The check runs on resolved addresses, not on names, so a public-looking name that resolves
//! to an internal address (or is re-pointed there later, DNS rebinding) is still refused: the
//! connection only ever uses addresses that passed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where outbound calls may go.
///
/// Cloud metadata services, link-local, unspecified, multicast, broadcast and reserved addresses
/// are always refused: nothing legitimate lives there and they are the classic targets of
/// server-side request forgery. Loopback and private networks (RFC 1918, CGNAT, IPv6 unique
/// local) are refused unless `allow_private_networks` is set, because self-hosted AI servers
/// (LM Studio, Ollama, llama.cpp) and in-house identity providers often live there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundPolicy {
    pub allow_private_networks: bool,
}

/// How an address is classified, before the policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address.
    Public,
    /// Loopback, RFC 1918, CGNAT or IPv6 unique local: allowed only with private networks.
    Private,
    /// Metadata, link-local, unspecified, multicast, broadcast or reserved: never allowed.
    Forbidden,
}

impl OutboundPolicy {
    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Private => self.allow_private_networks,
            AddressClass::Forbidden => false,
        }
    }
}

/// Classifies an address. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible,
/// NAT64) are classified by the IPv4 address they carry, so `::ffff:169.254.169.254` is as
/// forbidden as `169.254.169.254`.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    let forbidden = a == 0 // "this network", including 0.0.0.0
        || (a == 169 && b == 254) // link-local, including 169.254.169.254 (AWS, GCP, Azure metadata)
        || ip == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud metadata
        || a >= 224; // multicast 224/4, reserved 240/4 and broadcast 255.255.255.255
    let private = a == 127 // loopback
        || a == 10
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 100 && (64..128).contains(&b)); // CGNAT 100.64/10
    if forbidden {
        AddressClass::Forbidden
    } else if private {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// AWS's IPv6 metadata address; it sits inside the unique-local range but is never allowed.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    let forbidden = ip.is_unspecified()
        || ip == AWS_METADATA_V6
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xff00) == 0xff00; // multicast ff00::/8
    let private = ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfec0; // deprecated site-local fec0::/10
    if forbidden {
        AddressClass::Forbidden
    } else if private {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`)
/// or NAT64 (`64:ff9b::a.b.c.d`) address. `::` and `::1` are IPv6's own and embed nothing.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let low = Ipv4Addr::new(a, b, c, d);
    let compatible = s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback();
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (compatible || nat64).then_some(low)
}

/// A failure of [`PolicyResolver`], recognised again when reqwest hands it back wrapped.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// The name does not resolve.
    NotFound { host: String },
    /// The name resolved, but only to addresses the policy refuses.
    NotAllowed { host: String, private_only: bool },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NotFound { host } => write!(f, "{host} does not resolve"),
            ResolveError::NotAllowed { host, private_only } => {
                write!(f, "{host} resolves only to {}", refused_addresses(*private_only))
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// How refused addresses are described: the class, never the addresses themselves, so errors
/// do not map out internal networks.
pub(crate) fn refused_addresses(private_only: bool) -> &'static str {
    if private_only {
        "loopback or private-network addresses, which outbound calls may not reach here"
    } else {
        "link-local, metadata or other internal addresses, which outbound calls may never reach"
    }
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows.
pub(crate) struct PolicyResolver {
    pub(crate) policy: OutboundPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts in the URL's port (or the scheme's) afterwards.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| ResolveError::NotFound { host: host.clone() })?
                .collect();
            if resolved.is_empty() {
                return Err(ResolveError::NotFound { host }.into());
            }
            let allowed: Vec<SocketAddr> =
                resolved.iter().copied().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                let private_only = resolved.iter().all(|a| classify(a.ip()) == AddressClass::Private);
                return Err(ResolveError::NotAllowed { host, private_only }.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(raw: &str) -> AddressClass {
        classify(raw.parse().unwrap())
    }

    #[test]
    fn metadata_link_local_and_special_addresses_are_forbidden() {
        for raw in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert_eq!(class(raw), AddressClass::Forbidden, "{raw}");
        }
    }

    #[test]
    fn loopback_and_private_ranges_are_private() {
        for raw in [
            "127.0.0.1",
            "127.255.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
        ] {
            assert_eq!(class(raw), AddressClass::Private, "{raw}");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for raw in
            ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700::1111", "::ffff:1.1.1.1"]
        {
            assert_eq!(class(raw), AddressClass::Public, "{raw}");
        }
    }

    #[test]
    fn the_policy_lets_private_networks_through_only_when_asked() {
        let strict = OutboundPolicy { allow_private_networks: false };
        let open = OutboundPolicy { allow_private_networks: true };
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(!strict.allows(loopback));
        assert!(open.allows(loopback));
        assert!(!open.allows(metadata));
        assert!(strict.allows("8.8.8.8".parse().unwrap()));
    }
}
