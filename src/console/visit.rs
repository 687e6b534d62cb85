//! A console request's session as handlers take it: the cookie that names it, the extractors
//! ([`Visit`] for any request, [`SignedIn`] for pages that need an Admin, [`CsrfForm`] for every
//! form sent with POST) and the `Set-Cookie` values that start and end it
//! (docs/console.md#security-model).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Console;
use super::origin::{Origin, arrived_over_https};
use super::page::{self, PageError, SIGN_IN_PATH};
use super::session::{COOKIE_NAME, CsrfToken, Session, SessionId};
use crate::auth::secret::Secret;

/// Any console request: where it came from, and the live session its cookie names.
pub struct Visit {
    pub origin: Origin,
    pub session: Option<(SessionId, Session)>,
    /// Whether the browser reached accountd over https: the cookie is `Secure` then.
    pub https: bool,
}

impl FromRequestParts<Console> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Console,
    ) -> Result<Self, Self::Rejection> {
        let now = console.now();
        let session = session_ids(&parts.headers).find_map(|id| {
            console
                .sessions()
                .find(&id, now)
                .map(|session| (id, session))
        });
        Ok(Self {
            origin: Origin::of(parts),
            session,
            https: arrived_over_https(parts, &console.app.config),
        })
    }
}

/// A request from a signed-in session; without one the browser is sent to the sign-in page.
pub struct SignedIn {
    pub id: SessionId,
    pub csrf: CsrfToken,
    pub bearer: Secret,
    pub origin: Origin,
}

impl SignedIn {
    fn from_visit(visit: Visit) -> Option<Self> {
        let (id, session) = visit.session?;
        let admin = session.admin?;
        Some(Self {
            id,
            csrf: session.csrf,
            bearer: admin.bearer,
            origin: visit.origin,
        })
    }
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let Ok(visit) = Visit::from_request_parts(parts, console).await;
        Self::from_visit(visit).ok_or_else(|| page::see_other(SIGN_IN_PATH))
    }
}

/// A form that sends nothing but its CSRF token: a button.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A form sent with POST whose `csrf_token` is its session's token; any other answers `403` with
/// a page, before the form's fields are even read. `T` reads the rest of the form.
pub struct CsrfForm<T> {
    pub visit: Visit,
    pub fields: T,
}

impl<T> CsrfForm<T> {
    /// The form of a signed-in session; a signed-out one is sent to the sign-in page.
    pub fn signed_in(self) -> Result<(SignedIn, T), PageError> {
        match SignedIn::from_visit(self.visit) {
            Some(signed_in) => Ok((signed_in, self.fields)),
            None => Err(PageError::SignedOut),
        }
    }
}

impl<T: DeserializeOwned> FromRequest<Console> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(visit) = Visit::from_request_parts(&mut parts, console).await;
        let body = Bytes::from_request(Request::from_parts(parts, body), console)
            .await
            .map_err(|rejection| {
                page::message(
                    rejection.status(),
                    "The form could not be read",
                    "The form was too large, or did not arrive whole. Nothing was changed.",
                    ("/admin", "Go to the dashboard"),
                )
            })?;
        let submitted = serde_urlencoded::from_bytes::<CsrfField>(&body)
            .map(|field| field.csrf_token)
            .unwrap_or_default();
        let valid = visit
            .session
            .as_ref()
            .is_some_and(|(_, session)| session.csrf.matches(&submitted));
        if !valid {
            return Err(page::forbidden());
        }
        let fields = serde_urlencoded::from_bytes::<T>(&body).map_err(|_| {
            page::message(
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                "The form's fields were not what this page sends. Nothing was changed.",
                ("/admin", "Go to the dashboard"),
            )
        })?;
        Ok(Self { visit, fields })
    }
}

/// The session ids the request's cookies name, in their order. A browser may send the cookie
/// twice (one set for another path, or by a sibling domain); each is tried.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = SessionId> + '_ {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .filter_map(|(_, value)| SessionId::parse(value.trim()))
}

/// `Set-Cookie` for a session: for `/admin` only, out of scripts' reach, never sent with a
/// request another site starts, and only over https when the browser came over https. No
/// `Max-Age`: the server ends the session, and the browser forgets the cookie when it closes.
pub fn start_cookie(id: &SessionId, https: bool) -> (axum::http::HeaderName, HeaderValue) {
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/admin; HttpOnly; SameSite=Strict{secure}",
        id.cookie_value()
    );
    // The value is hex digits and fixed ASCII, which a header value always accepts.
    let value = HeaderValue::try_from(cookie).unwrap_or_else(|_| HeaderValue::from_static(""));
    (SET_COOKIE, value)
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn end_cookie(https: bool) -> (axum::http::HeaderName, HeaderValue) {
    let value = if https {
        HeaderValue::from_static(
            "accountd_console=; Path=/admin; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
        )
    } else {
        HeaderValue::from_static(
            "accountd_console=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0",
        )
    };
    (SET_COOKIE, value)
}

/// `response` with `cookie` added.
pub fn with_cookie(
    cookie: (axum::http::HeaderName, HeaderValue),
    response: impl IntoResponse,
) -> Response {
    let mut response = response.into_response();
    response.headers_mut().append(cookie.0, cookie.1);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let id = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("theme=dark; accountd_console=nothex"),
        );
        headers.append(
            COOKIE,
            HeaderValue::try_from(format!("other=1; {COOKIE_NAME}={id}")).unwrap(),
        );
        let found: Vec<String> = session_ids(&headers).map(|id| id.cookie_value()).collect();
        assert_eq!(found, [id]);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let id = SessionId::parse(&"cd".repeat(32)).unwrap();
        let (_, plain) = start_cookie(&id, false);
        assert_eq!(
            plain,
            format!(
                "accountd_console={}; Path=/admin; HttpOnly; SameSite=Strict",
                "cd".repeat(32)
            )
        );
        let (_, secure) = start_cookie(&id, true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert!(end_cookie(true).1.to_str().unwrap().contains("; Secure"));
        assert!(
            end_cookie(false)
                .1
                .to_str()
                .unwrap()
                .starts_with(&format!("{COOKIE_NAME}=;"))
        );
    }
}
