//! Where a console request came from, carried onto the API requests it makes: the socket peer
//! and `X-Forwarded-For`, so the API derives the same client address (docs/authentication.md#client-address)
//! for its rate limits and audit rows as for a request sent to it directly, and the request id,
//! so the log lines of both requests share it. Also whether the request reached accountd over
//! https, which decides the session cookie's `Secure` flag.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, ConsoleListener};

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone)]
pub struct Origin {
    peer: Option<ConnectInfo<SocketAddr>>,
    forwarded_for: Vec<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl Origin {
    pub fn of(parts: &Parts) -> Self {
        Self {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().copied(),
            forwarded_for: parts
                .headers
                .get_all(FORWARDED_FOR)
                .iter()
                .cloned()
                .collect(),
            request_id: parts.headers.get(REQUEST_ID).cloned(),
        }
    }

    /// Gives `request` (one to the API) this origin.
    pub fn apply<B>(&self, request: &mut Request<B>) {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        let headers = request.headers_mut();
        for value in &self.forwarded_for {
            headers.append(FORWARDED_FOR, value.clone());
        }
        if let Some(id) = &self.request_id {
            headers.insert(REQUEST_ID, id.clone());
        }
    }
}

/// Whether the browser reached accountd over https. accountd itself speaks plain http, so this is
/// what its configuration says: on the API listener, an https `ACCOUNTD_PUBLIC_BASE_URL` (the
/// address browsers use); on either listener, a trusted proxy's `X-Forwarded-Proto: https`. When
/// a proxy lists several schemes, any https among them counts: a `Secure` cookie sent over plain
/// http is only a session that does not work, a missing one a weaker session.
pub fn arrived_over_https(parts: &Parts, config: &Config) -> bool {
    if config.console == ConsoleListener::Api && config.public_base_url.starts_with("https://") {
        return true;
    }
    let from_trusted_proxy = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| {
            config
                .trusted_proxies
                .iter()
                .any(|proxy| proxy.contains(&peer.ip()))
        });
    from_trusted_proxy && forwarded_https(&parts.headers)
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get_all(FORWARDED_PROTO)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|scheme| scheme.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, proto: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/admin");
        if let Some(proto) = proto {
            builder = builder.header(FORWARDED_PROTO, proto);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    fn config(console: ConsoleListener, base: &str, proxies: &[&str]) -> Config {
        let mut config = Config::new("sqlite::memory:");
        config.console = console;
        config.public_base_url = base.to_owned();
        config.trusted_proxies = proxies.iter().map(|net| net.parse().unwrap()).collect();
        config
    }

    #[test]
    fn https_is_the_public_base_url_on_the_api_listener_or_a_trusted_proxys_word() {
        let direct = parts("203.0.113.9:5000", None);
        let api_https = config(ConsoleListener::Api, "https://accounts.example.com", &[]);
        assert!(arrived_over_https(&direct, &api_https));
        let api_http = config(ConsoleListener::Api, "http://127.0.0.1:8080", &[]);
        assert!(!arrived_over_https(&direct, &api_http));
        // The public base URL names the API listener, not the management one.
        let management = config(
            ConsoleListener::Management,
            "https://accounts.example.com",
            &["10.0.0.0/8"],
        );
        assert!(!arrived_over_https(&direct, &management));

        let proxied = parts("10.0.0.5:5000", Some("http, https"));
        assert!(arrived_over_https(&proxied, &management));
        assert!(!arrived_over_https(
            &parts("10.0.0.5:5000", Some("http")),
            &management
        ));
        // A client's own claim counts for nothing.
        let claimed = parts("203.0.113.9:5000", Some("https"));
        assert!(!arrived_over_https(&claimed, &management));
    }

    #[test]
    fn the_origin_travels_onto_the_api_request() {
        let mut incoming = Request::builder()
            .uri("/admin")
            .header(FORWARDED_FOR, "198.51.100.1")
            .header(FORWARDED_FOR, "10.0.0.7")
            .header(REQUEST_ID, "abc")
            .body(())
            .unwrap();
        let peer: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        incoming.extensions_mut().insert(ConnectInfo(peer));
        let (parts, ()) = incoming.into_parts();
        let origin = Origin::of(&parts);
        let mut outgoing = Request::builder().uri("/v2/accounts").body(()).unwrap();
        origin.apply(&mut outgoing);
        assert_eq!(
            outgoing
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| *address),
            Some(peer)
        );
        let forwarded: Vec<&str> = outgoing
            .headers()
            .get_all(FORWARDED_FOR)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(forwarded, ["198.51.100.1", "10.0.0.7"]);
        assert_eq!(outgoing.headers()[REQUEST_ID], "abc");
    }
}
