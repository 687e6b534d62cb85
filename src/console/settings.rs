//! The two settings documents, each an edit form saved with the API's `PUT`: the account
//! authentication settings (`/v2/settings/account-authentication`) and the account membership
//! settings (`/v2/settings/account-membership`). Each form sends every field it shows, so what
//! the page says is what is saved.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::api::{Answer, Api, One};
use super::page::{self, Input, PageError};
use super::pager::{query_pairs, value};
use super::problem::{Field, Messages};
use super::session::CsrfToken;
use super::visit::{CsrfForm, SignedIn};
use crate::store::SelfManagement;

const PATH: &str = "/admin/settings";
const AUTHENTICATION_PATH: &str = "/admin/settings/account-authentication";
const MEMBERSHIP_PATH: &str = "/admin/settings/account-membership";
const AUTHENTICATION_API: &str = "/v2/settings/account-authentication";
const MEMBERSHIP_API: &str = "/v2/settings/account-membership";

const TIMEOUT: &str = "account_management_authentication_token_timeout_secs";

const AUTHENTICATION_FIELDS: &[Field] = &[
    Field {
        name: "enable_self_signup",
        label: "Self sign-up",
        mentioned_by: &[],
    },
    Field {
        name: "auto_create_account_for_account_members",
        label: "Create an account for each new member",
        mentioned_by: &[],
    },
    Field {
        name: "account_member_self_management",
        label: "Members managing themselves",
        mentioned_by: &[],
    },
    Field {
        name: TIMEOUT,
        label: "Account token lifetime (seconds)",
        mentioned_by: &[],
    },
];

const MEMBERSHIP_FIELDS: &[Field] = &[Field {
    name: "membership_limit",
    label: "Memberships per member",
    mentioned_by: &[],
}];

/// The account authentication settings as the form shows and sends them. A checkbox left
/// unticked is not sent at all, so absent means off.
#[derive(Debug, Default, Deserialize)]
pub struct AuthenticationFields {
    #[serde(default)]
    enable_self_signup: Option<String>,
    #[serde(default)]
    auto_create_account_for_account_members: Option<String>,
    #[serde(default)]
    account_member_self_management: String,
    #[serde(default)]
    account_management_authentication_token_timeout_secs: String,
}

impl AuthenticationFields {
    fn api_body(&self) -> Value {
        json!({"data": {
            "type": "account_authentication_settings",
            "enable_self_signup": self.enable_self_signup.is_some(),
            "auto_create_account_for_account_members":
                self.auto_create_account_for_account_members.is_some(),
            "account_member_self_management": self.account_member_self_management.trim(),
            TIMEOUT: number(&self.account_management_authentication_token_timeout_secs),
        }})
    }
}

#[derive(Debug, Deserialize)]
struct AuthenticationSettings {
    enable_self_signup: bool,
    auto_create_account_for_account_members: bool,
    account_member_self_management: String,
    account_management_authentication_token_timeout_secs: i64,
}

impl From<AuthenticationSettings> for AuthenticationFields {
    fn from(settings: AuthenticationSettings) -> Self {
        let ticked = |on: bool| on.then(|| "on".to_owned());
        Self {
            enable_self_signup: ticked(settings.enable_self_signup),
            auto_create_account_for_account_members: ticked(
                settings.auto_create_account_for_account_members,
            ),
            account_member_self_management: settings.account_member_self_management,
            account_management_authentication_token_timeout_secs: settings
                .account_management_authentication_token_timeout_secs
                .to_string(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MembershipFields {
    #[serde(default)]
    membership_limit: String,
}

impl MembershipFields {
    fn api_body(&self) -> Value {
        json!({"data": {
            "type": "account_membership_setting",
            "membership_limit": number(&self.membership_limit),
        }})
    }
}

#[derive(Debug, Deserialize)]
struct MembershipSettings {
    membership_limit: i64,
}

/// A whole number as a JSON number; anything else as typed, for the API to say what is wrong.
fn number(text: &str) -> Value {
    let text = text.trim();
    text.parse::<i64>()
        .map_or_else(|_| json!(text), |n| json!(n))
}

/// One settings form as the page shows it: its fields, or why they cannot be shown, and the
/// messages of a save that failed.
enum Shown<T> {
    Fields(T, Messages),
    Unavailable(Vec<String>),
}

/// Signed in: both settings documents, each in its form.
pub async fn show(
    State(console): State<Console>,
    signed_in: SignedIn,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let api = console.api_for(&signed_in);
    let saved = match value(&query_pairs(raw.as_deref()), "saved") {
        "account-authentication" => Some("The account authentication settings are saved."),
        "account-membership" => Some("The account membership settings are saved."),
        _ => None,
    };
    let (authentication, membership) =
        tokio::join!(read_authentication(&api), read_membership(&api));
    Ok(settings_page(
        StatusCode::OK,
        &signed_in.csrf,
        saved,
        &authentication?,
        &membership?,
    ))
}

/// Signed in, with the form's CSRF token: saves the account authentication settings.
pub async fn save_authentication(
    State(console): State<Console>,
    form: CsrfForm<AuthenticationFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let api = console.api_for(&signed_in);
    let answer = api.put_json(AUTHENTICATION_API, &fields.api_body()).await?;
    if answer.status == StatusCode::OK {
        return Ok(page::see_other(&format!(
            "{PATH}?saved=account-authentication"
        )));
    }
    let problem = answer.problem();
    let authentication = Shown::Fields(fields, problem.messages(AUTHENTICATION_FIELDS));
    let membership = read_membership(&api).await?;
    Ok(settings_page(
        problem.status,
        &signed_in.csrf,
        None,
        &authentication,
        &membership,
    ))
}

/// Signed in, with the form's CSRF token: saves the account membership settings.
pub async fn save_membership(
    State(console): State<Console>,
    form: CsrfForm<MembershipFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let api = console.api_for(&signed_in);
    let answer = api.put_json(MEMBERSHIP_API, &fields.api_body()).await?;
    if answer.status == StatusCode::OK {
        return Ok(page::see_other(&format!("{PATH}?saved=account-membership")));
    }
    let problem = answer.problem();
    let membership = Shown::Fields(fields, problem.messages(MEMBERSHIP_FIELDS));
    let authentication = read_authentication(&api).await?;
    Ok(settings_page(
        problem.status,
        &signed_in.csrf,
        None,
        &authentication,
        &membership,
    ))
}

async fn read_authentication(api: &Api<'_>) -> Result<Shown<AuthenticationFields>, PageError> {
    let answer = api.get(AUTHENTICATION_API).await?;
    read(&answer, |settings: AuthenticationSettings| settings.into())
}

async fn read_membership(api: &Api<'_>) -> Result<Shown<MembershipFields>, PageError> {
    let answer = api.get(MEMBERSHIP_API).await?;
    read(&answer, |settings: MembershipSettings| MembershipFields {
        membership_limit: settings.membership_limit.to_string(),
    })
}

fn read<S: serde::de::DeserializeOwned, T>(
    answer: &Answer,
    fields: impl FnOnce(S) -> T,
) -> Result<Shown<T>, PageError> {
    if answer.status == StatusCode::OK {
        let settings = answer.read::<One<S>>()?.data;
        Ok(Shown::Fields(fields(settings), Messages::default()))
    } else {
        Ok(Shown::Unavailable(answer.problem().messages(&[]).general))
    }
}

fn settings_page(
    status: StatusCode,
    csrf: &CsrfToken,
    saved: Option<&str>,
    authentication: &Shown<AuthenticationFields>,
    membership: &Shown<MembershipFields>,
) -> Response {
    let content = html! {
        @if let Some(saved) = saved { p class="notice" role="status" { (saved) } }
        section aria-labelledby="authentication-heading" {
            h2 id="authentication-heading" { "Account authentication" }
            @match authentication {
                Shown::Fields(fields, messages) => { (authentication_form(csrf, fields, messages)) }
                Shown::Unavailable(messages) => { (page::alert(messages)) }
            }
        }
        section aria-labelledby="membership-heading" {
            h2 id="membership-heading" { "Account membership" }
            @match membership {
                Shown::Fields(fields, messages) => { (membership_form(csrf, fields, messages)) }
                Shown::Unavailable(messages) => { (page::alert(messages)) }
            }
        }
    };
    page::respond(status, page::document("Settings", Some(csrf), &content))
}

fn authentication_form(
    csrf: &CsrfToken,
    fields: &AuthenticationFields,
    messages: &Messages,
) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="post" action=(AUTHENTICATION_PATH) class="stacked" {
            (page::csrf_field(csrf))
            (checkbox(
                "enable_self_signup",
                "Self sign-up: shoppers may create their own member with a password",
                fields.enable_self_signup.is_some(),
                messages,
            ))
            (checkbox(
                "auto_create_account_for_account_members",
                "Create an account for each new member, with the member in it",
                fields.auto_create_account_for_account_members.is_some(),
                messages,
            ))
            (self_management_select(&fields.account_member_self_management, messages))
            (Input::text(TIMEOUT, "Account token lifetime (seconds)", &fields.account_management_authentication_token_timeout_secs)
                .kind("number")
                .required()
                .hint("How long an account token lasts: from 60 seconds to 2592000 (30 days).")
                .error(messages.field(TIMEOUT))
                .render())
            button type="submit" { "Save" }
        }
    }
}

fn membership_form(csrf: &CsrfToken, fields: &MembershipFields, messages: &Messages) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="post" action=(MEMBERSHIP_PATH) class="stacked" {
            (page::csrf_field(csrf))
            (Input::text("membership_limit", "Memberships per member", &fields.membership_limit)
                .kind("number")
                .required()
                .hint("How many accounts one member may belong to: from 1 to 10000.")
                .error(messages.field("membership_limit"))
                .render())
            button type="submit" { "Save" }
        }
    }
}

fn checkbox(name: &'static str, label: &str, checked: bool, messages: &Messages) -> Markup {
    let error = messages.field(name);
    let error_id = format!("{name}-error");
    html! {
        div class="field checkbox" {
            input id=(name) name=(name) type="checkbox" value="on" checked[checked]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.as_str())];
            " "
            label for=(name) { (label) }
            @if let Some(error) = error {
                p id=(error_id) class="field-error" role="alert" { (error) }
            }
        }
    }
}

fn self_management_select(current: &str, messages: &Messages) -> Markup {
    let name = "account_member_self_management";
    let error = messages.field(name);
    let error_id = format!("{name}-error");
    let described_by = if error.is_some() {
        format!("{name}-hint {error_id}")
    } else {
        format!("{name}-hint")
    };
    html! {
        div class="field" {
            label for=(name) { "Members managing themselves" }
            p id={ (name) "-hint" } class="hint" {
                "Whether a member may change their own name, email and password with an account \
                 management token."
            }
            select id=(name) name=(name) aria-describedby=(described_by)
                aria-invalid=[error.map(|_| "true")] {
                @for choice in SelfManagement::ALL {
                    option value=(choice) selected[*choice == current] { (choice_label(choice)) }
                }
            }
            @if let Some(error) = error {
                p id=(error_id) class="field-error" role="alert" { (error) }
            }
        }
    }
}

fn choice_label(choice: &str) -> &str {
    match choice {
        "disabled" => "Not allowed (disabled)",
        "update_only" => "Allowed to update (update_only)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_send_every_field_typed_as_the_api_reads_them() {
        let fields = AuthenticationFields {
            enable_self_signup: Some("on".to_owned()),
            auto_create_account_for_account_members: None,
            account_member_self_management: "update_only".to_owned(),
            account_management_authentication_token_timeout_secs: " 3600 ".to_owned(),
        };
        assert_eq!(
            fields.api_body(),
            json!({"data": {
                "type": "account_authentication_settings",
                "enable_self_signup": true,
                "auto_create_account_for_account_members": false,
                "account_member_self_management": "update_only",
                TIMEOUT: 3600,
            }})
        );
        let typed = MembershipFields {
            membership_limit: "lots".to_owned(),
        };
        assert_eq!(typed.api_body()["data"]["membership_limit"], "lots");
    }
}
