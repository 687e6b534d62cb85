//! Signing in and out. The sign-in form takes an application key's client id and secret and
//! exchanges them at the API's own `POST /oauth/access_token` (`client_credentials`), so the
//! attempt spends the browser address's budget of that endpoint's rate limit like any other
//! (docs/authentication.md#per-address-rate-limits). The secret is never stored, logged or shown again: the
//! session keeps only the bearer token it bought.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::page::{self, Input, PageError};
use super::problem::{Field, Messages};
use super::session::{AdminGrant, CsrfToken};
use super::visit::{CsrfForm, Visit, end_cookie, start_cookie, with_cookie};
use crate::auth::secret::Secret;
use crate::http::oauth::BEARER_LIFETIME_SECS;
use crate::time::Timestamp;

const FIELDS: &[Field] = &[
    Field {
        name: "client_id",
        label: "Client id",
        mentioned_by: &["client_id"],
    },
    Field {
        name: "client_secret",
        label: "Client secret",
        mentioned_by: &["client_secret"],
    },
];

#[derive(Deserialize)]
pub struct SignInFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

/// The API's answer to a `client_credentials` request, as far as the console needs it.
#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
    /// Epoch seconds.
    expires: i64,
}

/// Anyone: the sign-in form. A browser without a live session gets a new one here, so the form
/// carries a CSRF token bound to it; a signed-in one goes to the dashboard.
pub async fn form(State(console): State<Console>, visit: Visit) -> Response {
    match &visit.session {
        Some((_, session)) if session.admin.is_some() => page::see_other("/admin"),
        Some((_, session)) => sign_in_page(StatusCode::OK, &session.csrf, "", &Messages::default()),
        None => {
            let (id, session) = console.sessions().start(console.now());
            with_cookie(
                start_cookie(&id, visit.https),
                sign_in_page(StatusCode::OK, &session.csrf, "", &Messages::default()),
            )
        }
    }
}

/// Anyone with the form's CSRF token: signs in, or shows the form again with what went wrong.
pub async fn submit(
    State(console): State<Console>,
    form: CsrfForm<SignInFields>,
) -> Result<Response, PageError> {
    let CsrfForm { visit, fields } = form;
    let Some((id, session)) = &visit.session else {
        // CsrfForm admits only a request with a live session.
        return Err(PageError::internal(
            "a sign-in form passed without a session",
        ));
    };
    let body = super::api::query(&[
        ("grant_type", "client_credentials"),
        ("client_id", &fields.client_id),
        ("client_secret", &fields.client_secret),
    ]);
    let answer = console
        .anonymous_api(&visit.origin)
        .post_form("/oauth/access_token", body)
        .await?;
    if answer.status != StatusCode::OK {
        let problem = answer.problem();
        let messages = match problem.status {
            StatusCode::UNAUTHORIZED => Messages::general(
                "The client id and secret are not those of an application key. Check both and \
                 try again.",
            ),
            _ => problem.messages(FIELDS),
        };
        return Ok(sign_in_page(
            problem.status,
            &session.csrf,
            &fields.client_id,
            &messages,
        ));
    }
    let token: AccessToken = answer.read()?;
    let grant = AdminGrant {
        bearer: Secret::new(token.access_token),
        expires_at: Timestamp::from_seconds(token.expires),
    };
    let (new_id, _) = console.sessions().sign_in(id, grant, console.now());
    Ok(with_cookie(
        start_cookie(&new_id, visit.https),
        page::see_other("/admin"),
    ))
}

/// Any session with its CSRF token: ends it and sends the browser to the sign-in page. The bearer
/// token is forgotten; it stays valid at the API until it expires, but nothing holds it any more.
pub async fn sign_out(State(console): State<Console>, form: CsrfForm<Empty>) -> Response {
    let CsrfForm { visit, .. } = form;
    if let Some((id, _)) = &visit.session {
        console.sessions().end(id);
    }
    with_cookie(end_cookie(visit.https), page::see_other(page::SIGN_IN_PATH))
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct Empty {}

/// The sign-in page; `client_id` is shown again after a failure, the secret never.
fn sign_in_page(
    status: StatusCode,
    csrf: &CsrfToken,
    client_id: &str,
    messages: &Messages,
) -> Response {
    page::respond(
        status,
        page::document("Sign in", None, &content(csrf, client_id, messages)),
    )
}

fn content(csrf: &CsrfToken, client_id: &str, messages: &Messages) -> Markup {
    html! {
        p {
            "Sign in with the client id and secret of an application key. The console then acts as "
            "that key does through the API, until its bearer token expires "
            (BEARER_LIFETIME_SECS / 60) " minutes later."
        }
        (page::alert(&messages.general))
        form method="post" action=(page::SIGN_IN_PATH) class="stacked" {
            (page::csrf_field(csrf))
            (Input::text("client_id", "Client id", client_id)
                .required()
                .autocomplete("username")
                .error(messages.field("client_id"))
                .render())
            (Input::text("client_secret", "Client secret", "")
                .kind("password")
                .required()
                .autocomplete("current-password")
                .error(messages.field("client_secret"))
                .render())
            button type="submit" { "Sign in" }
        }
    }
}
