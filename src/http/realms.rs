//! The preset Account Management authentication realm (docs/decisions.md#one-preset-realm): listed,
//! read and updated, never created or deleted (`405`). Every realm sub-resource checks its
//! `{realmId}` through
//! [`check_realm`].

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::body::rules::{Array, OneOf, Text, string_schema, text};
use super::body::{Failure, Optional, Rule, request_body};
use super::extract::{Admin, Caller, Ids, JsonBody, ListParams};
use super::openapi::{BadRequest, Forbidden, NotFound, PageQuery, Unauthorized};
use super::response::{FlatTimestamps, Linked, List, Reference, SelfLink, Single};
use super::validation::parse_uuid;
use crate::error::{ApiError, ApiResult};
use crate::query::sort::{NAMED_RECORD_SORTS, parse_sort};
use crate::state::AppState;
use crate::store::{DuplicateEmailPolicy, Entity, Realm, RealmPatch};

/// The longest redirect URI accepted, in characters.
const MAX_REDIRECT_URI_CHARS: usize = 2048;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, update))
}

request_body! {
    /// The realm as updated: absent fields keep their value.
    pub struct RealmUpdate {
        type: ["authentication-realm"],
        name: Optional<Text<1, 255>>,
        /// At most 100.
        redirect_uris: Optional<Array<RedirectUri, 0, 100>>,
        duplicate_email_policy: Optional<OneOf<DuplicateEmailPolicy>>,
    }
}

/// A redirect URI the OIDC login may return to (`url`): see [`is_allowed_redirect_uri`].
pub struct RedirectUri;

impl Rule for RedirectUri {
    type Value = String;

    fn read(value: &serde_json::Value) -> Result<String, Failure> {
        let uri = text(value, 0, usize::MAX)?;
        if !is_allowed_redirect_uri(uri) {
            return Err("url".into());
        }
        Ok(uri.to_owned())
    }

    fn schema() -> Schema {
        string_schema(0, MAX_REDIRECT_URI_CHARS)
            .description(Some(
                "An absolute https URL, or http on localhost, 127.0.0.1 or [::1]; no fragment.",
            ))
            .into()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RealmData {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    redirect_uris: Vec<String>,
    duplicate_email_policy: &'static str,
    relationships: RealmRelationships,
    meta: FlatTimestamps,
    links: SelfLink,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RealmRelationships {
    origin: Reference,
}

impl Linked for RealmData {
    fn self_link(&self) -> &str {
        &self.links.href
    }
}

impl RealmData {
    fn new(state: &AppState, realm: Realm) -> Self {
        Self {
            links: SelfLink::new(realm_url(state, "")),
            id: realm.id,
            kind: "authentication-realm",
            name: realm.name,
            redirect_uris: realm.redirect_uris,
            duplicate_email_policy: realm.duplicate_email_policy.as_str(),
            relationships: RealmRelationships {
                origin: Reference::new(
                    "account_authentication_settings",
                    state.deployment.auth_settings_id,
                ),
            },
            meta: FlatTimestamps {
                created_at: realm.created_at,
                updated_at: realm.updated_at,
            },
        }
    }
}

/// The absolute URL of `rest` under the preset realm (`/password-profiles`, `/oidc-profiles/{id}`,
/// …), where every realm sub-resource lives.
pub fn realm_url(state: &AppState, rest: &str) -> String {
    state.url(&format!(
        "/v2/authentication-realms/{}{rest}",
        state.deployment.realm_id
    ))
}

/// `{realmId}` must name the preset realm; anything else is `404`
/// (docs/decisions.md#one-preset-realm).
pub fn check_realm(state: &AppState, raw_id: &str) -> ApiResult<()> {
    match parse_uuid(raw_id) {
        Some(id) if id == state.deployment.realm_id => Ok(()),
        _ => Err(ApiError::not_found(Entity::Realm)),
    }
}

/// Every caller class; always the one preset realm.
#[utoipa::path(
    get, path = "/v2/authentication-realms", tag = "realm",
    summary = "List authentication realms (the one preset realm)",
    params(PageQuery),
    responses((status = 200, body = List<RealmData>), BadRequest, Unauthorized),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ListParams::parse(query.as_deref(), state.config.page_length)?;
    params.refuse_filter()?;
    // There is one realm, so sorting changes nothing, but a bad `sort` is still refused
    // (docs/http-conventions.md#sorting).
    if let Some(sort) = &params.sort {
        parse_sort(sort, NAMED_RECORD_SORTS)
            .map_err(|_| ApiError::bad_request("Could not parse the supplied sort"))?;
    }
    let realm = state.store.realm().await?;
    let data = if params.offset == 0 {
        vec![RealmData::new(&state, realm)]
    } else {
        Vec::new()
    };
    Ok(List::new(data, &state.url("/v2/authentication-realms"), &params, 1).ok())
}

/// Every caller class.
#[utoipa::path(
    get, path = "/v2/authentication-realms/{realm_id}", tag = "realm",
    summary = "Get the authentication realm",
    params(("realm_id" = Uuid, Path)),
    responses((status = 200, body = Single<RealmData>), Unauthorized, NotFound),
    security(("bearer" = []), ("bearer" = [], "account_token" = []))
)]
async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Ids(raw_id): Ids<String>,
) -> ApiResult<Response> {
    check_realm(&state, &raw_id)?;
    let realm = state.store.realm().await?;
    Ok(Single::ok(RealmData::new(&state, realm)))
}

/// Admins only.
#[utoipa::path(
    put, path = "/v2/authentication-realms/{realm_id}", tag = "realm",
    summary = "Update the authentication realm",
    params(("realm_id" = Uuid, Path)),
    request_body = RealmUpdate,
    responses((status = 200, body = Single<RealmData>), BadRequest, Unauthorized, Forbidden, NotFound),
    security(("bearer" = []))
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Ids(raw_id): Ids<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    check_realm(&state, &raw_id)?;
    let body = RealmUpdate::parse(&body.parse()?)?;
    let patch = RealmPatch {
        name: body.name,
        redirect_uris: body.redirect_uris,
        duplicate_email_policy: body.duplicate_email_policy,
    };
    let realm = state
        .store
        .update_realm(
            &patch,
            state.clock.now(),
            &admin.audit.event("authentication_realm.updated"),
        )
        .await?;
    Ok(Single::ok(RealmData::new(&state, realm)))
}

/// Absolute `https` URLs, or `http` on a loopback host (RFC 8252), without a fragment
/// (docs/oidc.md#login-endpoint).
pub fn is_allowed_redirect_uri(uri: &str) -> bool {
    if uri.chars().count() > MAX_REDIRECT_URI_CHARS {
        return false;
    }
    let Ok(parsed) = url::Url::parse(uri) else {
        return false;
    };
    if parsed.fragment().is_some() || uri.contains('#') {
        return false;
    }
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_allowed_redirect_uri;

    #[test]
    fn redirect_uris_must_be_https_or_loopback_http_without_fragment() {
        for good in [
            "https://shop.example.com/auth/callback",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(is_allowed_redirect_uri(good), "{good}");
        }
        for bad in [
            "http://shop.example.com/cb",
            "https://shop.example.com/cb#x",
            "/relative",
            "javascript:alert(1)",
            "ftp://localhost/x",
        ] {
            assert!(!is_allowed_redirect_uri(bad), "{bad}");
        }
    }
}
