//! The OAuth error object the browser-facing endpoints answer when they cannot safely redirect
//! (docs/oidc.md#oauth-error-objects), instead of the `errors` envelope of the rest of the API.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::redirect::browser_headers;

/// The OAuth error object of the browser-facing endpoints (docs/oidc.md#oauth-error-objects).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only.
pub struct OAuthErrorDoc {
    #[schema(example = "invalid_request")]
    error: String,
    error_description: String,
    /// The same text, for clients that read the camelCase name.
    #[schema(rename = "errorDescription")]
    error_description_camel: String,
}

/// The OAuth error object (docs/oidc.md#oauth-error-objects), for answers that cannot safely
/// redirect.
#[derive(Debug)]
pub(super) struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: Cow<'static, str>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OAuthErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
    /// The reference sends the description twice, once in camel case.
    #[serde(rename = "errorDescription")]
    error_description_camel: &'a str,
}

impl OAuthError {
    pub(super) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    /// A failure of accountd itself, before it knows where the browser may be sent.
    pub(super) fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "OIDC request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "there was a problem processing your request".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
            error_description_camel: &self.description,
        };
        browser_headers((self.status, Json(body)).into_response())
    }
}
