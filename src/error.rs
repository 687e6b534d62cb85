//! The one error type of the HTTP API. Every failure becomes the reference envelope
//! `{"errors":[{"status":"404","title":"Not Found","detail":"…"}]}`
//! (docs/decisions.md#status-as-a-string); store errors map to statuses here and nowhere else, and
//! a 500 logs its cause but never shows it.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::password::HashError;
use crate::store::{Conflict, Entity, Limit, StoreError};
use crate::telemetry::RepeatedLog;

const INTERNAL_DETAIL: &str = "there was a problem processing your request";

/// While the database is away every request fails the same way: one warning per interval, with
/// the count, instead of thousands of identical lines.
static DATABASE_UNAVAILABLE: RepeatedLog = RepeatedLog::new(
    "the database is unavailable",
    std::time::Duration::from_secs(10),
);

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: Cow<'static, str>,
    retry_after: Option<u64>,
    /// Logged for a 500, never sent.
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after: None,
            cause: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unprocessable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn not_found(entity: Entity) -> Self {
        Self::new(StatusCode::NOT_FOUND, not_found_detail(entity))
    }

    pub fn conflict(conflict: Conflict) -> Self {
        Self::new(StatusCode::CONFLICT, conflict_detail(conflict))
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    /// A missing or invalid bearer token (docs/authentication.md#bearer-tokens).
    pub fn invalid_bearer() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unable to validate access token")
    }

    pub fn invalid_account_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "account management authentication token is invalid",
        )
    }

    pub fn expired_account_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "account management authentication token has expired",
        )
    }

    /// Wrong credentials of any kind, answered identically
    /// (docs/decisions.md#same-answer-for-wrong-credentials).
    pub fn authentication_failed() -> Self {
        Self::bad_request("authentication failed")
    }

    pub fn unparseable_body() -> Self {
        Self::bad_request("Could not parse the request body")
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "route not found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    }

    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    }

    pub fn request_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request timed out")
    }

    pub fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy, try again later",
            )
        }
    }

    /// The database did not answer within its deadline, or is away: try again in a second.
    pub fn database_unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable, try again later",
            )
        }
    }

    /// A throttled login or a per-address rate limit: one body for all, the wait only in
    /// `Retry-After` (docs/login.md#throttling).
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts, try again later",
            )
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_DETAIL)
        }
    }
}

fn not_found_detail(entity: Entity) -> &'static str {
    match entity {
        Entity::Account => "account not found",
        Entity::ParentAccount => "parent account not found",
        Entity::AccountMember => "account member not found",
        Entity::Membership => "account membership not found",
        Entity::Realm => "authentication realm not found",
        Entity::PasswordProfile => "password profile not found",
        Entity::UserInfo => "user authentication info not found",
        Entity::PasswordProfileInfo => "user authentication password profile info not found",
        Entity::ApplicationKey => "application key not found",
        Entity::Integration => "integration not found",
        Entity::OidcProfile => "oidc profile not found",
        Entity::OidcProfileInfo => "user authentication oidc profile info not found",
    }
}

fn conflict_detail(conflict: Conflict) -> &'static str {
    match conflict {
        Conflict::MembershipExists => {
            "account membership with the given account id and account member id already exists"
        }
        Conflict::RegistrationIdTaken => "account with the given registration id already exists",
        Conflict::AccountHasChildren => "account has child accounts",
        Conflict::UsernameTaken => {
            "user authentication password profile info with the given password profile id and username already exists"
        }
        Conflict::ProfileInfoExists => {
            "user authentication info already has a password profile info for the given password profile"
        }
        Conflict::EmailTaken => "user authentication info with the given email already exists",
        Conflict::ApplicationKeyNameTaken => "application key with the given name already exists",
        Conflict::ApplicationKeyManaged => "application key is managed by configuration",
        Conflict::ActiveJwtKey => "the active signing key cannot be removed",
        Conflict::IntegrationManaged => "integration is managed by configuration",
        Conflict::IntegrationDisabled => "integration is disabled",
        Conflict::OidcIdentityTaken => {
            "user authentication oidc profile info with the given oidc profile id, issuer and subject already exists"
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(entity) => Self::not_found(entity),
            StoreError::Conflict(conflict) => Self::conflict(conflict),
            StoreError::Limit(Limit::AccountMemberships) => Self::unprocessable(
                "the account has reached the maximum of 1000 account memberships",
            ),
            StoreError::Limit(Limit::MemberMemberships) => {
                Self::unprocessable("the account member has reached the membership limit")
            }
            StoreError::InvalidFilter => Self::bad_request("Could not parse the supplied filter"),
            StoreError::InvalidSort => Self::bad_request("Could not parse the supplied sort"),
            StoreError::Unavailable(cause) => {
                DATABASE_UNAVAILABLE.record(&cause);
                Self::database_unavailable()
            }
            other => Self::internal(other),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::busy(),
            HashError::Failed => Self::internal(error),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    errors: [ErrorObject<'a>; 1],
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    status: &'a str,
    title: &'a str,
    detail: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            // Inside the request span, so the log line carries the request id and route.
            tracing::error!(%cause, "request failed");
        }
        let status = self.status.as_str();
        let body = Envelope {
            errors: [ErrorObject {
                status,
                title: self.status.canonical_reason().unwrap_or("Error"),
                detail: &self.detail,
            }],
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
