//! The client address (docs/authentication.md#client-address): the socket peer, or — only when that
//! peer is a configured trusted proxy — the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy. Anything else in `X-Forwarded-For` is the client's own claim and ignored.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// What per-address limits and throttle keys count: an IPv4 address as itself, an IPv6
    /// address as its /64, since one subscriber usually holds a whole /64 and could otherwise
    /// step through 2^64 addresses to dodge every limit. IPv4-mapped IPv6 counts as IPv4.
    pub fn bucket(self) -> IpAddr {
        match self.0.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
            v4 => v4,
        }
    }

    /// The bucket as the throttle tables and the audit trail's throttle keys spell it: an IPv6
    /// bucket carries its prefix length, so it cannot be mistaken for a single address.
    pub fn bucket_key(self) -> String {
        match self.bucket() {
            IpAddr::V6(network) => format!("{network}/64"),
            v4 => v4.to_string(),
        }
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| {
                peer.ip()
            });
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|address| !is_trusted(address))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ipv6_clients_count_as_their_slash_64_and_mapped_ipv4_as_ipv4() {
        let one = ClientAddress("2001:db8:1:2:aaaa::1".parse().unwrap());
        let neighbour = ClientAddress("2001:db8:1:2:ffff::9".parse().unwrap());
        let elsewhere = ClientAddress("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one.bucket(), neighbour.bucket());
        assert_ne!(one.bucket(), elsewhere.bucket());
        assert_eq!(one.bucket_key(), "2001:db8:1:2::/64");
        let mapped = ClientAddress("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.bucket_key(), "192.0.2.7");
        assert_eq!(
            ClientAddress("192.0.2.7".parse().unwrap()).bucket_key(),
            "192.0.2.7"
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers("198.51.100.1");
        assert_eq!(client_address(stranger, &spoofed, &trusted), stranger);
        assert_eq!(
            client_address(proxy, &headers("198.51.100.1, 10.0.0.7"), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        // The client may prepend anything; only the right-most untrusted entry counts.
        assert_eq!(
            client_address(proxy, &headers("1.2.3.4, 198.51.100.1"), &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_address(proxy, &spoofed, &[]), proxy);
    }
}
