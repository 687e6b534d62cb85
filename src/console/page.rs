//! The console's pages as HTML: the document every page shares (one `<h1>`, `<main>`, the
//! stylesheet, the navigation and sign-out form once signed in), labelled form fields whose
//! errors sit beside them, the headers every console answer carries, and the pages for answers
//! that are not a page of their own (refused forms, unknown pages, failures).

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::CsrfToken;

pub const STYLESHEET_PATH: &str = "/admin/console.css";
pub const SIGN_IN_PATH: &str = "/admin/sign-in";
const STYLESHEET: &str = include_str!("console.css");

/// Nothing but the console's own origin may supply scripts, styles, images or form targets, and
/// no other site may frame it (docs/console.md#security-model).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// The console's sections, in the masthead of every signed-in page.
const NAVIGATION: [(&str, &str); 8] = [
    ("/admin", "Dashboard"),
    ("/admin/accounts", "Accounts"),
    ("/admin/members", "Members"),
    ("/admin/audit", "Audit trail"),
    ("/admin/application-keys", "Application keys"),
    ("/admin/integrations", "Integrations"),
    ("/admin/realms", "Realms"),
    ("/admin/settings", "Settings"),
];

/// A page: its title is also its one `<h1>`. `signed_in` carries the session's CSRF token for the
/// sign-out form in the header, and shows the navigation.
pub fn document(title: &str, signed_in: Option<&CsrfToken>, content: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · accountd console" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                header class="masthead" {
                    a class="brand" href="/admin" { "accountd console" }
                    @if let Some(csrf) = signed_in {
                        nav aria-label="Console" {
                            ul {
                                @for (href, label) in NAVIGATION {
                                    li { a href=(href) { (label) } }
                                }
                            }
                        }
                        form class="sign-out" method="post" action="/admin/sign-out" {
                            (csrf_field(csrf))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (content) }
            }
        }
    }
}

/// The hidden field every console form carries.
pub fn csrf_field(csrf: &CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(csrf.form_value()); }
}

/// One labelled input, with its hint and its error (announced, beside it) when there is one.
pub struct Input<'a> {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: &'a str,
    pub required: bool,
    pub hint: Option<&'static str>,
    pub autocomplete: Option<&'static str>,
    pub error: Option<&'a str>,
}

impl<'a> Input<'a> {
    pub fn text(name: &'static str, label: &'static str, value: &'a str) -> Self {
        Self {
            name,
            label,
            kind: "text",
            value,
            required: false,
            hint: None,
            autocomplete: None,
            error: None,
        }
    }

    pub fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    pub fn kind(self, kind: &'static str) -> Self {
        Self { kind, ..self }
    }

    pub fn hint(self, hint: &'static str) -> Self {
        Self {
            hint: Some(hint),
            ..self
        }
    }

    pub fn autocomplete(self, autocomplete: &'static str) -> Self {
        Self {
            autocomplete: Some(autocomplete),
            ..self
        }
    }

    pub fn error(self, error: Option<&'a str>) -> Self {
        Self { error, ..self }
    }

    pub fn render(&self) -> Markup {
        let hint_id = format!("{}-hint", self.name);
        let error_id = format!("{}-error", self.name);
        let described_by: Vec<&str> = [
            self.hint.map(|_| hint_id.as_str()),
            self.error.map(|_| error_id.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let described_by = (!described_by.is_empty()).then(|| described_by.join(" "));
        html! {
            div class="field" {
                label for=(self.name) {
                    (self.label)
                    @if !self.required { " " span class="optional" { "(optional)" } }
                }
                @if let Some(hint) = self.hint { p id=(hint_id) class="hint" { (hint) } }
                input id=(self.name) name=(self.name) type=(self.kind) value=(self.value)
                    required[self.required]
                    autocomplete=[self.autocomplete]
                    aria-invalid=[self.error.map(|_| "true")]
                    aria-describedby=[described_by];
                @if let Some(error) = self.error {
                    p id=(error_id) class="field-error" role="alert" { (error) }
                }
            }
        }
    }
}

/// Messages that concern no one field, announced above the form.
pub fn alert(messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            div class="alert" role="alert" {
                @for message in messages { p { (message) } }
            }
        }
    }
}

pub fn respond(status: StatusCode, page: Markup) -> Response {
    (status, Html(page.into_string())).into_response()
}

/// `303 See Other` to `location`: where a form sends the browser next.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// A page with a title, one paragraph and a way on.
pub fn message(status: StatusCode, title: &str, text: &str, onward: (&str, &str)) -> Response {
    let content = html! {
        p { (text) }
        p { a href=(onward.0) { (onward.1) } }
    };
    respond(status, document(title, None, &content))
}

/// The answer to a form whose `csrf_token` is missing or not its session's.
pub fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "This form cannot be accepted",
        "The form did not carry the security token of your session: it may come from an old \
         page, from a session that has ended, or from another site. Nothing was changed.",
        (SIGN_IN_PATH, "Start again from the sign-in page"),
    )
}

pub fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no console page at this address.",
        ("/admin", "Go to the dashboard"),
    )
}

/// A failure inside the console, whose cause was logged and is not shown.
pub fn failed() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The console could not show this page. The cause has been logged; try again, and if it \
         keeps happening tell whoever runs accountd.",
        ("/admin", "Go to the dashboard"),
    )
}

/// Why a console page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// The page needs a signed-in session: there is none, or the API refused its bearer
    /// token and it has ended.
    SignedOut,
    NotFound,
    /// Logged with its cause, which never holds a secret; the browser sees [`failed`].
    Internal(String),
}

impl PageError {
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut => see_other(SIGN_IN_PATH),
            Self::NotFound => not_found(),
            Self::Internal(cause) => {
                tracing::error!(%cause, "a console page failed");
                failed()
            }
        }
    }
}

/// Every console answer: the Content-Security-Policy, never cached (pages hold account data and
/// the CSRF token), no MIME sniffing, no referrer (list addresses may hold a search), no framing
/// by browsers that predate `frame-ancestors`.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The stylesheet, compiled into the binary.
pub async fn stylesheet() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLESHEET,
    )
        .into_response()
}

/// A console handler that panicked: the generic failure page; the panic text may hold anything,
/// so it is neither logged nor shown.
pub fn panicked(_panic: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("a console handler panicked");
    failed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_has_its_label_and_its_error_beside_it() {
        let markup = Input::text("name", "Name", "A <b>")
            .required()
            .error(Some("Name is required."))
            .render()
            .into_string();
        assert!(
            markup.contains(r#"<label for="name">Name</label>"#),
            "{markup}"
        );
        assert!(markup.contains(r#"value="A &lt;b&gt;""#), "{markup}");
        assert!(
            markup.contains(r#"aria-describedby="name-error""#),
            "{markup}"
        );
        assert!(
            markup.contains(
                r#"<p id="name-error" class="field-error" role="alert">Name is required.</p>"#
            ),
            "{markup}"
        );
        let optional = Input::text("legal_name", "Legal name", "")
            .hint("As registered.")
            .render()
            .into_string();
        assert!(optional.contains("(optional)"), "{optional}");
        assert!(
            optional.contains(r#"aria-describedby="legal_name-hint""#),
            "{optional}"
        );
        assert!(!optional.contains("role=\"alert\""), "{optional}");
    }

    #[test]
    fn a_page_has_one_h1_a_main_and_its_language() {
        let page = document("Accounts", None, &html! { p { "x" } }).into_string();
        assert!(
            page.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{page}"
        );
        assert_eq!(page.matches("<h1").count(), 1);
        assert_eq!(page.matches("<main").count(), 1);
        assert!(!page.contains("Sign out"));
    }
}
