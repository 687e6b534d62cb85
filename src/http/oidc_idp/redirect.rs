//! Redirects of the browser-facing endpoints: to the provider, and back to a storefront's
//! registered `redirect_uri` with a code or an OAuth error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::oauth_error::OAuthError;

/// Nothing these endpoints answer may be cached, and a code in a URL must not leak onward
/// through `Referer`.
pub(super) fn browser_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A redirect to `target` with `params` appended to its query, `?` or `&` as the URI needs; the
/// registered URI itself is kept byte for byte.
pub(super) fn redirect(status: StatusCode, target: &str, params: &[(&str, &str)]) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let separator = match target.find('?') {
        None => "?",
        Some(_) if target.ends_with('?') || target.ends_with('&') => "",
        Some(_) => "&",
    };
    let location = format!("{target}{separator}{query}");
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response = status.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            browser_headers(response)
        }
        Err(_) => {
            OAuthError::server_error("redirect location is not a header value").into_response()
        }
    }
}

/// A redirect to the storefront carrying an OAuth `error` (and its `state`, when there is one).
pub(super) fn error_redirect(
    status: StatusCode,
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(status, redirect_uri, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_append_to_an_existing_query() {
        let response = redirect(
            StatusCode::SEE_OTHER,
            "https://shop.example.com/cb?x=1",
            &[("code", "a b"), ("state", "s&t")],
        );
        assert_eq!(
            response.headers().get(header::LOCATION).unwrap(),
            "https://shop.example.com/cb?x=1&code=a+b&state=s%26t"
        );
        let response = redirect(
            StatusCode::SEE_OTHER,
            "https://shop.example.com/cb",
            &[("a", "1")],
        );
        assert_eq!(
            response.headers().get(header::LOCATION).unwrap(),
            "https://shop.example.com/cb?a=1"
        );
    }
}
