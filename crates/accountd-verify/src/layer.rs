//! A tower layer that verifies the account token of every request before the inner service sees
//! it: refused requests are answered `401` (or `503`) by the layer, accepted ones carry their
//! [`AccountIdentity`] in the request's extensions.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::identity::AccountIdentity;
use crate::verifier::Verifier;

/// Verifies the account token of every request it wraps. Handlers behind it read the identity
/// with `Extension<AccountIdentity>`, or with [`VerifiedAccount`](crate::VerifiedAccount) when the
/// router's state provides a [`Verifier`].
///
/// With axum, `Router::route_layer` guards only the routes added before it (an unknown path
/// still answers `404`), `Router::layer` every request.
#[derive(Debug, Clone)]
pub struct AccountTokenLayer {
    verifier: Verifier,
}

impl AccountTokenLayer {
    /// A layer verifying with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AccountTokenLayer {
    type Service = AccountTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccountTokenService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`AccountTokenLayer`] wraps around an inner one.
#[derive(Debug, Clone)]
pub struct AccountTokenService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> Service<Request<B>> for AccountTokenService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the original, which `poll_ready` readied, serves this request.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match verifier.verify_headers(request.headers()).await {
                Ok(identity) => {
                    request.extensions_mut().insert::<AccountIdentity>(identity);
                    inner.call(request).await
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}
