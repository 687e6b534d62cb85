//! The query string of a browser request, as OAuth reads it.

use std::collections::HashMap;

/// The query of a browser request, form-decoded (`+` is a space here,
/// docs/http-conventions.md#paths-and-headers). A parameter sent twice is ambiguous, and OAuth
/// forbids it; it reads as [`Param::Repeated`].
pub(super) struct BrowserQuery(HashMap<String, Vec<String>>);

pub(super) enum Param<'a> {
    Absent,
    One(&'a str),
    Repeated,
}

impl BrowserQuery {
    pub(super) fn parse(raw: Option<&str>) -> Option<Self> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).ok()?;
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in pairs {
            values.entry(name).or_default().push(value);
        }
        Some(Self(values))
    }

    pub(super) fn get(&self, name: &str) -> Param<'_> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => Param::Absent,
            Some([one]) => Param::One(one),
            Some(_) => Param::Repeated,
        }
    }

    pub(super) fn one(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Param::One(value) => Some(value),
            Param::Absent | Param::Repeated => None,
        }
    }
}
