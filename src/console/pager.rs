//! Lists a page at a time: the console's own query read back, and the API's pagination links
//! turned into links to the console page that shows the list, keeping that page's own
//! parameters (a filter form's fields) beside the API's `page[offset]` and `page[limit]`.

use maud::{Markup, html};

use super::api::{PageLinks, query};

/// The API's page parameters, as its links and the console's own links carry them.
const PAGE_PARAMETERS: [&str; 2] = ["page[offset]", "page[limit]"];

/// The pairs of a console query, form-encoded (so `+` is a space here, unlike in the API's).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default()
}

/// The value of `key` in `pairs`, or the empty string.
pub fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map_or("", |(_, value)| value.as_str())
}

/// The page parameters the browser asked for, to pass on to the API unchanged: the API checks
/// them and says what is wrong with them.
pub fn page_parameters(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .filter(|(name, _)| PAGE_PARAMETERS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// First, previous, next and last, as links to `console_path` with `own` (the page's other
/// parameters) and the page parameters of each API link.
pub fn pager(links: &PageLinks, console_path: &str, own: &[(&str, &str)], label: &str) -> Markup {
    let entries = [
        ("First", Some(links.first.as_str())),
        ("Previous", links.prev.as_deref()),
        ("Next", links.next.as_deref()),
        ("Last", Some(links.last.as_str())),
    ];
    html! {
        nav class="pager" aria-label=(label) {
            ul {
                @for (text, link) in entries {
                    @if let Some(api_link) = link {
                        li { a href=(console_link(api_link, console_path, own)) { (text) } }
                    }
                }
            }
        }
    }
}

/// `console_path` with `own` and the page parameters of the API link `api_link`.
fn console_link(api_link: &str, console_path: &str, own: &[(&str, &str)]) -> String {
    let api_pairs = query_pairs(api_link.split_once('?').map(|(_, query)| query));
    let mut pairs: Vec<(&str, &str)> = own
        .iter()
        .copied()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    pairs.extend(page_parameters(&api_pairs));
    if pairs.is_empty() {
        console_path.to_owned()
    } else {
        format!("{console_path}?{}", query(&pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_link_becomes_the_console_page_with_its_own_fields() {
        let link = "http://accountd.test/v2/audit-events?filter=eq%28event_type%2Cx%29&page[offset]=25&page[limit]=25";
        let console = console_link(
            link,
            "/admin/audit",
            &[("type", "login.failed"), ("from", "")],
        );
        assert_eq!(
            console,
            "/admin/audit?type=login.failed&page%5Boffset%5D=25&page%5Blimit%5D=25"
        );
        let pairs = query_pairs(console.split_once('?').map(|(_, query)| query));
        assert_eq!(value(&pairs, "type"), "login.failed");
        assert_eq!(
            page_parameters(&pairs),
            [("page[offset]", "25"), ("page[limit]", "25")]
        );
        assert_eq!(console_link("http://x/v2/a", "/admin/a", &[]), "/admin/a");
    }
}
