//! Path parameters that never fail on their own: a segment that cannot be decoded (bad
//! percent-encoding, invalid UTF-8) reads as empty, so it fails later as the resource's `404`
//! with the `errors` envelope instead of axum's plain-text `400`
//! (docs/http-conventions.md#identifiers-and-timestamps).

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::http::validation::parse_uuid;
use crate::store::Entity;

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

/// The id of `entity` in a path segment. A malformed id is simply a record that does not exist,
/// so it answers the same `404` as an unknown one
/// (docs/http-conventions.md#identifiers-and-timestamps).
pub fn path_id(entity: Entity, raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw).ok_or_else(|| ApiError::not_found(entity))
}
