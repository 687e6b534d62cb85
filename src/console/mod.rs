//! The admin console (docs/console.md): server-rendered pages at `/admin` for the people who look
//! after accountd's accounts in a browser. The console holds no data and no rules of its own:
//! every page reads and writes through the API, called in-process with the signed-in session's
//! bearer token (`api.rs`), so what a person does here passes the same validation, store
//! functions, events and audit rows as the same request sent with curl.

mod accounts;
mod api;
mod application_keys;
mod audit;
mod dashboard;
mod integrations;
mod listing;
mod members;
mod origin;
mod page;
mod pager;
mod problem;
mod realms;
pub mod session;
mod settings;
mod sign_in;
mod visit;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

pub use session::Sessions;

use crate::state::AppState;
use crate::telemetry;
use crate::time::Timestamp;

/// The largest form the console accepts; its forms are a few short fields.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What console handlers share: the application, and the API router they call in-process.
#[derive(Clone)]
pub struct Console {
    app: AppState,
    api: Router,
}

impl Console {
    fn sessions(&self) -> &Sessions {
        &self.app.console_sessions
    }

    fn now(&self) -> Timestamp {
        self.app.clock.now()
    }

    /// The API as a signed-in session calls it.
    fn api_for<'a>(&'a self, signed_in: &'a visit::SignedIn) -> api::Api<'a> {
        api::Api::with_bearer(
            &self.api,
            &signed_in.origin,
            self.sessions(),
            &signed_in.id,
            &signed_in.bearer,
        )
    }

    /// The API as anyone calls it, for signing in.
    fn anonymous_api<'a>(&'a self, origin: &'a origin::Origin) -> api::Api<'a> {
        api::Api::anonymous(&self.api, origin)
    }
}

/// The console's routes under `/admin`, calling `api` (the API listener's router) in-process.
/// They pass their own layers, not the API's: request id and span (`telemetry::traced`), the
/// security headers, a panic guard and the request timeout answering with pages, and a small body
/// limit. The API's layers
/// run again for each call the console makes.
pub fn router(state: AppState, api: Router) -> Router {
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn(page::security_headers))
        .layer(CatchPanicLayer::custom(page::panicked))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            within_request_timeout,
        ))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES));
    let pages = Router::new()
        .route("/admin", get(dashboard::show))
        .route("/admin/", get(|| async { page::see_other("/admin") }))
        .route(page::STYLESHEET_PATH, get(page::stylesheet))
        .route(page::SIGN_IN_PATH, get(sign_in::form).post(sign_in::submit))
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route(
            "/admin/accounts",
            get(accounts::list).post(accounts::create),
        )
        .route("/admin/accounts/new", get(accounts::new_form))
        .route("/admin/accounts/{account_id}", get(accounts::show))
        .route(
            "/admin/accounts/{account_id}/edit",
            get(accounts::edit_form).post(accounts::update),
        )
        .route(
            "/admin/accounts/{account_id}/delete",
            get(accounts::confirm_delete).post(accounts::delete),
        )
        .route(
            "/admin/accounts/{account_id}/memberships",
            post(accounts::add_member),
        )
        .route(
            "/admin/accounts/{account_id}/memberships/{membership_id}/delete",
            post(accounts::remove_membership),
        )
        .route("/admin/members", get(members::list).post(members::create))
        .route("/admin/members/new", get(members::new_form))
        .route(
            "/admin/members/password-profiles",
            post(members::create_password_profile),
        )
        .route("/admin/members/{member_id}", get(members::show))
        .route(
            "/admin/members/{member_id}/password",
            post(members::set_password),
        )
        .route(
            "/admin/members/{member_id}/lockout/clear",
            post(members::clear_lockout),
        )
        .route(
            "/admin/members/{member_id}/tokens/revoke",
            post(members::revoke_tokens),
        )
        .route(
            "/admin/members/{member_id}/memberships",
            post(members::add_membership),
        )
        .route(
            "/admin/members/{member_id}/memberships/{membership_id}/delete",
            post(members::remove_membership),
        )
        .route("/admin/audit", get(audit::list))
        .route(
            "/admin/application-keys",
            get(application_keys::list).post(application_keys::create),
        )
        .route(
            "/admin/application-keys/{application_key_id}/delete",
            get(application_keys::confirm_delete).post(application_keys::delete),
        )
        .route(
            "/admin/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route(
            "/admin/integrations/{integration_id}",
            get(integrations::show),
        )
        .route(
            "/admin/integrations/{integration_id}/test-event",
            post(integrations::send_test_event),
        )
        .route("/admin/realms", get(realms::list))
        .route("/admin/realms/{realm_id}", get(realms::show))
        .route("/admin/settings", get(settings::show))
        .route(
            "/admin/settings/account-authentication",
            post(settings::save_authentication),
        )
        .route(
            "/admin/settings/account-membership",
            post(settings::save_membership),
        )
        .route("/admin/{*rest}", any(|| async { page::not_found() }))
        .method_not_allowed_fallback(|| async {
            page::message(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not available",
                "This console page cannot be used this way.",
                ("/admin", "Go to the dashboard"),
            )
        })
        .layer(layers)
        .with_state(Console { app: state, api });
    telemetry::traced(pages)
}

/// A console request gets `request_timeout` (30 s) in all, like an API request.
async fn within_request_timeout(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => page::message(
            StatusCode::REQUEST_TIMEOUT,
            "This took too long",
            "accountd did not finish this page in time. If it changed something, the change \
             may or may not have been made: look before trying again.",
            ("/admin", "Go to the dashboard"),
        ),
    }
}
