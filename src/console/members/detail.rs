//! One member: its fields, its password logins with the form that sets a password, its
//! memberships with the forms that add and remove them, its OIDC identities, whether it is
//! locked out (with the button that clears it), and the button that revokes its account tokens.
//! The actions (`actions.rs`) show this page again with their outcome.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::create::{PasswordProfile, password_profiles, profile_select};
use super::{Member, path, realm_user_path};
use crate::console::Console;
use crate::console::accounts::{self, Account};
use crate::console::api::{Api, ListPage, One};
use crate::console::page::{self, Input, PageError};
use crate::console::session::CsrfToken;
use crate::console::visit::SignedIn;
use crate::http::validation::parse_uuid;

/// What an action on this page achieved, shown above the page after its redirect. Only these
/// fixed sentences can be shown, so a crafted address cannot put words on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    PasswordSet,
    LockoutCleared,
    TokensRevoked,
    MembershipAdded,
    MembershipRemoved,
}

impl Done {
    const ALL: [Self; 5] = [
        Self::PasswordSet,
        Self::LockoutCleared,
        Self::TokensRevoked,
        Self::MembershipAdded,
        Self::MembershipRemoved,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::PasswordSet => "password-set",
            Self::LockoutCleared => "lockout-cleared",
            Self::TokensRevoked => "tokens-revoked",
            Self::MembershipAdded => "membership-added",
            Self::MembershipRemoved => "membership-removed",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::PasswordSet => {
                "The password was set. Account tokens issued before now no longer work."
            }
            Self::LockoutCleared => "The lockout was cleared: the member can log in again at once.",
            Self::TokensRevoked => {
                "Every account token of this member was revoked; the member has to log in again."
            }
            Self::MembershipAdded => "The member was added to the account.",
            Self::MembershipRemoved => "The membership was removed.",
        }
    }

    fn read(raw_query: Option<&str>) -> Option<Self> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query.unwrap_or_default())
            .unwrap_or_default()
            .into_iter()
            .find(|(key, _)| key == "done")
            .and_then(|(_, code)| Self::ALL.into_iter().find(|done| done.code() == code))
    }
}

/// What to show above and inside the page's forms.
#[derive(Debug, Default)]
pub struct Feedback {
    pub notice: Option<Done>,
    /// Beside the password field.
    pub password_error: Option<String>,
    /// Beside the account id field of the add-membership form.
    pub membership_error: Option<String>,
    /// Above the page.
    pub general: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordLogin {
    pub id: Uuid,
    pub username: String,
    pub password_profile_id: Uuid,
}

#[derive(Debug, Deserialize)]
struct OidcIdentity {
    issuer: String,
    subject: String,
}

#[derive(Debug, Deserialize)]
struct Lockout {
    locked: bool,
    locked_until: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Membership {
    id: Uuid,
    relationships: MembershipRelationships,
    meta: accounts::Meta,
}

#[derive(Debug, Deserialize)]
struct MembershipRelationships {
    account: accounts::Reference,
}

#[derive(Debug, Deserialize)]
struct Included {
    #[serde(default)]
    accounts: Vec<Account>,
}

#[derive(Debug, Deserialize)]
struct MembershipsPage {
    data: Vec<Membership>,
    #[serde(default)]
    included: Option<Included>,
    meta: crate::console::api::ListMeta,
}

/// Signed in: the member at `/admin/members/{member_id}`.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    Path(raw_id): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, PageError> {
    let id = parse_uuid(&raw_id).ok_or(PageError::NotFound)?;
    let feedback = Feedback {
        notice: Done::read(raw_query.as_deref()),
        ..Feedback::default()
    };
    render(&console, &signed_in, id, StatusCode::OK, &feedback).await
}

/// The member's page with `feedback`, answered with `status`.
pub async fn render(
    console: &Console,
    signed_in: &SignedIn,
    id: Uuid,
    status: StatusCode,
    feedback: &Feedback,
) -> Result<Response, PageError> {
    let api = console.api_for(signed_in);
    let realm_id = console.app.deployment.realm_id;
    let answer = api.get(&format!("/v2/account-members/{id}")).await?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(PageError::NotFound),
        _ => {
            let content = page::alert(&answer.problem().messages(&[]).general);
            return Ok(page::respond(
                answer.status,
                page::document("Account member", Some(&signed_in.csrf), &content),
            ));
        }
    }
    let member = answer.read::<One<Member>>()?.data;
    let logins_target = realm_user_path(
        realm_id,
        id,
        "/user-authentication-password-profile-info?page%5Blimit%5D=100",
    );
    let identities_target = realm_user_path(
        realm_id,
        id,
        "/user-authentication-oidc-profile-info?page%5Blimit%5D=100",
    );
    let (logins, memberships, identities, lockout, profiles) = tokio::try_join!(
        list::<PasswordLogin>(&api, &logins_target),
        memberships(&api, id),
        list::<OidcIdentity>(&api, &identities_target),
        lockout(&api, id),
        password_profiles(&api, realm_id),
    )?;
    let csrf = &signed_in.csrf;
    let content = html! {
        nav class="breadcrumbs" aria-label="Where you are" {
            ol {
                li { a href="/admin/members" { "Members" } }
                li aria-current="page" { (member.name) }
            }
        }
        @if let Some(done) = feedback.notice {
            p class="notice" role="status" { (done.sentence()) }
        }
        (page::alert(&feedback.general))
        dl class="fields" {
            div { dt { "Id" } dd { code { (member.id) } } }
            div { dt { "Name" } dd { (member.name) } }
            div { dt { "Email" } dd { (member.email) } }
            div { dt { "Created" } dd { (member.meta.timestamps.created_at) } }
            div { dt { "Updated" } dd { (member.meta.timestamps.updated_at) } }
        }
        (password_section(id, csrf, &logins, &profiles, feedback))
        (lockout_section(id, csrf, lockout.as_ref()))
        (tokens_section(id, csrf))
        (memberships_section(id, csrf, memberships.as_ref(), feedback))
        (identities_section(&identities))
    };
    Ok(page::respond(
        status,
        page::document(&member.name, Some(&signed_in.csrf), &content),
    ))
}

/// The first hundred items of an API list, or none when it cannot be read (the page still shows
/// the rest).
async fn list<T: serde::de::DeserializeOwned>(
    api: &Api<'_>,
    target: &str,
) -> Result<Vec<T>, PageError> {
    let answer = api.get(target).await?;
    if answer.status != StatusCode::OK {
        return Ok(Vec::new());
    }
    Ok(answer.read::<ListPage<T>>()?.data)
}

async fn memberships(api: &Api<'_>, id: Uuid) -> Result<Option<MembershipsPage>, PageError> {
    let answer = api
        .get(&format!(
            "/v2/account-members/{id}/account-memberships?include=account&page%5Blimit%5D=100"
        ))
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(None);
    }
    answer.read().map(Some)
}

async fn lockout(api: &Api<'_>, id: Uuid) -> Result<Option<Lockout>, PageError> {
    let answer = api
        .get(&format!("/v2/account-members/{id}/lockout"))
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(None);
    }
    Ok(Some(answer.read::<One<Lockout>>()?.data))
}

fn password_section(
    id: Uuid,
    csrf: &CsrfToken,
    logins: &[PasswordLogin],
    profiles: &[PasswordProfile],
    feedback: &Feedback,
) -> Markup {
    let profile_name = |profile_id: Uuid| {
        profiles
            .iter()
            .find(|profile| profile.id == profile_id)
            .map_or_else(|| profile_id.to_string(), |profile| profile.name.clone())
    };
    html! {
        section aria-labelledby="password-heading" {
            h2 id="password-heading" { "Password" }
            @if logins.is_empty() {
                p { "This member has no password login yet. Setting a password gives it one, with its email as the username." }
            } @else {
                ul {
                    @for login in logins {
                        li { "Username " strong { (login.username) } " in the password profile " (profile_name(login.password_profile_id)) }
                    }
                }
            }
            form method="post" action=(format!("{}/password", path(id))) class="stacked" {
                (page::csrf_field(csrf))
                @match logins {
                    [] => { (profile_select(profiles, "", None)) }
                    [only] => { input type="hidden" name="login_id" value=(only.id); }
                    several => {
                        div class="field" {
                            label for="login_id" { "Login" }
                            select id="login_id" name="login_id" {
                                @for login in several {
                                    option value=(login.id) { (login.username) " (" (profile_name(login.password_profile_id)) ")" }
                                }
                            }
                        }
                    }
                }
                (Input::text("password", "New password", "")
                    .kind("password")
                    .required()
                    .autocomplete("new-password")
                    .hint("At least 8 characters. The member's account tokens stop working.")
                    .error(feedback.password_error.as_deref())
                    .render())
                button type="submit" { "Set password" }
            }
        }
    }
}

fn lockout_section(id: Uuid, csrf: &CsrfToken, lockout: Option<&Lockout>) -> Markup {
    html! {
        section aria-labelledby="lockout-heading" {
            h2 id="lockout-heading" { "Lockout" }
            p id="lockout-state" {
                @match lockout {
                    Some(Lockout { locked: true, locked_until }) => {
                        "Locked out: logins with this member's username are refused"
                        @if let Some(until) = locked_until { " until " (until) }
                        ", after failed attempts."
                    }
                    Some(_) => { "Not locked out." }
                    None => { "Whether this member is locked out could not be read." }
                }
            }
            form method="post" action=(format!("{}/lockout/clear", path(id))) {
                (page::csrf_field(csrf))
                button type="submit" { "Clear lockout" }
            }
        }
    }
}

fn tokens_section(id: Uuid, csrf: &CsrfToken) -> Markup {
    html! {
        section aria-labelledby="tokens-heading" {
            h2 id="tokens-heading" { "Account tokens" }
            p { "Revoking makes every account token this member holds stop working at once, in every account; the member logs in again to get new ones." }
            form method="post" action=(format!("{}/tokens/revoke", path(id))) {
                (page::csrf_field(csrf))
                button type="submit" class="danger" { "Revoke all tokens" }
            }
        }
    }
}

fn memberships_section(
    id: Uuid,
    csrf: &CsrfToken,
    page: Option<&MembershipsPage>,
    feedback: &Feedback,
) -> Markup {
    let name_of = |account_id: Uuid| {
        page.and_then(|page| page.included.as_ref())
            .and_then(|included| {
                included
                    .accounts
                    .iter()
                    .find(|account| account.id == account_id)
            })
            .map_or_else(|| account_id.to_string(), |account| account.name.clone())
    };
    html! {
        section aria-labelledby="memberships-heading" {
            h2 id="memberships-heading" { "Memberships" }
            @match page {
                None => { p { "The memberships could not be read." } }
                Some(page) if page.data.is_empty() => { p { "This member belongs to no account." } }
                Some(page) => {
                    table {
                        caption { "Accounts this member belongs to (" (page.meta.results.total) ")" }
                        thead { tr { th scope="col" { "Account" } th scope="col" { "Since" } th scope="col" { "Remove" } } }
                        tbody {
                            @for membership in &page.data {
                                @let account_id = membership.relationships.account.data.id;
                                tr {
                                    td { a href=(accounts::path(account_id)) { (name_of(account_id)) } }
                                    td { (membership.meta.timestamps.created_at) }
                                    td {
                                        form method="post" action=(format!("{}/memberships/{}/delete", path(id), membership.id)) {
                                            (page::csrf_field(csrf))
                                            input type="hidden" name="account_id" value=(account_id);
                                            button type="submit" aria-label=(format!("Remove from {}", name_of(account_id))) { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if page.meta.results.total > page.data.len() as u64 {
                        p class="hint" { "The first " (page.data.len()) " are shown." }
                    }
                }
            }
            form method="post" action=(format!("{}/memberships", path(id))) class="stacked" {
                (page::csrf_field(csrf))
                (Input::text("account_id", "Account id", "")
                    .required()
                    .hint("The id of the account to add this member to, shown on the account's page.")
                    .error(feedback.membership_error.as_deref())
                    .render())
                button type="submit" { "Add to account" }
            }
        }
    }
}

fn identities_section(identities: &[OidcIdentity]) -> Markup {
    html! {
        section aria-labelledby="identities-heading" {
            h2 id="identities-heading" { "OIDC identities" }
            @if identities.is_empty() {
                p { "None: this member has not logged in through an identity provider." }
            } @else {
                table {
                    caption { "Identity provider accounts linked to this member" }
                    thead { tr { th scope="col" { "Issuer" } th scope="col" { "Subject" } } }
                    tbody {
                        @for identity in identities {
                            tr { td { (identity.issuer) } td { code { (identity.subject) } } }
                        }
                    }
                }
            }
        }
    }
}
