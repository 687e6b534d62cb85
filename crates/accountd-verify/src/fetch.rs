//! Reading accountd's answers: a `200` with a JSON body of bounded size, or a [`FetchError`].

use crate::error::FetchError;

/// The largest body read from accountd. A JWK Set of a few keys and an introspection answer are
/// well under a kilobyte; anything near this bound is not accountd.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Sends `request` and reads its `200` body as JSON, at most [`MAX_BODY_BYTES`] of it.
pub(crate) async fn json(
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::header::HeaderMap, serde_json::Value), FetchError> {
    let mut response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| FetchError::transport(&error))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(FetchError::Body("larger than 64 KiB"));
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| FetchError::transport(&error))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(FetchError::Body("larger than 64 KiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice(&body).map_err(|_| FetchError::Body("not JSON"))?;
    Ok((headers, value))
}
