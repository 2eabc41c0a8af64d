//! Where a webhook may be sent: `https://` to a public address only, so an
//! admin cannot make the backend POST into the network it runs in (cloud
//! metadata, the database, the broker's admin port). Judged at registration
//! and again at each delivery, where the vetted addresses are the ones
//! connected to, so DNS cannot be swapped between the check and the
//! connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotHttps,
    NonPublic,
}

impl Refusal {
    /// For the admin (the API's 422 and a delivery's `last_error`).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotHttps => "url must be https://",
            Refusal::NonPublic => "refused: non-public address",
        }
    }
}

/// A vetted target: connect to `addrs` for `host` (empty when the check is
/// lifted or the host is an address literal, which needs no resolving).
#[derive(Debug)]
pub struct Vetted {
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// The scheme rule alone (no DNS), for registration and delivery alike.
pub fn check_scheme(url: &Url, allow_private: bool) -> Result<(), Refusal> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_private => Ok(()),
        _ => Err(Refusal::NotHttps),
    }
}

/// How long a target's name may take to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Resolves the URL's host and judges every address it has. `Ok(None)` when
/// the name does not resolve (a registration accepts it: it is judged again
/// at delivery).
pub async fn vet(url: &Url, allow_private: bool) -> Result<Option<Vetted>, Refusal> {
    check_scheme(url, allow_private)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = url.host().ok_or(Refusal::NonPublic)?;
    let addrs: Vec<SocketAddr> = match host {
        Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        // A resolver that does not answer in time is a name that does not
        // resolve yet: a registration is not held on it.
        Host::Domain(name) => {
            match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port))).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    };
    if addrs.is_empty() {
        return Ok(None);
    }
    // One non-public address is enough to refuse: which one the connection
    // would take is not ours to choose.
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(Refusal::NonPublic);
    }
    let host = match host {
        Host::Domain(name) => name.to_owned(),
        _ => String::new(),
    };
    Ok(Some(Vetted { host, addrs }))
}

/// Whether an address is on the public internet: not loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast, reserved,
/// documentation or benchmarking, nor one of these wrapped in IPv6
/// (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", including 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    let embedded_v4 = || Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8);
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) reach the
    // IPv4 address they carry: judge that.
    if seg[..5] == [0, 0, 0, 0, 0] && seg[5] == 0xffff {
        return is_public_v4(embedded_v4());
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4());
    }
    // 6to4 (2002:aabb:ccdd::) carries its IPv4 address in segments 1 and 2.
    if seg[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8));
    }
    // Only global unicast (2000::/3) is public; this also rules out ::, ::1,
    // IPv4-compatible ::/96, unique local fc00::/7, link-local fe80::/10,
    // multicast ff00::/8 and the discard prefix 100::/64.
    if seg[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23: IETF protocol assignments (Teredo, benchmarking, ORCHID).
    let assignments = seg[0] == 0x2001 && seg[1] < 0x0200;
    let documentation = (seg[0] == 0x2001 && seg[1] == 0x0db8) || (seg[0] & 0xfff0) == 0x3ff0;
    let special = assignments || documentation;
    !special
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        let table = [
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("100.63.255.255", true),
            ("100.128.0.1", true),
            ("172.32.0.1", true),
            ("2a00:1450:4001:80b::200e", true),
            ("2606:4700::1111", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::", false),
            ("::1", false),
            ("::127.0.0.1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:7f00:1::", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("ff02::1", false),
            ("100::1", false),
            ("2001:db8::1", false),
            ("2001::1", false),
            ("2001:2::1", false),
            ("3fff::1", false),
        ];
        for (addr, public) in table {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(is_public(ip), public, "{addr}");
        }
    }

    #[tokio::test]
    async fn urls_are_vetted() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(vet(&url("http://8.8.8.8/h"), false).await.unwrap_err(), Refusal::NotHttps);
        assert_eq!(vet(&url("ftp://8.8.8.8/h"), true).await.unwrap_err(), Refusal::NotHttps);
        assert_eq!(vet(&url("https://127.0.0.1/h"), false).await.unwrap_err(), Refusal::NonPublic);
        assert_eq!(vet(&url("https://[::ffff:10.0.0.1]/h"), false).await.unwrap_err(), Refusal::NonPublic);
        assert_eq!(vet(&url("https://localhost/h"), false).await.unwrap_err(), Refusal::NonPublic);
        let ok = vet(&url("https://8.8.8.8:8443/h"), false).await.unwrap().unwrap();
        assert_eq!(ok.addrs, vec!["8.8.8.8:8443".parse::<SocketAddr>().unwrap()]);
        assert!(vet(&url("http://127.0.0.1:9/h"), true).await.unwrap().is_some());
        // A name that does not resolve (yet) is judged at delivery.
        assert!(vet(&url("https://no-such-host.invalid/h"), false).await.unwrap().is_none());
    }
}
