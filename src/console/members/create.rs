//! Creating a member with a password: the realm's user (`POST …/user-authentication-info`, which
//! makes the account member) and then its password login (`POST
//! …/user-authentication-password-profile-info`) in the password profile chosen. The API has no
//! single call for both; when the login is refused (a password too short, a username taken, the
//! hash queue full), the user just made is deleted again, so a failed form leaves no member
//! without the login it was meant to have.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::path;
use crate::console::Console;
use crate::console::api::{Api, ListPage, One};
use crate::console::page::{self, Input, PageError};
use crate::console::problem::{Field, Messages};
use crate::console::session::CsrfToken;
use crate::console::visit::{CsrfForm, SignedIn};

const TITLE: &str = "Create a member";

const USER_FIELDS: &[Field] = &[
    Field {
        name: "name",
        label: "Name",
        mentioned_by: &[],
    },
    Field {
        name: "email",
        label: "Email",
        mentioned_by: &["email"],
    },
];

const LOGIN_FIELDS: &[Field] = &[
    Field {
        name: "password_profile_id",
        label: "Password profile",
        mentioned_by: &["password profile"],
    },
    Field {
        name: "username",
        label: "Username",
        mentioned_by: &["username"],
    },
    Field {
        name: "password",
        label: "Password",
        mentioned_by: &["password"],
    },
];

/// What the form sends.
#[derive(Debug, Default, Deserialize)]
pub struct MemberFields {
    #[serde(default)]
    password_profile_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// A password profile, as the select names it.
#[derive(Debug, Deserialize)]
pub struct PasswordProfile {
    pub id: Uuid,
    pub name: String,
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

/// Signed in: the empty form.
pub async fn new_form(
    State(console): State<Console>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let api = console.api_for(&signed_in);
    let profiles = password_profiles(&api, console.app.deployment.realm_id).await?;
    Ok(form_page(
        StatusCode::OK,
        &signed_in.csrf,
        &profiles,
        &MemberFields::default(),
        &Messages::default(),
    ))
}

/// Signed in, with the form's CSRF token: creates the user and its login, and shows the member.
pub async fn create(
    State(console): State<Console>,
    form: CsrfForm<MemberFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let api = console.api_for(&signed_in);
    let realm_id = console.app.deployment.realm_id;
    let users = format!("/v2/authentication-realms/{realm_id}/user-authentication-info");
    let user = json!({"data": {
        "type": "user_authentication_info",
        "name": fields.name.trim(),
        "email": fields.email.trim(),
    }});
    let answer = api.post_json(&users, &user).await?;
    if answer.status != StatusCode::CREATED {
        let problem = answer.problem();
        return refused(
            &console,
            &signed_in,
            &api,
            problem.status,
            &fields,
            &problem.messages(USER_FIELDS),
        )
        .await;
    }
    let member = answer.read::<One<Created>>()?.data.id;
    let username = match fields.username.trim() {
        "" => fields.email.trim(),
        given => given,
    };
    let login = json!({"data": {
        "type": "user_authentication_password_profile_info",
        "password_profile_id": fields.password_profile_id.trim(),
        "username": username,
        "password": fields.password,
    }});
    let answer = api
        .post_json(
            &format!("{users}/{member}/user-authentication-password-profile-info"),
            &login,
        )
        .await?;
    if answer.status == StatusCode::CREATED {
        return Ok(page::see_other(&path(member)));
    }
    let problem = answer.problem();
    let mut messages = problem.messages(LOGIN_FIELDS);
    let undone = api.delete(&format!("{users}/{member}")).await?;
    if !undone.status.is_success() {
        messages.general.push(format!(
            "The member was created without its login, and could not be removed again: \
             find it under Members (id {member}) to give it a password or delete it."
        ));
    }
    refused(
        &console,
        &signed_in,
        &api,
        problem.status,
        &fields,
        &messages,
    )
    .await
}

/// The form again, with what the API said beside its fields.
async fn refused(
    console: &Console,
    signed_in: &SignedIn,
    api: &Api<'_>,
    status: StatusCode,
    fields: &MemberFields,
    messages: &Messages,
) -> Result<Response, PageError> {
    let profiles = password_profiles(api, console.app.deployment.realm_id).await?;
    let kept = MemberFields {
        password: String::new(),
        password_profile_id: fields.password_profile_id.clone(),
        name: fields.name.clone(),
        email: fields.email.clone(),
        username: fields.username.clone(),
    };
    Ok(form_page(
        status,
        &signed_in.csrf,
        &profiles,
        &kept,
        messages,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ProfileFields {
    #[serde(default)]
    name: String,
}

const PROFILE_FIELDS: &[Field] = &[Field {
    name: "name",
    label: "Password profile name",
    mentioned_by: &[],
}];

/// Signed in, with the form's CSRF token: the realm's first password profile, made from the
/// member form when there is none, so the form can be used at once.
pub async fn create_password_profile(
    State(console): State<Console>,
    form: CsrfForm<ProfileFields>,
) -> Result<Response, PageError> {
    let (signed_in, fields) = form.signed_in()?;
    let api = console.api_for(&signed_in);
    let realm_id = console.app.deployment.realm_id;
    let answer = api
        .post_json(
            &format!("/v2/authentication-realms/{realm_id}/password-profiles"),
            &json!({"data": {"type": "password_profile", "name": fields.name.trim()}}),
        )
        .await?;
    if answer.status == StatusCode::CREATED {
        return Ok(page::see_other("/admin/members/new"));
    }
    let problem = answer.problem();
    let profiles = password_profiles(&api, realm_id).await?;
    Ok(form_page(
        problem.status,
        &signed_in.csrf,
        &profiles,
        &MemberFields::default(),
        &problem.messages(PROFILE_FIELDS),
    ))
}

/// The realm's password profiles, in the API's order (up to a hundred: a realm has a few).
pub async fn password_profiles(
    api: &Api<'_>,
    realm_id: Uuid,
) -> Result<Vec<PasswordProfile>, PageError> {
    let answer = api
        .get(&format!(
            "/v2/authentication-realms/{realm_id}/password-profiles?page%5Blimit%5D=100"
        ))
        .await?;
    if answer.status != StatusCode::OK {
        return Ok(Vec::new());
    }
    Ok(answer.read::<ListPage<PasswordProfile>>()?.data)
}

fn form_page(
    status: StatusCode,
    csrf: &CsrfToken,
    profiles: &[PasswordProfile],
    fields: &MemberFields,
    messages: &Messages,
) -> Response {
    page::respond(
        status,
        page::document(TITLE, Some(csrf), &form(csrf, profiles, fields, messages)),
    )
}

fn form(
    csrf: &CsrfToken,
    profiles: &[PasswordProfile],
    fields: &MemberFields,
    messages: &Messages,
) -> Markup {
    html! {
        (page::alert(&messages.general))
        @if profiles.is_empty() {
            p {
                "Members log in with a username and password of a password profile, and this \
                 store has none yet. Create the first one: its name is for you (for example, \
                 your storefront's name); usernames may be anything."
            }
            form method="post" action="/admin/members/password-profiles" class="stacked" {
                (page::csrf_field(csrf))
                (Input::text("name", "Password profile name", "")
                    .required()
                    .error(messages.field("name"))
                    .render())
                button type="submit" { "Create the password profile" }
            }
        } @else {
            form method="post" action="/admin/members" class="stacked" {
                (page::csrf_field(csrf))
                (profile_select(profiles, &fields.password_profile_id, messages.field("password_profile_id")))
                (Input::text("name", "Name", &fields.name)
                    .required()
                    .autocomplete("off")
                    .error(messages.field("name"))
                    .render())
                (Input::text("email", "Email", &fields.email)
                    .kind("email")
                    .required()
                    .autocomplete("off")
                    .error(messages.field("email"))
                    .render())
                (Input::text("username", "Username", &fields.username)
                    .hint("What the member types to log in. Left empty, it is the email.")
                    .autocomplete("off")
                    .error(messages.field("username"))
                    .render())
                (Input::text("password", "Password", "")
                    .kind("password")
                    .required()
                    .autocomplete("new-password")
                    .hint("At least 8 characters. Tell it to the member by a safe way; it is \
                           never shown again.")
                    .error(messages.field("password"))
                    .render())
                button type="submit" { "Create the member" }
            }
        }
    }
}

/// A select of the password profiles, the chosen one (or the first) selected.
pub fn profile_select(profiles: &[PasswordProfile], chosen: &str, error: Option<&str>) -> Markup {
    let chosen = profiles
        .iter()
        .find(|profile| profile.id.to_string() == chosen)
        .or_else(|| profiles.first())
        .map(|profile| profile.id);
    html! {
        div class="field" {
            label for="password_profile_id" { "Password profile" }
            select id="password_profile_id" name="password_profile_id"
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| "password_profile_id-error")] {
                @for profile in profiles {
                    option value=(profile.id) selected[Some(profile.id) == chosen] { (profile.name) }
                }
            }
            @if let Some(error) = error {
                p id="password_profile_id-error" class="field-error" role="alert" { (error) }
            }
        }
    }
}
