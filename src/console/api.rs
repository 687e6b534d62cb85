//! The console's calls into the API, made in-process: each is a request to the API listener's own
//! router, with its layers, extractors, validation, store functions, events and audit rows, as if
//! curl had sent it. It carries the console request's [`Origin`] (so rate limits and audit rows
//! see the browser's address) and, once signed in, the session's bearer token in
//! `Authorization`, which is where the API reads it; nothing else in the console holds a
//! credential (docs/console.md#how-the-console-uses-the-api).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::origin::Origin;
use super::page::PageError;
use super::problem::Problem;
use super::session::{SessionId, Sessions};
use crate::auth::secret::Secret;

/// The largest answer the console reads: a page of 100 of the largest resources is far below it.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// What a query value keeps unencoded: the unreserved characters, as the API's own links do.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A query string of `pairs`, every key and value percent-encoded: the API reads a literal `+` as
/// a plus, never as a space, so nothing is left to interpretation.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(key, QUERY_VALUE),
                utf8_percent_encode(value, QUERY_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Who the API sees: the browser's origin and, once signed in, the session's bearer token.
pub struct Api<'a> {
    router: &'a Router,
    origin: &'a Origin,
    /// The session and its bearer token; a session whose token the API refuses is ended here.
    credential: Option<(&'a Sessions, &'a SessionId, &'a Secret)>,
}

impl<'a> Api<'a> {
    /// Calls without a bearer token: signing in.
    pub fn anonymous(router: &'a Router, origin: &'a Origin) -> Self {
        Self {
            router,
            origin,
            credential: None,
        }
    }

    pub fn with_bearer(
        router: &'a Router,
        origin: &'a Origin,
        sessions: &'a Sessions,
        session: &'a SessionId,
        bearer: &'a Secret,
    ) -> Self {
        Self {
            router,
            origin,
            credential: Some((sessions, session, bearer)),
        }
    }

    pub async fn get(&self, target: &str) -> Result<Answer, PageError> {
        self.send(Method::GET, target, None).await
    }

    pub async fn post_json(
        &self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<Answer, PageError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| PageError::internal(format!("encoding an API body: {error}")))?;
        self.send(Method::POST, target, Some(("application/json", bytes)))
            .await
    }

    pub async fn put_json(
        &self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<Answer, PageError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| PageError::internal(format!("encoding an API body: {error}")))?;
        self.send(Method::PUT, target, Some(("application/json", bytes)))
            .await
    }

    /// A `POST` without a body: an action named by its address alone.
    pub async fn post_empty(&self, target: &str) -> Result<Answer, PageError> {
        self.send(Method::POST, target, None).await
    }

    pub async fn delete(&self, target: &str) -> Result<Answer, PageError> {
        self.send(Method::DELETE, target, None).await
    }

    pub async fn post_form(&self, target: &str, form: String) -> Result<Answer, PageError> {
        self.send(
            Method::POST,
            target,
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        )
        .await
    }

    /// One request to the API. A `401` to a session's bearer token ends the session (its token
    /// expired early or its application key is gone), and the browser goes to sign in again.
    async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, PageError> {
        let mut builder = Request::builder().method(method).uri(target);
        let body = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(header::CONTENT_TYPE, content_type);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let mut request = builder
            .body(body)
            .map_err(|error| PageError::internal(format!("building an API request: {error}")))?;
        self.origin.apply(&mut request);
        if let Some((_, _, bearer)) = self.credential {
            let mut value = HeaderValue::try_from(format!("Bearer {}", bearer.expose()))
                .map_err(|_| PageError::internal("the bearer token is not a header value"))?;
            value.set_sensitive(true);
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let Ok(response) = self.router.clone().oneshot(request).await;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|error| PageError::internal(format!("reading an API answer: {error}")))?;
        if status == StatusCode::UNAUTHORIZED {
            if let Some((sessions, session, _)) = self.credential {
                sessions.end(session);
                return Err(PageError::SignedOut);
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// `{"data": …}`: one resource.
#[derive(Debug, Deserialize)]
pub struct One<T> {
    pub data: T,
}

/// One page of a list (docs/http-conventions.md#pagination).
#[derive(Debug, Deserialize)]
pub struct ListPage<T> {
    pub data: Vec<T>,
    pub meta: ListMeta,
    pub links: PageLinks,
}

#[derive(Debug, Deserialize)]
pub struct ListMeta {
    pub page: PageMeta,
    pub results: Results,
}

#[derive(Debug, Deserialize)]
pub struct PageMeta {
    pub current: u64,
    pub total: u64,
}

#[derive(Debug, Deserialize)]
pub struct Results {
    pub total: u64,
}

/// The API's absolute page links; `next` and `prev` are `null` where there is no such page.
#[derive(Debug, Deserialize)]
pub struct PageLinks {
    pub first: String,
    pub last: String,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// The API's answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    retry_after: Option<u64>,
    body: Bytes,
}

impl Answer {
    /// The body of a successful answer as `T`.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, PageError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            // serde's message names the field and position, never the content.
            PageError::internal(format!(
                "the API's {} answer is not what the console reads: {error}",
                self.status
            ))
        })
    }

    /// What an unsuccessful answer says went wrong.
    pub fn problem(&self) -> Problem {
        Problem::read(self.status, self.retry_after, &self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_so_the_api_reads_them_back_unchanged() {
        assert_eq!(
            query(&[("filter", "ilike(name,*a+b c*)"), ("page[limit]", "1")]),
            "filter=ilike%28name%2C%2Aa%2Bb%20c%2A%29&page%5Blimit%5D=1"
        );
    }
}
