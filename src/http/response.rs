//! Response envelopes (docs/http-conventions.md#responses) and the page metadata and links every
//! list carries (docs/http-conventions.md#pagination).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::extract::list::{ListParams, MAX_OFFSET};
use crate::error::ApiError;
use crate::store::Page;
pub use crate::wire::{
    FlatTimestamps, Included, Linked, Reference, ReferenceData, SelfLink, Timestamps,
    TimestampsMeta,
};

/// `{"data": {...}, "links": {"self": …}}`: the self link in both places
/// (docs/http-conventions.md#responses).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Single<T> {
    pub data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Included>,
    pub links: SelfLink,
}

impl<T: Serialize + Linked> Single<T> {
    pub fn new(data: T) -> Self {
        let links = SelfLink::new(data.self_link().to_owned());
        Self {
            data,
            included: None,
            links,
        }
    }

    pub fn with_included(self, included: Option<Included>) -> Response {
        json(StatusCode::OK, &Self { included, ..self }, BODY_CAPACITY)
    }

    pub fn ok(data: T) -> Response {
        json(StatusCode::OK, &Self::new(data), BODY_CAPACITY)
    }

    pub fn created(data: T) -> Response {
        json(StatusCode::CREATED, &Self::new(data), BODY_CAPACITY)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Included>,
    pub meta: ListMeta,
    pub links: PageLinks,
}

impl<T: Serialize> List<T> {
    /// A page of `data` out of `total`, for the list at absolute URL `url`.
    pub fn new(data: Vec<T>, url: &str, params: &ListParams, total: u64) -> Self {
        let (page, links) = paginate(url, params, total);
        Self {
            data,
            included: None,
            meta: ListMeta {
                page,
                results: Results { total },
            },
            links,
        }
    }

    /// A page from the store as the list at absolute URL `url`, each item rendered by `data`.
    pub fn of_page<I>(
        page: Page<I>,
        data: impl FnMut(I) -> T,
        url: &str,
        params: &ListParams,
    ) -> Self {
        let items = page.items.into_iter().map(data).collect();
        Self::new(items, url, params, page.total)
    }

    pub fn ok(self) -> Response {
        json(StatusCode::OK, &self, BODY_CAPACITY)
    }

    pub fn with_included(self, included: Option<Included>) -> Response {
        json(StatusCode::OK, &Self { included, ..self }, BODY_CAPACITY)
    }
}

/// A single resource serializes to 600–900 bytes. `axum::Json` starts its buffer at 128 bytes
/// and grows it three or four times, copying each time; starting at 1 KiB writes a single
/// resource without a copy. Lists still grow from here, but less often.
pub const BODY_CAPACITY: usize = 1024;

/// `application/json` with `value` as the body, as `axum::Json` answers, but serialized into a
/// buffer of `capacity` bytes from the start.
pub fn json<T: Serialize>(status: StatusCode, value: &T, capacity: usize) -> Response {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            ApiError::internal(format!("serializing a response: {error}")).into_response()
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListMeta {
    pub page: PageMeta,
    pub results: Results,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct PageMeta {
    pub limit: u32,
    pub offset: u32,
    pub current: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Results {
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PageLinks {
    pub current: String,
    pub first: String,
    pub last: String,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// The page metadata and links (docs/http-conventions.md#pagination); links never point past the
/// offset limit.
pub fn paginate(url: &str, params: &ListParams, total: u64) -> (PageMeta, PageLinks) {
    let limit = u64::from(params.limit.max(1));
    let offset = u64::from(params.offset);
    let max_offset = u64::from(MAX_OFFSET);
    let pages = total.div_ceil(limit);
    let last = (pages.saturating_sub(1) * limit).min(max_offset / limit * limit);
    let prefix = params.link_prefix();
    let link = |at: u64| format!("{url}?{prefix}page[offset]={at}&page[limit]={limit}");
    let next = offset + limit;
    let meta = PageMeta {
        limit: params.limit,
        offset: params.offset,
        current: offset / limit + 1,
        total: pages,
    };
    let links = PageLinks {
        current: link(offset),
        first: link(0),
        last: link(last),
        next: (next < total && next <= max_offset).then(|| link(next)),
        prev: (offset > 0).then(|| link(offset.saturating_sub(limit))),
    };
    (meta, links)
}

/// Responses that carry a credential must not be cached anywhere.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: u32, offset: u32) -> ListParams {
        ListParams {
            limit,
            offset,
            ..ListParams::default()
        }
    }

    #[test]
    fn an_empty_list_has_no_pages_and_links_to_offset_zero() {
        let (meta, links) = paginate("http://x/v2/accounts", &params(25, 0), 0);
        assert_eq!((meta.current, meta.total), (1, 0));
        assert_eq!(
            links.last,
            "http://x/v2/accounts?page[offset]=0&page[limit]=25"
        );
        assert_eq!((links.next, links.prev), (None, None));
    }

    #[test]
    fn the_middle_page_links_both_ways() {
        let (meta, links) = paginate("http://x/l", &params(10, 10), 35);
        assert_eq!((meta.current, meta.total), (2, 4));
        assert_eq!(
            links.next.as_deref(),
            Some("http://x/l?page[offset]=20&page[limit]=10")
        );
        assert_eq!(
            links.prev.as_deref(),
            Some("http://x/l?page[offset]=0&page[limit]=10")
        );
        assert_eq!(links.last, "http://x/l?page[offset]=30&page[limit]=10");
    }

    #[test]
    fn links_stop_at_the_offset_limit() {
        let (_, links) = paginate("http://x/l", &params(30, 9990), 50_000);
        assert_eq!(links.next, None);
        assert_eq!(links.last, "http://x/l?page[offset]=9990&page[limit]=30");
        let (_, links) = paginate("http://x/l", &params(100, 9900), 50_000);
        assert_eq!(
            links.next.as_deref(),
            Some("http://x/l?page[offset]=10000&page[limit]=100")
        );
    }

    #[test]
    fn an_offset_past_the_end_still_links_back() {
        let (meta, links) = paginate("http://x/l", &params(10, 50), 3);
        assert_eq!(meta.current, 6);
        assert_eq!(
            links.prev.as_deref(),
            Some("http://x/l?page[offset]=40&page[limit]=10")
        );
        assert_eq!(links.next, None);
    }
}
