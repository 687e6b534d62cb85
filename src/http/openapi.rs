//! The OpenAPI 3.1 document, generated from the route annotations of the handlers (utoipa), and
//! the two routes that publish it: `GET /v2/openapi.json` (no bearer needed,
//! docs/authentication.md#permission-matrix) and `GET /docs`, a page rendered on the server from
//! the same document, so nothing is fetched from elsewhere at build or run time.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The error envelope of every failure under `/v2` and `/oauth` (docs/http-conventions.md#errors).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always exactly one error object.
    pub errors: Vec<ErrorObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// The HTTP status, as a string (docs/decisions.md#status-as-a-string).
    #[schema(example = "404")]
    pub status: String,
    #[schema(example = "Not Found")]
    pub title: String,
    #[schema(example = "account not found")]
    pub detail: String,
}

/// Malformed input: body, query parameters, filter, sort or include; or validation failed.
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct BadRequest(ErrorEnvelope);

/// The bearer token (or the account token, when sent) is missing, invalid or expired.
#[derive(IntoResponses)]
#[response(status = 401)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct Unauthorized(ErrorEnvelope);

/// The caller class may not do this (docs/authentication.md#permission-matrix).
#[derive(IntoResponses)]
#[response(status = 403)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct Forbidden(ErrorEnvelope);

/// The resource does not exist or is outside the caller's scope.
#[derive(IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct NotFound(ErrorEnvelope);

/// A uniqueness or state conflict.
#[derive(IntoResponses)]
#[response(status = 409)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct Conflict(ErrorEnvelope);

/// Validation failed on the token endpoint, or a limit was reached.
#[derive(IntoResponses)]
#[response(status = 422)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct Unprocessable(ErrorEnvelope);

/// Too many attempts: a throttled login or the per-address rate limit; wait `Retry-After`.
#[derive(IntoResponses)]
#[response(status = 429)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct TooManyRequests(ErrorEnvelope);

/// The argon2id queue is full; retry after `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(status = 503)]
#[allow(dead_code)] // Documentation only: errors are answered by ApiError.
pub struct Busy(ErrorEnvelope);

/// The document's root: metadata and the two credential schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "accountd",
        description = "Account management authentication tokens for B2B storefronts, \
            wire-compatible with Elastic Path's Account Management API."
    ),
    components(schemas(ErrorEnvelope)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "authentication", description = "Bearer tokens and account tokens"),
        (name = "accounts", description = "Accounts and their memberships"),
        (name = "account members", description = "Account members"),
        (name = "realm", description = "The authentication realm and its users and profiles"),
        (name = "settings", description = "Account authentication and membership settings"),
        (name = "application keys", description = "Client ids and secrets"),
        (name = "integrations", description = "Webhooks and their delivery logs"),
        (name = "operations", description = "Probes and this document"),
    )
)]
struct Root;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A bearer token from POST /oauth/access_token (40 hex characters)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An application key's client id and secret (token introspection)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "account_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "EP-Account-Management-Authentication-Token",
                "An account management authentication token (a JWT: HS256, EdDSA or ES256)",
            ))),
        );
    }
}

/// The document and its serialized form, shared by the two routes that publish it.
#[derive(Clone)]
struct Published {
    json: Arc<str>,
    page: Arc<str>,
}

/// Splits the annotated routes into the router and its document, and adds the document's own
/// routes.
pub fn publish(routes: OpenApiRouter<AppState>) -> (axum::Router<AppState>, Document) {
    let (router, mut document) = OpenApiRouter::with_openapi(Root::openapi())
        .merge(routes)
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
        .split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    name_operations(&mut document);
    let published = Published {
        json: document
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
            .into(),
        page: render(&document).into(),
    };
    (router.layer(Extension(published)), document)
}

/// Operation ids from method and path (`get /v2/accounts/{account_id}` → `getV2AccountsAccountId`):
/// handler names repeat across resources, and ids must be unique.
fn name_operations(document: &mut Document) {
    for (path, item) in document.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let mut id = method.to_owned();
                for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
                    let mut chars = word.chars();
                    if let Some(first) = chars.next() {
                        id.push(first.to_ascii_uppercase());
                        id.extend(chars);
                    }
                }
                operation.operation_id = Some(id);
            }
        }
    }
}

/// Anyone: the OpenAPI document of every route, no bearer token needed
/// (docs/authentication.md#permission-matrix).
#[utoipa::path(
    get,
    path = "/v2/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi_json(Extension(published): Extension<Published>) -> Response {
    let mut response = published.json.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Anyone: the API reference as one HTML page.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    responses((status = 200, description = "The API reference", content_type = "text/html"))
)]
async fn docs(Extension(published): Extension<Published>) -> Response {
    Html(published.page.to_string()).into_response()
}

/// A readable page: every operation with its parameters, body and responses.
fn render(document: &Document) -> String {
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>accountd API</title><style>\
         body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
         h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}\
         .op{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}\
         .m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}\
         code{background:#f4f4f4;padding:0 .2rem}.d{color:#555}ul{margin:.3rem 0}\
         </style></head><body>",
    );
    let _ = write!(
        page,
        "<h1>{} {}</h1><p>{}</p><p>Machine-readable: <a href=\"/v2/openapi.json\"><code>/v2/openapi.json</code></a></p>",
        escape(&document.info.title),
        escape(&document.info.version),
        escape(document.info.description.as_deref().unwrap_or_default())
    );
    for (path, item) in &document.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let _ = write!(
                page,
                "<div class=\"op\"><span class=\"m\">{method}</span><code>{}</code>",
                escape(path)
            );
            if let Some(summary) = &operation.summary {
                let _ = write!(page, " — {}", escape(summary));
            }
            if let Some(description) = &operation.description {
                let _ = write!(page, "<p class=\"d\">{}</p>", escape(description));
            }
            if let Some(parameters) = &operation.parameters {
                page.push_str("<ul>");
                for parameter in parameters {
                    let _ = write!(
                        page,
                        "<li>parameter <code>{}</code> {}</li>",
                        escape(&parameter.name),
                        escape(parameter.description.as_deref().unwrap_or_default())
                    );
                }
                page.push_str("</ul>");
            }
            if let Some(body) = &operation.request_body {
                let schemas: Vec<String> = body
                    .content
                    .values()
                    .filter_map(|content| content.schema.as_ref())
                    .map(schema_name)
                    .collect();
                let _ = write!(
                    page,
                    "<p>Body: <code>{}</code></p>",
                    escape(&schemas.join(", "))
                );
            }
            page.push_str("<ul>");
            for (status, response) in &operation.responses.responses {
                let description = match response {
                    RefOr::T(response) => response.description.clone(),
                    RefOr::Ref(reference) => reference.ref_location.clone(),
                };
                let _ = write!(
                    page,
                    "<li><b>{}</b> {}</li>",
                    escape(status),
                    escape(&description)
                );
            }
            page.push_str("</ul></div>");
        }
    }
    page.push_str("</body></html>");
    page
}

fn schema_name(schema: &RefOr<utoipa::openapi::Schema>) -> String {
    match schema {
        RefOr::Ref(reference) => reference
            .ref_location
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        RefOr::T(_) => "inline schema".to_owned(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `{"data": {...}}` wrapper of the token request (docs/http-conventions.md#request-bodies);
/// resource bodies describe their own wrapper (`http::body`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Describes the token request; `tokens::request::prepare` reads it.
pub struct Envelope<T> {
    pub data: T,
}

/// List parameters (docs/http-conventions.md); which filters, sorts and includes a list offers is
/// in its description.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documentation only: the query string is parsed by `ListParams`.
pub struct ListQuery {
    /// Records per page, 1–100 (default 25).
    #[param(rename = "page[limit]", minimum = 1, maximum = 100)]
    pub page_limit: Option<u32>,
    /// Zero-based record offset, 0–10000.
    #[param(rename = "page[offset]", minimum = 0, maximum = 10000)]
    pub page_offset: Option<u32>,
    /// Filter expressions such as `eq(name,Acme):ge(created_at,2024-01-01T00:00:00Z)`.
    pub filter: Option<String>,
    /// One field, `-` for descending, e.g. `-created_at`.
    pub sort: Option<String>,
}

/// Page parameters only.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documentation only.
pub struct PageQuery {
    /// Records per page, 1–100 (default 25).
    #[param(rename = "page[limit]", minimum = 1, maximum = 100)]
    pub page_limit: Option<u32>,
    /// Zero-based record offset, 0–10000.
    #[param(rename = "page[offset]", minimum = 0, maximum = 10000)]
    pub page_offset: Option<u32>,
}

/// Related resources to include (docs/http-conventions.md#includes).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documentation only.
pub struct IncludeQuery {
    /// `account_member` on account memberships, `account` on a member's memberships.
    pub include: Option<String>,
}
