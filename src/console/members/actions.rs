//! What an admin does to a member from its page, each one API call: set a password (`PUT` of its
//! password login, or a new login when it has none), clear its lockout, revoke its account
//! tokens, add it to an account and remove a membership. Success goes back to the member's page
//! with a notice; a refusal shows the page again with the API's reason beside the field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::detail::{Done, Feedback, render};
use super::{Member, path, realm_user_path};
use crate::console::Console;
use crate::console::api::One;
use crate::console::page::{self, PageError};
use crate::console::problem::Field;
use crate::console::visit::{CsrfForm, NoFields, SignedIn};
use crate::http::validation::parse_uuid;

const PASSWORD_FIELDS: &[Field] = &[Field {
    name: "password",
    label: "New password",
    mentioned_by: &["password"],
}];

const ACCOUNT_FIELDS: &[Field] = &[Field {
    name: "account_id",
    label: "Account id",
    mentioned_by: &["account"],
}];

#[derive(Debug, Deserialize)]
pub struct PasswordFields {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password_profile_id: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
pub struct AccountField {
    #[serde(default)]
    account_id: String,
}

fn member_id(raw: &str) -> Result<Uuid, PageError> {
    parse_uuid(raw).ok_or(PageError::NotFound)
}

fn done(id: Uuid, done: Done) -> Response {
    page::see_other(&format!("{}?done={}", path(id), done.code()))
}

/// The member's page again, with `feedback` and the API's status.
async fn again(
    console: &Console,
    signed_in: &SignedIn,
    id: Uuid,
    status: StatusCode,
    feedback: Feedback,
) -> Result<Response, PageError> {
    render(console, signed_in, id, status, &feedback).await
}

/// Sets the password of the member's one chosen login, or gives it a login with its email as
/// the username when it has none.
pub async fn set_password(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<PasswordFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let id = member_id(&raw_id)?;
    let api = console.api_for(&signed_in);
    let realm_id = console.app.deployment.realm_id;
    const TYPE: &str = "user_authentication_password_profile_info";
    let answer = match parse_uuid(fields.login_id.trim()) {
        Some(login) => {
            api.put_json(
                &realm_user_path(
                    realm_id,
                    id,
                    &format!("/user-authentication-password-profile-info/{login}"),
                ),
                &json!({"data": {"type": TYPE, "password": fields.password}}),
            )
            .await?
        }
        None => {
            let member = api.get(&format!("/v2/account-members/{id}")).await?;
            if member.status != StatusCode::OK {
                let problem = member.problem();
                let feedback = Feedback {
                    general: problem.messages(&[]).general,
                    ..Feedback::default()
                };
                return again(&console, &signed_in, id, problem.status, feedback).await;
            }
            let email = member.read::<One<Member>>()?.data.email;
            api.post_json(
                &realm_user_path(realm_id, id, "/user-authentication-password-profile-info"),
                &json!({"data": {
                    "type": TYPE,
                    "password_profile_id": fields.password_profile_id.trim(),
                    "username": email,
                    "password": fields.password,
                }}),
            )
            .await?
        }
    };
    if answer.status.is_success() {
        return Ok(done(id, Done::PasswordSet));
    }
    let problem = answer.problem();
    let mut messages = problem.messages(PASSWORD_FIELDS);
    let feedback = Feedback {
        password_error: messages.field("password").map(str::to_owned),
        general: std::mem::take(&mut messages.general),
        ..Feedback::default()
    };
    again(&console, &signed_in, id, problem.status, feedback).await
}

/// One `DELETE` on the member (`/lockout`, `/tokens`), then back to its page.
async fn delete_on_member(
    console: &Console,
    raw_id: &str,
    form: CsrfForm<NoFields>,
    what: &str,
    outcome: Done,
) -> Result<Response, PageError> {
    let (signed_in, _) = form.signed_in()?;
    let id = member_id(raw_id)?;
    let answer = console
        .api_for(&signed_in)
        .delete(&format!("/v2/account-members/{id}/{what}"))
        .await?;
    if answer.status.is_success() {
        return Ok(done(id, outcome));
    }
    let problem = answer.problem();
    let feedback = Feedback {
        general: problem.messages(&[]).general,
        ..Feedback::default()
    };
    again(console, &signed_in, id, problem.status, feedback).await
}

pub async fn clear_lockout(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    delete_on_member(&console, &raw_id, form, "lockout", Done::LockoutCleared).await
}

pub async fn revoke_tokens(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    delete_on_member(&console, &raw_id, form, "tokens", Done::TokensRevoked).await
}

/// Adds the member to the account whose id the form names.
pub async fn add_membership(
    State(console): State<Console>,
    Path(raw_id): Path<String>,
    form: CsrfForm<AccountField>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let id = member_id(&raw_id)?;
    let Some(account) = parse_uuid(fields.account_id.trim()) else {
        let feedback = Feedback {
            membership_error: Some(
                "Enter the id of an account, such as 0b5fd36a-3c1e-4a8b-9a53-52bd28f1c9ad: it \
                 is shown on the account's page."
                    .to_owned(),
            ),
            ..Feedback::default()
        };
        return again(&console, &signed_in, id, StatusCode::BAD_REQUEST, feedback).await;
    };
    let answer = console
        .api_for(&signed_in)
        .post_json(
            &format!("/v2/accounts/{account}/account-memberships"),
            &json!({"data": {"type": "account_membership", "account_member_id": id}}),
        )
        .await?;
    if answer.status.is_success() {
        return Ok(done(id, Done::MembershipAdded));
    }
    let problem = answer.problem();
    let mut messages = problem.messages(ACCOUNT_FIELDS);
    let beside = messages
        .field("account_id")
        .map(str::to_owned)
        .or_else(|| {
            (problem.status == StatusCode::NOT_FOUND).then(|| "No account has this id.".to_owned())
        })
        .or_else(|| messages.general.pop());
    let feedback = Feedback {
        membership_error: beside,
        general: messages.general,
        ..Feedback::default()
    };
    again(&console, &signed_in, id, problem.status, feedback).await
}

/// Removes membership `membership_id` of the account the form names.
pub async fn remove_membership(
    State(console): State<Console>,
    Path((raw_id, raw_membership)): Path<(String, String)>,
    form: CsrfForm<AccountField>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let id = member_id(&raw_id)?;
    let membership = parse_uuid(&raw_membership).ok_or(PageError::NotFound)?;
    let account = parse_uuid(fields.account_id.trim()).ok_or(PageError::NotFound)?;
    let answer = console
        .api_for(&signed_in)
        .delete(&format!(
            "/v2/accounts/{account}/account-memberships/{membership}"
        ))
        .await?;
    if answer.status.is_success() {
        return Ok(done(id, Done::MembershipRemoved));
    }
    let problem = answer.problem();
    let feedback = Feedback {
        general: problem.messages(&[]).general,
        ..Feedback::default()
    };
    again(&console, &signed_in, id, problem.status, feedback).await
}
