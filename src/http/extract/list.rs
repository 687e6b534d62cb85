//! List query parameters (docs/http-conventions.md), read from the raw query string: the SDK sends
//! brackets and `filter=eq(email,a+b@example.com)` unencoded, and in `/v2` a `+` is a literal plus
//! (docs/http-conventions.md#paths-and-headers), which form decoding would turn into a space.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::ApiError;
use crate::query::filter;
use crate::store::ListQuery;

pub const MAX_LIMIT: u32 = 100;
pub const MAX_OFFSET: u32 = 10_000;

/// What the links keep of a parameter: everything but unreserved characters is encoded.
const LINK_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub limit: u32,
    pub offset: u32,
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub include: Option<String>,
}

impl ListParams {
    /// Reads the parameters; only `page[limit]` and `page[offset]` are judged here, the rest is
    /// judged by the list that uses them.
    pub fn parse(raw_query: Option<&str>, default_limit: u32) -> Result<Self, ApiError> {
        let mut params = Self {
            limit: default_limit,
            ..Self::default()
        };
        for pair in raw_query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key);
            match key.as_deref() {
                Some("page[limit]") => {
                    params.limit = decode(value)
                        .and_then(|value| value.parse::<u32>().ok())
                        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "page[limit] must be an integer between 1 and 100",
                            )
                        })?;
                }
                Some("page[offset]") => {
                    params.offset = decode(value)
                        .and_then(|value| value.parse::<u32>().ok())
                        .filter(|offset| *offset <= MAX_OFFSET)
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "page[offset] must be an integer between 0 and 10000",
                            )
                        })?;
                }
                Some("filter") => {
                    let value = decode(value).ok_or_else(|| {
                        ApiError::bad_request("Could not parse the supplied filter")
                    })?;
                    params.filter = Some(value);
                }
                Some("sort") => {
                    let value = decode(value).ok_or_else(|| {
                        ApiError::bad_request("Could not parse the supplied sort")
                    })?;
                    params.sort = Some(value);
                }
                Some("include") => {
                    let value = decode(value).ok_or_else(|| {
                        ApiError::bad_request("Could not parse the supplied include")
                    })?;
                    params.include = Some(value);
                }
                _ => {}
            }
        }
        Ok(params)
    }

    /// The store's view: the filter parsed (syntax only), the sort as given.
    pub fn to_query(&self) -> Result<ListQuery, ApiError> {
        let filter = match &self.filter {
            Some(text) => filter::parse(text)
                .map_err(|_| ApiError::bad_request("Could not parse the supplied filter"))?,
            None => Vec::new(),
        };
        Ok(ListQuery {
            filter,
            sort: self.sort.clone(),
            limit: self.limit,
            offset: self.offset,
        })
    }

    /// Refuses any `filter` on a list that has no filter table
    /// (docs/http-conventions.md#filtering).
    pub fn refuse_filter(&self) -> Result<(), ApiError> {
        match self.filter {
            Some(_) => Err(ApiError::bad_request("Could not parse the supplied filter")),
            None => Ok(()),
        }
    }

    /// `filter`, `sort` and `include` as the page links repeat them, each followed by `&`.
    pub fn link_prefix(&self) -> String {
        let mut prefix = String::new();
        for (key, value) in [
            ("filter", &self.filter),
            ("sort", &self.sort),
            ("include", &self.include),
        ] {
            if let Some(value) = value {
                prefix.push_str(key);
                prefix.push('=');
                prefix.extend(utf8_percent_encode(value, LINK_ENCODE));
                prefix.push('&');
            }
        }
        prefix
    }
}

/// The `include` parameter of a raw query string, for single-resource GETs that take nothing
/// else; decoded as in `/v2` (`+` stays a plus).
pub fn include_param(raw_query: Option<&str>) -> Result<Option<String>, ApiError> {
    for pair in raw_query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(key).as_deref() == Some("include") {
            return decode(value)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request("Could not parse the supplied include"));
        }
    }
    Ok(None)
}

/// Percent-decodes without turning `+` into a space; `None` for invalid UTF-8.
fn decode(raw: &str) -> Option<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_brackets_and_plus_signs_survive() {
        let params = ListParams::parse(
            Some("page[limit]=5&filter=eq(email,a+b@example.com)&page%5Boffset%5D=10"),
            25,
        )
        .unwrap();
        assert_eq!(params.limit, 5);
        assert_eq!(params.offset, 10);
        assert_eq!(params.filter.as_deref(), Some("eq(email,a+b@example.com)"));
    }

    #[test]
    fn limits_outside_their_bounds_are_refused_with_the_reference_wording() {
        for query in [
            "page[limit]=0",
            "page[limit]=101",
            "page[limit]=x",
            "page[limit]=",
        ] {
            let error = ListParams::parse(Some(query), 25).unwrap_err();
            assert_eq!(
                error.detail(),
                "page[limit] must be an integer between 1 and 100"
            );
        }
        let error = ListParams::parse(Some("page[offset]=10001"), 25).unwrap_err();
        assert_eq!(
            error.detail(),
            "page[offset] must be an integer between 0 and 10000"
        );
        assert!(ListParams::parse(Some("page[offset]=10000&page[limit]=100"), 25).is_ok());
    }

    #[test]
    fn links_repeat_filter_sort_and_include_encoded() {
        let params = ListParams::parse(Some("filter=eq(name,Bulk 07)&sort=-name"), 25).unwrap();
        assert_eq!(
            params.link_prefix(),
            "filter=eq%28name%2CBulk%2007%29&sort=-name&"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any query string gives parameters or a `400`, never a panic.
            #[test]
            fn any_query_string_is_parsed_or_refused(query in ".{0,200}") {
                if let Ok(params) = ListParams::parse(Some(&query), 25) {
                    prop_assert!((1..=MAX_LIMIT).contains(&params.limit));
                    prop_assert!(params.offset <= MAX_OFFSET);
                    let _ = params.to_query();
                    let _ = params.link_prefix();
                }
            }
        }
    }
}
