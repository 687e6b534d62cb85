//! The JSON body of a request, parsed whatever `Content-Type` says
//! (docs/http-conventions.md#request-bodies). Reading happens in the extractor (only a body over
//! the limit fails there, `413`); parsing waits until the handler has checked the caller and the
//! path, because a bad body must not mask a `403` or `404`
//! (docs/http-conventions.md#order-of-checks).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone)]
pub struct JsonBody(Bytes);

impl JsonBody {
    /// The body as JSON, or `400 Could not parse the request body`.
    pub fn parse(&self) -> ApiResult<Value> {
        serde_json::from_slice(&self.0).map_err(|_| ApiError::unparseable_body())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read_body(request, state).await.map(Self)
    }
}

/// The raw body, refusing more than the route's limit ([`crate::http::limits`]).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::unparseable_body()
            }
        })
}
