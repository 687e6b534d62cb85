//! Path parameters that never fail on their own: a segment that cannot be decoded (bad
//! percent-encoding, invalid UTF-8) reads as empty, so it fails later as the resource's `404`
//! with the `errors` envelope instead of axum's plain-text `400`
//! (docs/http-conventions.md#identifiers-and-timestamps).

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone)]
pub struct Ids<T>(pub T);

impl<T, S> FromRequestParts<S> for Ids<T>
where
    T: DeserializeOwned + Default + Send,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let ids = Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(ids)| ids)
            .unwrap_or_default();
        Ok(Self(ids))
    }
}
