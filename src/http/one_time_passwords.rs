//! One-time password token requests (docs/login.md#one-time-codes): a storefront asks for a code
//! for a username, and the code leaves accountd only through the
//! `one-time-password-token-request.created` webhook. The answer is `202` with no body whether or
//! not the username exists, and costs the same.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::rules::{OneOf, Text};
use super::body::{Required, request_body};
use super::extract::{AuditedCaller, Ids, JsonBody, path_id};
use super::openapi::{BadRequest, Busy, NotFound, TooManyRequests, Unauthorized};
use super::rate_limit::{OtpRequestEndpoint, RateLimited};
use super::realms::check_realm;
use crate::auth::secret::{Secret, one_time_code};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Entity, NewOtp, OtpIssue, OtpPurpose, fold_case};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request))
}

request_body! {
    /// An OTP request (docs/login.md#one-time-codes).
    pub struct OtpRequestCreate {
        type: [
            "one_time_password_token_request",
            "one-time-password-token-request",
        ],
        username: Required<Text<1, 255>>,
        purpose: Required<OneOf<OtpPurpose>>,
    }
}

/// Every caller class: storefronts start password resets from an implicit token
/// (docs/authentication.md#permission-matrix).
#[utoipa::path(
    post,
    path = "/v2/authentication-realms/{realm_id}/password-profiles/{profile_id}/one-time-password-token-request",
    tag = "authentication",
    summary = "Request a one-time code (delivered only by webhook)",
    description = "Always 202 with no body for a valid request, whether or not the username exists.",
    params(("realm_id" = Uuid, Path), ("profile_id" = Uuid, Path)),
    request_body = OtpRequestCreate,
    responses(
        (status = 202, description = "Accepted; a code is sent if the username exists"),
        BadRequest, Unauthorized, NotFound, TooManyRequests, Busy,
    ),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn request(
    State(state): State<AppState>,
    limit: RateLimited<OtpRequestEndpoint>,
    audited: AuditedCaller,
    Ids((raw_realm_id, raw_profile_id)): Ids<(String, String)>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_realm_id)?;
    let profile = state
        .store
        .password_profile(path_id(Entity::PasswordProfile, &raw_profile_id)?)
        .await?;
    let OtpRequestCreate { username, purpose } = OtpRequestCreate::parse(&body.parse()?)?;
    if !profile.enable_one_time_password_token {
        return Err(ApiError::bad_request(
            "one-time password tokens are not enabled for this password profile",
        ));
    }
    // The one argon2id hash every valid request costs, before anyone knows whether the
    // username exists or the cap is reached: the answer takes as long either way
    // (docs/login.md#one-time-codes).
    let code = Secret::new(one_time_code());
    let code_hash = state
        .hasher
        .for_client(limit.client.bucket())
        .hash(code.expose().to_owned())
        .await?;
    let audit = audited
        .audit
        .event("one_time_password_token_request.created")
        .detail(serde_json::json!({
            "password_profile_id": profile.id,
            "username": username,
            "purpose": purpose.as_str(),
        }));
    let otp = NewOtp {
        password_profile_id: profile.id,
        username_lower: fold_case(&username),
        purpose,
        code,
        code_hash,
    };
    if let OtpIssue::Issued { deliveries: 0 } = state
        .store
        .issue_otp(&otp, state.clock.now(), &audit)
        .await?
    {
        tracing::warn!(
            "a one-time code was issued but no enabled integration observes \
             one-time-password-token-request.created: OTP delivery is not configured"
        );
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
