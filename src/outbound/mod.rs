//! Requests to destinations that an admin chose (webhook URLs, OpenID Connect providers and the
//! endpoints their discovery documents name): which ones may be reached. A URL is judged when it
//! is saved and again on every connection, where the address a host name resolves to is checked
//! by the HTTP client's own resolver, so a name that later points inside (DNS rebinding) is
//! refused all the same.

mod address;
mod resolver;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use address::is_forbidden;
pub use resolver::GuardedResolver;

/// The words of every refusal: the `422` detail and the failed delivery's `error_detail`.
pub const NOT_ALLOWED: &str = "destination is not allowed";

/// How long saving waits for a host name to resolve; a name that does not resolve in time is
/// judged again when accountd connects.
const SAVE_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A destination the policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("destination is not allowed")]
pub struct DestinationRefused;

/// Which destinations may be reached. By default only `https` URLs without user-info whose
/// addresses are globally reachable; `allow_private` (development and tests) lifts every rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    pub allow_private: bool,
}

impl DestinationPolicy {
    /// What the URL alone shows: the scheme, user-info, and a host given as an IP address.
    /// Host names are judged by the addresses they resolve to ([`Self::check_url_and_resolve`],
    /// [`GuardedResolver`]).
    pub fn check_url(self, raw: &str) -> Result<(), DestinationRefused> {
        let url = url::Url::parse(raw).map_err(|_| DestinationRefused)?;
        if self.allow_private {
            return Ok(());
        }
        if url.scheme() != "https" || !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationRefused);
        }
        match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => Ok(()),
            Some(url::Host::Ipv4(ip)) if !is_forbidden(IpAddr::V4(ip)) => Ok(()),
            Some(url::Host::Ipv6(ip)) if !is_forbidden(IpAddr::V6(ip)) => Ok(()),
            _ => Err(DestinationRefused),
        }
    }

    /// [`Self::check_url`], and a host name resolved now: refused when any of its addresses is
    /// forbidden. A name that does not resolve is accepted; the connection checks it again.
    pub async fn check_url_and_resolve(self, raw: &str) -> Result<(), DestinationRefused> {
        self.check_url(raw)?;
        if self.allow_private {
            return Ok(());
        }
        let url = url::Url::parse(raw).map_err(|_| DestinationRefused)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        match tokio::time::timeout(SAVE_RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port)))
            .await
        {
            Ok(Ok(addresses)) => self.check_addresses(addresses.map(|address| address.ip())),
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }

    /// Refuses a set of resolved addresses when any of them is forbidden.
    pub fn check_addresses(
        self,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), DestinationRefused> {
        if self.allow_private {
            return Ok(());
        }
        if addresses.into_iter().any(is_forbidden) {
            return Err(DestinationRefused);
        }
        Ok(())
    }

    /// The resolver an HTTP client under this policy must use.
    pub fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver::new(self))
    }
}

/// Whether a client error was this policy's refusal (from the resolver, anywhere in its chain).
pub fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.downcast_ref::<DestinationRefused>().is_some() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DestinationPolicy = DestinationPolicy {
        allow_private: false,
    };
    const DEVELOPMENT: DestinationPolicy = DestinationPolicy {
        allow_private: true,
    };

    #[test]
    fn urls_are_judged_by_scheme_user_info_and_literal_address() {
        for allowed in [
            "https://hooks.example.com/otp",
            "https://hooks.example.com:8443/otp?x=1",
            "https://8.8.8.8/x",
            "https://[2606:4700:4700::1111]/x",
            "https://localhost/x",
        ] {
            assert_eq!(STRICT.check_url(allowed), Ok(()), "{allowed}");
        }
        for refused in [
            "http://hooks.example.com/otp",
            "https://user@hooks.example.com/",
            "https://user:secret@hooks.example.com/",
            "https://:secret@hooks.example.com/",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0.0.0.0/",
            "https://10.0.0.1/",
            "https://172.20.0.1/",
            "https://192.168.0.10/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "ftp://hooks.example.com/",
            "not a url",
        ] {
            assert_eq!(
                STRICT.check_url(refused),
                Err(DestinationRefused),
                "{refused}"
            );
        }
        for anything in [
            "http://127.0.0.1:9/",
            "http://user:pass@localhost/",
            "https://169.254.169.254/",
        ] {
            assert_eq!(DEVELOPMENT.check_url(anything), Ok(()), "{anything}");
        }
    }

    #[tokio::test]
    async fn saving_resolves_host_names() {
        assert_eq!(
            STRICT.check_url_and_resolve("https://localhost:9/x").await,
            Err(DestinationRefused)
        );
        assert_eq!(
            DEVELOPMENT
                .check_url_and_resolve("https://localhost:9/x")
                .await,
            Ok(())
        );
        // A name that does not resolve (the reserved .invalid domain) is left to the connection.
        assert_eq!(
            STRICT
                .check_url_and_resolve("https://hooks.invalid/x")
                .await,
            Ok(())
        );
    }

    #[test]
    fn any_forbidden_address_refuses_a_name() {
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(STRICT.check_addresses([public]), Ok(()));
        assert_eq!(
            STRICT.check_addresses([public, private]),
            Err(DestinationRefused)
        );
        assert_eq!(DEVELOPMENT.check_addresses([private]), Ok(()));
    }
}
