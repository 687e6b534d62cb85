//! Parser for the `sort` query parameter of list endpoints and the ORDER BY clause it yields.
//!
//! Only names from the caller's static table are accepted, and the ORDER BY
//! text is built from that table's columns, so client text never reaches SQL.

/// One sortable field of a resource. `column` is pasted into SQL as is, so it
/// must only ever come from a static table in our own code.
#[derive(Debug, Clone, Copy)]
pub struct SortSpec {
    pub name: &'static str,
    pub column: &'static str,
}

impl SortSpec {
    /// A field sorted by the column of the same name.
    pub const fn field(name: &'static str) -> Self {
        Self { name, column: name }
    }
}

/// The sort fields of a resource that has an id and timestamps.
pub const RECORD_SORTS: &[SortSpec] = &[
    SortSpec::field("created_at"),
    SortSpec::field("id"),
    SortSpec::field("updated_at"),
];

/// The sort fields of a resource that also has a `name`.
pub const NAMED_RECORD_SORTS: &[SortSpec] = &[
    SortSpec::field("created_at"),
    SortSpec::field("id"),
    SortSpec::field("name"),
    SortSpec::field("updated_at"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub column: &'static str,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SortError {
    #[error("sort field is empty")]
    Empty,
    // Debug formatting, because the text is the client's and may hold
    // control characters that would garble a log line.
    #[error("unknown sort field {0:?}")]
    UnknownField(String),
}

/// Parses `field` (ascending) or `-field` (descending).
pub fn parse_sort(input: &str, allowed: &[SortSpec]) -> Result<Sort, SortError> {
    let (descending, name) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    if name.is_empty() {
        return Err(SortError::Empty);
    }
    // Exact matching already rejects "a,b", "+a" and whitespace; the explicit
    // dash check keeps "--x" out even if a table ever had a name like "-x".
    allowed
        .iter()
        .find(|spec| spec.name == name && !name.starts_with('-'))
        .map(|spec| Sort {
            column: spec.column,
            descending,
        })
        .ok_or_else(|| SortError::UnknownField(input.to_owned()))
}

impl Sort {
    /// The ORDER BY list (without the keyword). Ties are broken by
    /// `id_column` ascending so that pages are stable.
    pub fn order_by(&self, id_column: &str) -> String {
        let direction = if self.descending { "DESC" } else { "ASC" };
        if self.column == id_column {
            format!("{} {direction}", self.column)
        } else {
            format!("{} {direction}, {id_column} ASC", self.column)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[SortSpec] = &[
        SortSpec {
            name: "id",
            column: "id",
        },
        SortSpec {
            name: "created_at",
            column: "created_at",
        },
        SortSpec {
            name: "name",
            column: "a.name",
        },
    ];

    #[test]
    fn ascending_and_descending() {
        assert_eq!(
            parse_sort("created_at", ALLOWED),
            Ok(Sort {
                column: "created_at",
                descending: false
            })
        );
        assert_eq!(
            parse_sort("-name", ALLOWED),
            Ok(Sort {
                column: "a.name",
                descending: true
            })
        );
    }

    #[test]
    fn order_by_breaks_ties_on_id() {
        let sort = |s| parse_sort(s, ALLOWED).unwrap().order_by("id");
        assert_eq!(sort("-created_at"), "created_at DESC, id ASC");
        assert_eq!(sort("created_at"), "created_at ASC, id ASC");
        assert_eq!(sort("name"), "a.name ASC, id ASC");
        assert_eq!(sort("id"), "id ASC");
        assert_eq!(sort("-id"), "id DESC");
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(parse_sort("", ALLOWED), Err(SortError::Empty));
        assert_eq!(parse_sort("-", ALLOWED), Err(SortError::Empty));
        for input in [
            "--name",
            "+name",
            "name,id",
            "name,-id",
            " name",
            "name ",
            "-\tname",
            "Name",
            "a.name",
            "nope",
            "name\0",
            "name;DROP TABLE x",
        ] {
            assert_eq!(
                parse_sort(input, ALLOWED),
                Err(SortError::UnknownField(input.to_owned())),
                "{input:?}"
            );
        }
    }

    #[test]
    fn dashed_names_are_never_matched_through_a_second_dash() {
        let odd = [SortSpec {
            name: "-x",
            column: "x",
        }];
        assert!(parse_sort("--x", &odd).is_err());
    }

    #[test]
    fn error_message_escapes_client_text() {
        assert_eq!(
            SortError::UnknownField("a\nb".into()).to_string(),
            r#"unknown sort field "a\nb""#
        );
    }
}
