//! Authentication realms, read-only: the list (`GET /v2/authentication-realms`), and one realm
//! with its password profiles and OpenID Connect profiles, each list read in one request of the
//! API's largest page.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::Console;
use super::api::{Answer, Api, ListPage, One};
use super::page::{self, PageError};
use super::visit::SignedIn;
use crate::http::extract::list::MAX_LIMIT;
use crate::http::validation::parse_uuid;

const LIST_PATH: &str = "/admin/realms";

#[derive(Debug, Deserialize)]
struct Realm {
    id: Uuid,
    name: String,
    redirect_uris: Vec<String>,
    duplicate_email_policy: String,
    meta: FlatTimestamps,
}

#[derive(Debug, Deserialize)]
struct FlatTimestamps {
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
struct PasswordProfile {
    id: Uuid,
    name: String,
    username_format: String,
    enable_one_time_password_token: bool,
}

#[derive(Debug, Deserialize)]
struct OidcProfile {
    id: Uuid,
    name: String,
    discovery_url: String,
    client_id: String,
    allow_unverified_email: bool,
    meta: OidcMeta,
}

#[derive(Debug, Deserialize)]
struct OidcMeta {
    issuer: String,
}

fn path(id: Uuid) -> String {
    format!("{LIST_PATH}/{id}")
}

/// Signed in: every realm (accountd has one, the preset realm).
pub async fn list(
    State(console): State<Console>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let answer = console
        .api_for(&signed_in)
        .get(&format!(
            "/v2/authentication-realms?page%5Blimit%5D={MAX_LIMIT}"
        ))
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(trouble(&signed_in, "Realms", &answer));
    }
    let realms = answer.read::<ListPage<Realm>>()?;
    let content = html! {
        table {
            caption { "Authentication realms (" (realms.meta.results.total) ")" }
            thead {
                tr {
                    th scope="col" { "Name" }
                    th scope="col" { "Id" }
                    th scope="col" { "Duplicate emails" }
                    th scope="col" { "Created" }
                }
            }
            tbody {
                @for realm in &realms.data {
                    tr {
                        td { a href=(path(realm.id)) { (realm.name) } }
                        td { code { (realm.id) } }
                        td { (realm.duplicate_email_policy) }
                        td { (realm.meta.created_at) }
                    }
                }
            }
        }
    };
    Ok(page::respond(
        StatusCode::OK,
        page::document("Realms", Some(&signed_in.csrf), &content),
    ))
}

/// Signed in: the realm at `/admin/realms/{realm_id}` with its profiles.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    // Only a canonical id reaches the API's path, so nothing else can be smuggled into it.
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let api = console.api_for(&signed_in);
    let base = format!("/v2/authentication-realms/{id}");
    let answer = api.get(&base).await?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(PageError::NotFound),
        _ => return Ok(trouble(&signed_in, "Realm", &answer)),
    }
    let realm = answer.read::<One<Realm>>()?.data;
    let password_target = format!("{base}/password-profiles");
    let oidc_target = format!("{base}/oidc-profiles");
    let (password_profiles, oidc_profiles) = tokio::join!(
        profiles::<PasswordProfile>(&api, &password_target),
        profiles::<OidcProfile>(&api, &oidc_target),
    );
    let content = html! {
        nav class="breadcrumbs" aria-label="Breadcrumbs" {
            ol {
                li { a href=(LIST_PATH) { "Realms" } }
                li aria-current="page" { (realm.name) }
            }
        }
        (fields(&realm))
        section aria-labelledby="password-profiles-heading" {
            h2 id="password-profiles-heading" { "Password profiles" }
            (listed(&password_profiles?, password_table))
        }
        section aria-labelledby="oidc-profiles-heading" {
            h2 id="oidc-profiles-heading" { "OIDC profiles" }
            (listed(&oidc_profiles?, oidc_table))
        }
    };
    Ok(page::respond(
        StatusCode::OK,
        page::document(&realm.name, Some(&signed_in.csrf), &content),
    ))
}

/// A list of a realm's profiles, or the API's reason for not listing them.
type Profiles<T> = Result<ListPage<T>, Vec<String>>;

async fn profiles<T: serde::de::DeserializeOwned>(
    api: &Api<'_>,
    target: &str,
) -> Result<Profiles<T>, PageError> {
    let answer = api
        .get(&format!("{target}?page%5Blimit%5D={MAX_LIMIT}"))
        .await?;
    if answer.status == StatusCode::OK {
        Ok(Ok(answer.read()?))
    } else {
        Ok(Err(answer.problem().messages(&[]).general))
    }
}

fn listed<T>(profiles: &Profiles<T>, table: fn(&ListPage<T>) -> Markup) -> Markup {
    match profiles {
        Err(messages) => page::alert(messages),
        Ok(list) if list.data.is_empty() => html! { p { "None." } },
        Ok(list) => html! {
            (table(list))
            @if list.meta.results.total > list.data.len() as u64 {
                p class="hint" {
                    "The first " (list.data.len()) " of " (list.meta.results.total) " are shown."
                }
            }
        },
    }
}

fn fields(realm: &Realm) -> Markup {
    html! {
        dl class="fields" {
            div { dt { "Id" } dd { code { (realm.id) } } }
            div { dt { "Name" } dd { (realm.name) } }
            div { dt { "Duplicate emails" } dd { (realm.duplicate_email_policy) } }
            div {
                dt { "Redirect URIs" }
                dd {
                    @if realm.redirect_uris.is_empty() { "None" }
                    @else { ul { @for uri in &realm.redirect_uris { li { code { (uri) } } } } }
                }
            }
            div { dt { "Created" } dd { (realm.meta.created_at) } }
            div { dt { "Updated" } dd { (realm.meta.updated_at) } }
        }
    }
}

fn password_table(profiles: &ListPage<PasswordProfile>) -> Markup {
    html! {
        table {
            caption { "Password profiles (" (profiles.meta.results.total) ")" }
            thead {
                tr {
                    th scope="col" { "Name" }
                    th scope="col" { "Username format" }
                    th scope="col" { "One-time codes" }
                    th scope="col" { "Id" }
                }
            }
            tbody {
                @for profile in &profiles.data {
                    tr {
                        td { (profile.name) }
                        td { (profile.username_format) }
                        td { (yes_no(profile.enable_one_time_password_token)) }
                        td { code { (profile.id) } }
                    }
                }
            }
        }
    }
}

fn oidc_table(profiles: &ListPage<OidcProfile>) -> Markup {
    html! {
        table {
            caption { "OIDC profiles (" (profiles.meta.results.total) ")" }
            thead {
                tr {
                    th scope="col" { "Name" }
                    th scope="col" { "Issuer" }
                    th scope="col" { "Discovery URL" }
                    th scope="col" { "Client id" }
                    th scope="col" { "Unverified emails" }
                    th scope="col" { "Id" }
                }
            }
            tbody {
                @for profile in &profiles.data {
                    tr {
                        td { (profile.name) }
                        td { (profile.meta.issuer) }
                        td { code { (profile.discovery_url) } }
                        td { code { (profile.client_id) } }
                        td { (if profile.allow_unverified_email { "Allowed" } else { "Refused" }) }
                        td { code { (profile.id) } }
                    }
                }
            }
        }
    }
}

fn yes_no(on: bool) -> &'static str {
    if on { "Enabled" } else { "Disabled" }
}

/// A page that says why the API did not answer with what the page shows.
fn trouble(signed_in: &SignedIn, title: &str, answer: &Answer) -> Response {
    let content = page::alert(&answer.problem().messages(&[]).general);
    page::respond(
        answer.status,
        page::document(title, Some(&signed_in.csrf), &content),
    )
}
