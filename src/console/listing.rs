//! What the searchable lists (accounts, members) share: the list parameters the API reads (a
//! filter expression, an offset and a limit), and the search box whose expression goes to the API
//! unchanged, so the filter language and its errors are the API's own
//! (docs/http-conventions.md#filtering). Their pagination links are `pager.rs`'s.

use maud::{Markup, html};

use super::api::query;
use super::page::{self, Input};
use super::problem::{Field, Messages};

/// The search box's one field, as a problem may name it.
pub const FILTER_FIELDS: &[Field] = &[Field {
    name: "filter",
    label: "Filter",
    mentioned_by: &["filter"],
}];

/// What the browser asked for: the list parameters the API reads, as a form sends them.
#[derive(Debug, Default)]
pub struct Wanted {
    pub filter: String,
    pub offset: Option<String>,
    pub limit: Option<String>,
}

impl Wanted {
    /// The console's own query: form-encoded, so `+` is a space here (unlike in the API's).
    pub fn read(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
        let mut wanted = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "filter" => wanted.filter = value,
                "page[offset]" => wanted.offset = Some(value),
                "page[limit]" => wanted.limit = Some(value),
                _ => {}
            }
        }
        wanted
    }

    /// The API's list at `api_path` with these parameters.
    pub fn api_target(&self, api_path: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !self.filter.trim().is_empty() {
            pairs.push(("filter", self.filter.trim()));
        }
        if let Some(offset) = &self.offset {
            pairs.push(("page[offset]", offset));
        }
        if let Some(limit) = &self.limit {
            pairs.push(("page[limit]", limit));
        }
        if pairs.is_empty() {
            api_path.to_owned()
        } else {
            format!("{api_path}?{}", query(&pairs))
        }
    }
}

/// The search box of the list at `list_path`, with the API's complaint about the filter beside
/// it.
pub fn search_form(
    list_path: &str,
    filter: &str,
    hint: &'static str,
    messages: &Messages,
) -> Markup {
    html! {
        (page::alert(&messages.general))
        form method="get" action=(list_path) class="search" role="search" {
            (Input::text("filter", "Filter", filter)
                .kind("search")
                .hint(hint)
                .error(messages.field("filter"))
                .render())
            button type="submit" { "Search" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_reaches_the_api_as_typed() {
        let wanted = Wanted::read(Some("filter=ilike%28name%2C*a+b*%29&page%5Blimit%5D=5&x=1"));
        assert_eq!(wanted.filter, "ilike(name,*a b*)");
        assert_eq!(
            wanted.api_target("/v2/accounts"),
            "/v2/accounts?filter=ilike%28name%2C%2Aa%20b%2A%29&page%5Blimit%5D=5"
        );
        assert_eq!(
            Wanted::read(None).api_target("/v2/accounts"),
            "/v2/accounts"
        );
    }
}
