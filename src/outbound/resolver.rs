//! The DNS resolver of accountd's outbound HTTP clients. It resolves as the system does and then
//! refuses names with a forbidden address, so the address checked is the address connected to:
//! a name that resolved to a public address when it was saved and to an internal one now
//! (DNS rebinding) is refused at the connection. IP-literal hosts never reach a resolver; the
//! clients check them with [`DestinationPolicy::check_url`] before each request.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{DestinationPolicy, DestinationRefused};

/// Resolves through the system and applies a [`DestinationPolicy`] to the answer.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    policy: DestinationPolicy,
}

impl GuardedResolver {
    pub fn new(policy: DestinationPolicy) -> Self {
        Self { policy }
    }

    /// The addresses of `host`, or [`DestinationRefused`] when the policy forbids any of them.
    pub async fn lookup(
        self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        // Port 0: the client puts the URL's port in.
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        self.policy
            .check_addresses(addresses.iter().map(SocketAddr::ip))
            .map_err(
                |refused: DestinationRefused| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(refused)
                },
            )?;
        Ok(addresses)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolver.lookup(&host).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::is_refusal;

    const STRICT: DestinationPolicy = DestinationPolicy {
        allow_private: false,
    };

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let refused = GuardedResolver::new(STRICT).lookup("localhost").await;
        let error = refused.expect_err("localhost resolves to loopback");
        assert!(
            error.downcast_ref::<DestinationRefused>().is_some(),
            "{error}"
        );
        let allowed = GuardedResolver::new(DestinationPolicy {
            allow_private: true,
        })
        .lookup("localhost")
        .await
        .unwrap();
        assert!(allowed.iter().all(|address| address.ip().is_loopback()));
        assert!(!allowed.is_empty());
    }

    /// The client really asks this resolver: a request to a loopback listener through the name
    /// `localhost` fails with the policy's refusal and never connects.
    #[tokio::test]
    async fn an_http_client_with_the_resolver_never_connects_to_a_refused_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            tokio::time::timeout(std::time::Duration::from_millis(500), listener.accept())
                .await
                .is_ok()
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(STRICT.resolver())
            .build()
            .unwrap();
        let error = client
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .expect_err("refused");
        assert!(is_refusal(&error), "{error:?}");
        assert!(!accepted.await.unwrap(), "the listener was connected to");
    }
}
