//! Client addresses: which peers are trusted proxies, who the client behind
//! them is, and the block an address is counted in.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An address range, `10.0.0.0/8` or `2001:db8::/32` (a bare address is its
/// own range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                masked(u32::from(net).into(), self.prefix, 32) == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                masked(u128::from(net), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 { 0 } else { bits >> (width - prefix) }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket
/// reports IPv4 peers) is the IPv4 address it carries.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an address range such as 10.0.0.0/8 or 2001:db8::/32");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let network = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed
/// (`http.trusted_proxies`, `ELDERCARE__HTTP__TRUSTED_PROXIES`): a list, or
/// one string of comma-separated ranges. Empty by default: the peer is the
/// client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(addr))
    }

    /// The client: the peer itself unless it is a trusted proxy; then the
    /// rightmost hop of `X-Forwarded-For` (the values of every such header,
    /// in order) that is not a trusted proxy. A hop that is not an address
    /// ends the walk at the last address a trusted proxy vouched for, so a
    /// client cannot pose as another by writing the header itself.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|h| h.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.parse::<IpAddr>() else { return client };
            client = canonical(addr);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            One(String),
            Many(Vec<String>),
        }
        let given = match Given::deserialize(d)? {
            Given::One(text) => text.split(',').map(str::to_owned).collect(),
            Given::Many(list) => list,
        };
        given
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

/// The block a client address is counted in: an IPv6 host usually holds a
/// whole /64, so counting each of its addresses apart would give it 2^64
/// tries; IPv4 addresses count one by one.
pub fn counted_block(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn ranges_contain_their_addresses() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.1.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(!net.contains(ip("11.0.0.1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::5")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("192.168.1.7".parse::<Cidr>().unwrap().contains(ip("192.168.1.7")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // Not a proxy: the header is the client's own words.
        assert_eq!(trusted.client(ip("203.0.113.9"), ["198.51.100.1"]), ip("203.0.113.9"));
        // The proxy appends the peer it saw: the rightmost untrusted hop.
        assert_eq!(trusted.client(ip("10.0.0.2"), ["1.2.3.4, 198.51.100.1"]), ip("198.51.100.1"));
        // Chained proxies are skipped, across several headers.
        assert_eq!(trusted.client(ip("10.0.0.2"), ["198.51.100.1", "10.0.0.3"]), ip("198.51.100.1"));
        // Garbage ends the walk at what a proxy vouched for.
        assert_eq!(trusted.client(ip("10.0.0.2"), ["198.51.100.1, junk, 10.0.0.5"]), ip("10.0.0.5"));
        // No header: the proxy is the client.
        assert_eq!(trusted.client(ip("10.0.0.2"), []), ip("10.0.0.2"));
        // Nobody trusted: the peer, whatever it says.
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), ["1.1.1.1"]), ip("10.0.0.2"));
    }

    #[test]
    fn proxies_are_given_as_a_list_or_one_string() {
        let from_env: TrustedProxies = serde_json::from_str(r#""10.0.0.0/8, 2001:db8::/32""#).unwrap();
        assert!(from_env.trusts(ip("2001:db8::1")) && from_env.trusts(ip("10.1.1.1")));
        let from_file: TrustedProxies = serde_json::from_str(r#"["127.0.0.1"]"#).unwrap();
        assert!(from_file.trusts(ip("127.0.0.1")));
        assert!(serde_json::from_str::<TrustedProxies>(r#""10.0.0.0/99""#).is_err());
        assert!(serde_json::from_str::<TrustedProxies>(r#""""#).unwrap().0.is_empty());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(counted_block(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(counted_block(ip("2001:db8:1:2:ffff::9")), counted_block(ip("2001:db8:1:2::1")));
        assert_ne!(counted_block(ip("2001:db8:1:3::1")), counted_block(ip("2001:db8:1:2::1")));
        assert_eq!(counted_block(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(counted_block(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
