//! Compiles parsed filter expressions into a parameterised SQL fragment for PostgreSQL or SQLite.
//!
//! Operand text never reaches the SQL string: every operand becomes a bind
//! parameter, and the SQL is built only from the trusted static field table,
//! fixed keywords and `$N` placeholders.

use super::filter::{Expr, FilterError, Op};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Stored as `text COLLATE "C"` (PostgreSQL) / BINARY-collated TEXT (SQLite),
    /// so `=` and `<` compare bytes.
    Text,
    /// Stored as `uuid` (PostgreSQL) / 16-byte BLOB (SQLite); both order by bytes.
    Uuid,
    /// Stored as BIGINT epoch milliseconds in both databases.
    Timestamp,
}

/// One filterable field of a resource. `column` is pasted into SQL as is, so
/// it must only ever come from a static table in our own code.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
    pub ops: &'static [Op],
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Uuid(uuid::Uuid),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    /// Zero or more ` AND <predicate>`, ready to append after a `WHERE …`.
    pub sql: String,
    /// In placeholder order: `binds[i]` is `$(first_param + i)`.
    pub binds: Vec<Bind>,
}

/// Compiles `exprs` against a resource's field table. Placeholders are
/// numbered from `first_param`, which lets the caller bind its own
/// parameters (owner id, cursor, …) first; it should be at least 1.
pub fn compile(
    exprs: &[Expr],
    fields: &[FieldSpec],
    dialect: Dialect,
    first_param: usize,
) -> Result<Compiled, FilterError> {
    let mut out = Builder {
        compiled: Compiled::default(),
        next: Some(first_param),
    };
    for expr in exprs {
        out.expression(expr, fields, dialect)?;
    }
    Ok(out.compiled)
}

/// Builds the pattern bound for `like`/`ilike`: `*` is the only wildcard and
/// every other character is literal. `fold_ascii` lowercases A–Z only, to pair
/// with the ASCII-only lowering of the column in the SQL.
pub fn like_pattern(dialect: Dialect, operand: &str, fold_ascii: bool) -> String {
    let mut out = String::with_capacity(operand.len().saturating_add(8));
    for c in operand.chars() {
        let c = if fold_ascii {
            c.to_ascii_lowercase()
        } else {
            c
        };
        match (dialect, c) {
            (Dialect::Postgres, '*') => out.push('%'),
            (Dialect::Postgres, '\\' | '%' | '_') => {
                out.push('\\');
                out.push(c);
            }
            // Our syntax has no literal `*`, so GLOB's `*` passes through as
            // the wildcard; `?` and `[` are the metacharacters left to quote.
            (Dialect::Sqlite, '?' | '[') => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// For an `ilike` operand that is a suffix (`*` first and nowhere else), the range of the
/// reversed, ASCII-folded text that holds exactly the matches: from the reversed suffix up to
/// the next string with a different prefix (none when every character is the last code point).
/// Exact under the "C" collation the text columns use, where strings compare by their UTF-8
/// bytes and so by code points.
pub fn reversed_suffix_range(operand: &str) -> Option<(String, Option<String>)> {
    let suffix = operand.strip_prefix('*')?;
    if suffix.is_empty() || suffix.contains('*') {
        return None;
    }
    let low: String = suffix.to_ascii_lowercase().chars().rev().collect();
    let mut high: Vec<char> = low.chars().collect();
    while let Some(last) = high.pop() {
        let mut next = u32::from(last) + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            high.push(next);
            return Some((low, Some(high.into_iter().collect())));
        }
    }
    Some((low, None))
}

/// The canonical text form of a UUID column: PostgreSQL casts `uuid`; SQLite stores 16 bytes,
/// so the hyphenated form is rebuilt from their hex.
fn uuid_as_text(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST({column} AS TEXT)"),
        Dialect::Sqlite => format!(
            "lower(substr(hex({column}), 1, 8) || '-' || substr(hex({column}), 9, 4) || '-' || \
             substr(hex({column}), 13, 4) || '-' || substr(hex({column}), 17, 4) || '-' || \
             substr(hex({column}), 21, 12))"
        ),
    }
}

struct Builder {
    compiled: Compiled,
    /// `None` once the placeholder numbers have run past `usize::MAX`.
    next: Option<usize>,
}

impl Builder {
    fn param(&mut self, bind: Bind) -> Result<(), FilterError> {
        let n = self.next.ok_or(FilterError::PlaceholderOverflow)?;
        self.next = n.checked_add(1);
        self.compiled.sql.push('$');
        self.compiled.sql.push_str(&n.to_string());
        self.compiled.binds.push(bind);
        Ok(())
    }

    fn push(&mut self, sql: &str) {
        self.compiled.sql.push_str(sql);
    }

    fn expression(
        &mut self,
        expr: &Expr,
        fields: &[FieldSpec],
        dialect: Dialect,
    ) -> Result<(), FilterError> {
        let spec = fields
            .iter()
            .find(|f| f.name == expr.field)
            .ok_or_else(|| FilterError::UnknownField(expr.field.clone()))?;
        let not_allowed = || FilterError::OperatorNotAllowed {
            op: expr.op,
            field: expr.field.clone(),
        };
        if !spec.ops.contains(&expr.op) {
            return Err(not_allowed());
        }
        // `Expr` can be built without `parse`, so its invariants are re-checked
        // here rather than trusted.
        if !expr.op.accepts_operand_count(expr.operands.len()) {
            return Err(FilterError::OperandCount {
                op: expr.op,
                count: expr.operands.len(),
            });
        }
        if expr.operands.iter().any(|o| o.contains('\0')) {
            return Err(FilterError::Nul);
        }
        let column = spec.column;
        let first = expr.operands.first().map_or("", String::as_str);

        self.push(" AND ");
        match expr.op {
            Op::IsNull => {
                self.push(column);
                self.push(" IS NULL");
            }
            Op::Eq | Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                let bind = typed_bind(spec, first)?;
                self.push(column);
                self.push(comparison(expr.op));
                self.param(bind)?;
            }
            Op::In => {
                self.push(column);
                self.push(" IN (");
                for (i, operand) in expr.operands.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.param(typed_bind(spec, operand)?)?;
                }
                self.push(")");
            }
            Op::Like | Op::Ilike => {
                // A misconfigured table (pattern match on a UUID/timestamp
                // column) has no sensible SQL, so it is refused rather than
                // guessed at.
                let text_column;
                let column = match spec.kind {
                    FieldKind::Text => column,
                    // Ids match as their canonical lowercase hyphenated text.
                    FieldKind::Uuid => {
                        text_column = uuid_as_text(dialect, column);
                        text_column.as_str()
                    }
                    FieldKind::Timestamp => return Err(not_allowed()),
                };
                let fold = expr.op == Op::Ilike;
                let pattern = Bind::Text(like_pattern(dialect, first, fold));
                match (dialect, fold) {
                    (Dialect::Postgres, false) => {
                        self.push(column);
                        self.push(" LIKE ");
                        self.param(pattern)?;
                        self.push(" ESCAPE '\\'");
                    }
                    // translate() rather than lower(): lower() folds
                    // non-ASCII letters too, and ilike must not.
                    (Dialect::Postgres, true) => {
                        let folded = format!(
                            "translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
                             'abcdefghijklmnopqrstuvwxyz')"
                        );
                        let suffix = reversed_suffix_range(first);
                        if suffix.is_some() {
                            self.push("(");
                        }
                        self.push(&folded);
                        self.push(" LIKE ");
                        self.param(pattern)?;
                        self.push(" ESCAPE '\\'");
                        // A pattern with one leading wildcard is a suffix: the
                        // same rows as a range of the reversed folded text,
                        // which a B-tree on that expression finds in time
                        // that follows the matches, not the table (the members'
                        // email has one, migrations/postgres/0011).
                        if let Some((low, high)) = suffix {
                            self.push(" AND reverse(");
                            self.push(&folded);
                            self.push(") >= ");
                            self.param(Bind::Text(low))?;
                            if let Some(high) = high {
                                self.push(" AND reverse(");
                                self.push(&folded);
                                self.push(") < ");
                                self.param(Bind::Text(high))?;
                            }
                            self.push(")");
                        }
                    }
                    // SQLite's LIKE ignores ASCII case, so GLOB does the
                    // case-sensitive match.
                    (Dialect::Sqlite, false) => {
                        self.push(column);
                        self.push(" GLOB ");
                        self.param(pattern)?;
                    }
                    // SQLite's built-in lower() folds ASCII only.
                    (Dialect::Sqlite, true) => {
                        self.push("lower(");
                        self.push(column);
                        self.push(") GLOB ");
                        self.param(pattern)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn comparison(op: Op) -> &'static str {
    match op {
        Op::Gt => " > ",
        Op::Ge => " >= ",
        Op::Lt => " < ",
        Op::Le => " <= ",
        _ => " = ",
    }
}

fn typed_bind(spec: &FieldSpec, operand: &str) -> Result<Bind, FilterError> {
    let invalid = |expected| FilterError::InvalidOperand {
        field: spec.name.to_owned(),
        expected,
    };
    match spec.kind {
        FieldKind::Text => Ok(Bind::Text(operand.to_owned())),
        FieldKind::Uuid => uuid::Uuid::parse_str(operand)
            .map(Bind::Uuid)
            .map_err(|_| invalid("UUID")),
        // timestamp_millis() floors, which for the stored representation is
        // the same as dropping the sub-millisecond digits.
        FieldKind::Timestamp => chrono::DateTime::parse_from_rfc3339(operand)
            .map(|t| Bind::Int(t.timestamp_millis()))
            .map_err(|_| invalid("RFC 3339 timestamp")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;
    use proptest::prelude::*;

    const ALL_BUT_PATTERNS: &[Op] = &[Op::Eq, Op::In, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::IsNull];

    const FIELDS: &[FieldSpec] = &[
        FieldSpec {
            name: "id",
            column: "a.id",
            kind: FieldKind::Uuid,
            ops: ALL_BUT_PATTERNS,
        },
        FieldSpec {
            name: "name",
            column: "a.name",
            kind: FieldKind::Text,
            ops: &Op::ALL,
        },
        FieldSpec {
            name: "created_at",
            column: "created_at",
            kind: FieldKind::Timestamp,
            ops: ALL_BUT_PATTERNS,
        },
        FieldSpec {
            name: "owner",
            column: "owner_id",
            kind: FieldKind::Uuid,
            ops: &[Op::Eq, Op::In],
        },
        // Pattern operators on a UUID column match its canonical text.
        FieldSpec {
            name: "bad",
            column: "bad",
            kind: FieldKind::Uuid,
            ops: &Op::ALL,
        },
    ];

    const U1: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    const U2: &str = "00000000-0000-0000-0000-000000000001";

    fn uuid(s: &str) -> Bind {
        Bind::Uuid(uuid::Uuid::parse_str(s).unwrap())
    }

    fn text(s: &str) -> Bind {
        Bind::Text(s.to_owned())
    }

    fn run(filter: &str, dialect: Dialect, first: usize) -> Result<Compiled, FilterError> {
        compile(&parse(filter)?, FIELDS, dialect, first)
    }

    fn both(filter: &str) -> (Compiled, Compiled) {
        (
            run(filter, Dialect::Postgres, 1).unwrap(),
            run(filter, Dialect::Sqlite, 1).unwrap(),
        )
    }

    /// For the operators whose SQL does not depend on the dialect.
    fn same(filter: &str, sql: &str, binds: Vec<Bind>) {
        let (pg, lite) = both(filter);
        assert_eq!(pg, lite, "{filter}");
        assert_eq!(pg.sql, sql, "{filter}");
        assert_eq!(pg.binds, binds, "{filter}");
    }

    #[test]
    fn empty_filter_list_compiles_to_nothing() {
        assert_eq!(
            compile(&[], FIELDS, Dialect::Postgres, 1).unwrap(),
            Compiled::default()
        );
    }

    #[test]
    fn comparisons() {
        same(
            "eq(name,Bulk 07)",
            " AND a.name = $1",
            vec![text("Bulk 07")],
        );
        same("gt(name,b)", " AND a.name > $1", vec![text("b")]);
        same("ge(name,b)", " AND a.name >= $1", vec![text("b")]);
        same("lt(name,b)", " AND a.name < $1", vec![text("b")]);
        same("le(name,b)", " AND a.name <= $1", vec![text("b")]);
        same("eq(name,)", " AND a.name = $1", vec![text("")]);
        same(&format!("eq(id,{U1})"), " AND a.id = $1", vec![uuid(U1)]);
        same(&format!("gt(id,{U1})"), " AND a.id > $1", vec![uuid(U1)]);
        same(&format!("le(id,{U1})"), " AND a.id <= $1", vec![uuid(U1)]);
    }

    #[test]
    fn in_and_is_null() {
        same("in(name,x)", " AND a.name IN ($1)", vec![text("x")]);
        same(
            "in(name,x,,'y,z')",
            " AND a.name IN ($1, $2, $3)",
            vec![text("x"), text(""), text("y,z")],
        );
        same(
            &format!("in(owner,{U1},{U2})"),
            " AND owner_id IN ($1, $2)",
            vec![uuid(U1), uuid(U2)],
        );
        same("is_null(name)", " AND a.name IS NULL", vec![]);
        same("is_null(created_at)", " AND created_at IS NULL", vec![]);
    }

    #[test]
    fn placeholders_start_at_first_param_and_run_across_expressions() {
        let c = run(
            &format!("eq(name,x):is_null(created_at):in(id,{U1},{U2}):ge(created_at,1970-01-01T00:00:01Z)"),
            Dialect::Postgres,
            3,
        )
        .unwrap();
        assert_eq!(
            c.sql,
            " AND a.name = $3 AND created_at IS NULL AND a.id IN ($4, $5) AND created_at >= $6"
        );
        assert_eq!(
            c.binds,
            vec![text("x"), uuid(U1), uuid(U2), Bind::Int(1000)]
        );
    }

    #[test]
    fn placeholder_overflow_is_an_error_not_a_panic() {
        let exprs = parse("eq(name,a)").unwrap();
        let c = compile(&exprs, FIELDS, Dialect::Sqlite, usize::MAX).unwrap();
        assert_eq!(c.sql, format!(" AND a.name = ${}", usize::MAX));
        let exprs = parse("in(name,a,b)").unwrap();
        assert_eq!(
            compile(&exprs, FIELDS, Dialect::Sqlite, usize::MAX),
            Err(FilterError::PlaceholderOverflow)
        );
    }

    #[test]
    fn timestamps_bind_epoch_millis_for_any_offset() {
        let millis = |ts: &str| {
            run(&format!("eq(created_at,{ts})"), Dialect::Sqlite, 1)
                .unwrap()
                .binds
        };
        let expected = vec![Bind::Int(1_714_348_800_000)];
        assert_eq!(millis("2024-04-29T00:00:00.000Z"), expected);
        assert_eq!(millis("2024-04-29T00:00:00Z"), expected);
        assert_eq!(millis("2024-04-29T02:00:00+02:00"), expected);
        assert_eq!(millis("2024-04-28T19:30:00-04:30"), expected);
        assert_eq!(millis("2024-04-29t00:00:00z"), expected);
        assert_eq!(
            millis("2024-04-29T00:00:00.123999Z"),
            vec![Bind::Int(1_714_348_800_123)]
        );
        // Before the epoch, dropping sub-millisecond digits rounds down.
        assert_eq!(millis("1969-12-31T23:59:59.9995Z"), vec![Bind::Int(-1)]);
        let (pg, lite) = both("lt(created_at,2024-04-29T00:00:00.000Z)");
        assert_eq!(pg.sql, " AND created_at < $1");
        assert_eq!(pg, lite);
    }

    #[test]
    fn bad_typed_operands() {
        for filter in [
            "eq(created_at,2024-04-29)",
            "eq(created_at,2024-04-29T00:00:00)",
            "eq(created_at,yesterday)",
            "eq(created_at,)",
            "eq(created_at, 2024-04-29T00:00:00Z)",
            "eq(id,not-a-uuid)",
            "eq(id,)",
            "in(owner,67e55044-10b1-426f-9247-bb680e5fe0c8,x)",
            "eq(id,67e55044-10b1-426f-9247-bb680e5fe0c)",
        ] {
            assert!(
                matches!(
                    run(filter, Dialect::Postgres, 1),
                    Err(FilterError::InvalidOperand { .. })
                ),
                "{filter}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_disallowed_operators() {
        assert_eq!(
            run("eq(nope,x)", Dialect::Postgres, 1),
            Err(FilterError::UnknownField("nope".into()))
        );
        // Matching is on the API name, not the column.
        assert_eq!(
            run("eq(owner_id,x)", Dialect::Postgres, 1),
            Err(FilterError::UnknownField("owner_id".into()))
        );
        for filter in [
            "like(id,x)",
            "ilike(created_at,x)",
            "gt(owner,x)",
            "is_null(owner)",
        ] {
            assert!(
                matches!(
                    run(filter, Dialect::Sqlite, 1),
                    Err(FilterError::OperatorNotAllowed { .. })
                ),
                "{filter}"
            );
        }
    }

    #[test]
    fn like_on_a_uuid_matches_its_canonical_text() {
        let (pg, sqlite) = both("like(bad,67e55044*)");
        assert_eq!(pg.sql, " AND CAST(bad AS TEXT) LIKE $1 ESCAPE '\\'");
        assert_eq!(pg.binds, vec![text("67e55044%")]);
        assert!(
            sqlite
                .sql
                .starts_with(" AND lower(substr(hex(bad), 1, 8) || '-'"),
            "{}",
            sqlite.sql
        );
        assert!(sqlite.sql.ends_with(" GLOB $1"), "{}", sqlite.sql);
        assert_eq!(sqlite.binds, vec![text("67e55044*")]);
    }

    #[test]
    fn hand_built_expressions_are_checked_too() {
        let bad_arity = Expr {
            op: Op::Eq,
            field: "name".into(),
            operands: vec![],
        };
        assert!(matches!(
            compile(&[bad_arity], FIELDS, Dialect::Postgres, 1),
            Err(FilterError::OperandCount { .. })
        ));
        let nul = Expr {
            op: Op::Eq,
            field: "name".into(),
            operands: vec!["a\0".into()],
        };
        assert_eq!(
            compile(&[nul], FIELDS, Dialect::Postgres, 1),
            Err(FilterError::Nul)
        );
    }

    #[test]
    fn like_sql() {
        let (pg, lite) = both("like(name,Bulk*)");
        assert_eq!(pg.sql, r" AND a.name LIKE $1 ESCAPE '\'");
        assert_eq!(pg.binds, vec![text("Bulk%")]);
        assert_eq!(lite.sql, " AND a.name GLOB $1");
        assert_eq!(lite.binds, vec![text("Bulk*")]);
    }

    #[test]
    fn a_suffix_pattern_is_also_a_range_of_the_reversed_text() {
        assert_eq!(
            reversed_suffix_range("*@Example.COM"),
            Some(("moc.elpmaxe@".to_owned(), Some("moc.elpmaxeA".to_owned())))
        );
        assert_eq!(
            reversed_suffix_range("*a\u{10FFFF}"),
            Some(("\u{10FFFF}a".to_owned(), Some("\u{10FFFF}b".to_owned())))
        );
        assert_eq!(
            reversed_suffix_range("*\u{D7FF}"),
            Some(("\u{D7FF}".to_owned(), Some("\u{E000}".to_owned())))
        );
        assert_eq!(
            reversed_suffix_range("*\u{10FFFF}"),
            Some(("\u{10FFFF}".to_owned(), None))
        );
        assert_eq!(reversed_suffix_range("*a*"), None);
        assert_eq!(reversed_suffix_range("a*"), None);
        assert_eq!(reversed_suffix_range("*"), None);
        let (pg, lite) = both("ilike(name,*@Example.COM)");
        assert_eq!(
            pg.sql,
            " AND (translate(a.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') \
             LIKE $1 ESCAPE '\\' AND reverse(translate(a.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
             'abcdefghijklmnopqrstuvwxyz')) >= $2 AND reverse(translate(a.name, \
             'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) < $3)"
        );
        assert_eq!(
            pg.binds,
            vec![
                Bind::Text("%@example.com".into()),
                Bind::Text("moc.elpmaxe@".into()),
                Bind::Text("moc.elpmaxeA".into())
            ]
        );
        assert!(!lite.sql.contains("reverse"), "{}", lite.sql);
    }

    #[test]
    fn ilike_sql() {
        let (pg, lite) = both("ilike(name,*BuLK_07*)");
        assert_eq!(
            pg.sql,
            " AND translate(a.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE $1 ESCAPE '\\'"
        );
        assert_eq!(pg.binds, vec![text(r"%bulk\_07%")]);
        assert_eq!(lite.sql, " AND lower(a.name) GLOB $1");
        assert_eq!(lite.binds, vec![text("*bulk_07*")]);
    }

    #[test]
    fn postgres_patterns() {
        let p = |s| like_pattern(Dialect::Postgres, s, false);
        assert_eq!(p("abc"), "abc");
        assert_eq!(p(""), "");
        assert_eq!(p("*"), "%");
        assert_eq!(p("a*b*"), "a%b%");
        assert_eq!(p("100%"), r"100\%");
        assert_eq!(p("a_b"), r"a\_b");
        assert_eq!(p(r"C:\dir"), r"C:\\dir");
        assert_eq!(p(r"\%_*"), r"\\\%\_%");
        assert_eq!(p("?[]'"), "?[]'");
        assert_eq!(p("AbC"), "AbC");
    }

    #[test]
    fn sqlite_patterns() {
        let p = |s| like_pattern(Dialect::Sqlite, s, false);
        assert_eq!(p("abc"), "abc");
        assert_eq!(p(""), "");
        assert_eq!(p("*"), "*");
        assert_eq!(p("a*b*"), "a*b*");
        assert_eq!(p("why?"), "why[?]");
        assert_eq!(p("[x]"), "[[]x]");
        assert_eq!(p("]"), "]");
        assert_eq!(p(r"%_\"), r"%_\");
        assert_eq!(p("AbC"), "AbC");
    }

    #[test]
    fn folding_is_ascii_only() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            assert_eq!(like_pattern(dialect, "ÄÖÜ ÉTÉ İ", true), "ÄÖÜ ÉtÉ İ");
            assert_eq!(like_pattern(dialect, "AZaz09", true), "azaz09");
        }
        assert_eq!(like_pattern(Dialect::Postgres, "A_*", true), r"a\_%");
        assert_eq!(like_pattern(Dialect::Sqlite, "A?*", true), "a[?]*");
    }

    #[test]
    fn hostile_operands_only_reach_binds() {
        let hostile = [
            "' OR 1=1 --",
            "'; DROP TABLE accounts; --",
            "\" OR \"\"=\"",
            "%",
            "_",
            ";",
            "--",
            "/* x */",
            "$1",
            "a.name",
            "\\",
        ];
        for op in ["eq", "like", "ilike", "in", "gt", "le"] {
            for dialect in [Dialect::Postgres, Dialect::Sqlite] {
                for h in hostile {
                    let quoted = h.replace('\\', r"\\").replace('\'', r"\'");
                    let c = run(&format!("{op}(name,'{quoted}')"), dialect, 1).unwrap();
                    assert_sql_is_clean(&c.sql);
                    let expected_sql = run(&format!("{op}(name,x)"), dialect, 1).unwrap().sql;
                    assert_eq!(c.sql, expected_sql, "{op} {h}");
                    assert_eq!(c.binds.len(), 1);
                    if !matches!(op, "like" | "ilike") {
                        assert_eq!(c.binds, vec![text(h)]);
                    }
                    if h.len() > 2 && h != "a.name" {
                        assert!(!c.sql.contains(h), "{op} {h}: {}", c.sql);
                    }
                }
            }
        }
    }

    /// Fails unless `sql` is made only of our fixed vocabulary: keywords,
    /// punctuation, placeholders and the test table's columns. Operand text,
    /// which is arbitrary, can therefore not be in it.
    fn assert_sql_is_clean(sql: &str) {
        const TOKENS: &[&str] = &[
            "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'",
            "'abcdefghijklmnopqrstuvwxyz'",
            "created_at",
            "translate",
            "reverse",
            "owner_id",
            "IS NULL",
            "ESCAPE",
            "a.name",
            "lower",
            "a.id",
            "LIKE",
            "GLOB",
            "AND",
            "'\\'",
            "IN",
            ">=",
            "<=",
            " ",
            ",",
            "(",
            ")",
            "=",
            ">",
            "<",
        ];
        let mut rest = sql;
        while !rest.is_empty() {
            if let Some(tail) = TOKENS.iter().find_map(|t| rest.strip_prefix(t)) {
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix('$') {
                let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                assert!(digits > 0, "bare '$' in {sql:?}");
                rest = &tail[digits..];
            } else {
                panic!("unexpected SQL text {rest:?} in {sql:?}");
            }
        }
    }

    fn placeholders(sql: &str) -> Vec<usize> {
        sql.split('$')
            .skip(1)
            .map(|s| {
                let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap()
            })
            .collect()
    }

    /// A pattern as the database reads it.
    #[derive(Debug, PartialEq)]
    enum Tok {
        Lit(char),
        AnySeq,
    }

    fn expected_tokens(operand: &str) -> Vec<Tok> {
        operand
            .chars()
            .map(|c| if c == '*' { Tok::AnySeq } else { Tok::Lit(c) })
            .collect()
    }

    /// PostgreSQL LIKE with ESCAPE '\'. `_` (any one char) must never appear
    /// unescaped, so it is reported as an error.
    fn read_like(pattern: &str) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            out.push(match c {
                '\\' => Tok::Lit(chars.next()?),
                '%' => Tok::AnySeq,
                '_' => return None,
                c => Tok::Lit(c),
            });
        }
        Some(out)
    }

    /// SQLite GLOB, limited to the single-character classes we generate;
    /// an unquoted `?` or any other class is reported as an error.
    fn read_glob(pattern: &str) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            out.push(match c {
                '*' => Tok::AnySeq,
                '?' => return None,
                '[' => {
                    let inner = chars.next()?;
                    if chars.next()? != ']' || inner == '^' {
                        return None;
                    }
                    Tok::Lit(inner)
                }
                c => Tok::Lit(c),
            });
        }
        Some(out)
    }

    fn field_and_operand() -> impl Strategy<Value = (Expr, Vec<Bind>)> {
        let text_operand = || {
            prop_oneof![
                "[^\u{0}]{0,16}",
                "[a-zA-Z' ;\\-%_*?\\[\\]\\\\\"$().,:=]{0,16}"
            ]
        };
        let typed = prop_oneof![
            text_operand().prop_map(|s| ("name", s.clone(), text(&s))),
            any::<u128>().prop_map(|n| {
                let u = uuid::Uuid::from_u128(n);
                ("id", u.to_string(), Bind::Uuid(u))
            }),
            (-8_000_000_000_000i64..8_000_000_000_000, -1439i32..1440).prop_map(|(ms, off)| {
                let offset = chrono::FixedOffset::east_opt(off * 60).unwrap();
                let t = chrono::DateTime::from_timestamp_millis(ms)
                    .unwrap()
                    .with_timezone(&offset);
                ("created_at", t.to_rfc3339(), Bind::Int(ms))
            }),
        ];
        let op = prop::sample::select(Op::ALL.to_vec());
        (op, prop::collection::vec(typed, 1..4)).prop_map(|(op, operands)| {
            // Keep the field of the first operand so all operands share a kind.
            let field = operands.first().map_or("name", |o| o.0);
            let operands: Vec<_> = operands.into_iter().filter(|o| o.0 == field).collect();
            let op = if field != "name" && matches!(op, Op::Like | Op::Ilike) {
                Op::Eq
            } else {
                op
            };
            let take = match op {
                Op::IsNull => 0,
                Op::In => operands.len(),
                _ => 1,
            };
            let operands = &operands[..take];
            let binds = match op {
                Op::Like | Op::Ilike => vec![],
                _ => operands.iter().map(|o| o.2.clone()).collect(),
            };
            (
                Expr {
                    op,
                    field: field.to_owned(),
                    operands: operands.iter().map(|o| o.1.clone()).collect(),
                },
                binds,
            )
        })
    }

    proptest! {
        #[test]
        fn sql_never_contains_operand_text(
            cases in prop::collection::vec(field_and_operand(), 0..=10),
            first in 1usize..1000,
            sqlite in any::<bool>(),
        ) {
            let dialect = if sqlite { Dialect::Sqlite } else { Dialect::Postgres };
            let exprs: Vec<Expr> = cases.iter().map(|c| c.0.clone()).collect();
            let c = compile(&exprs, FIELDS, dialect, first).unwrap();
            assert_sql_is_clean(&c.sql);

            let numbers = placeholders(&c.sql);
            prop_assert_eq!(numbers.len(), c.binds.len());
            let expected: Vec<usize> = (first..first + c.binds.len()).collect();
            prop_assert_eq!(numbers, expected);

            // Same shape with every operand replaced: the SQL cannot depend on
            // operand content, only on where a pattern's wildcards stand.
            let blank: Vec<Expr> = exprs
                .iter()
                .map(|e| Expr {
                    operands: e.operands.iter().map(|operand| match e.field.as_str() {
                        "id" => U1.to_owned(),
                        "created_at" => "2000-01-01T00:00:00Z".to_owned(),
                        _ if matches!(e.op, Op::Like | Op::Ilike) => operand
                            .chars()
                            .map(|c| if c == '*' { '*' } else { 'x' })
                            .collect(),
                        _ => String::new(),
                    }).collect(),
                    ..e.clone()
                })
                .collect();
            prop_assert_eq!(&compile(&blank, FIELDS, dialect, first).unwrap().sql, &c.sql);

            // Non-pattern operands bind exactly the typed value.
            let mut binds = c.binds.iter();
            for (e, expected) in &cases {
                if matches!(e.op, Op::Like | Op::Ilike) {
                    // The pattern, and on PostgreSQL a suffix's range (one or two bounds).
                    let range = match (dialect, e.op, reversed_suffix_range(&e.operands[0])) {
                        (Dialect::Postgres, Op::Ilike, Some((_, high))) => 1 + usize::from(high.is_some()),
                        _ => 0,
                    };
                    for _ in 0..=range {
                        binds.next();
                    }
                } else {
                    for b in expected {
                        prop_assert_eq!(Some(b), binds.next());
                    }
                }
            }
        }

        #[test]
        fn like_patterns_mean_what_the_operand_says(
            operand in prop_oneof!["[^\u{0}]{0,24}", "[aA*%_?\\[\\]\\\\^]{0,24}"],
            fold in any::<bool>(),
        ) {
            let source = if fold { operand.to_ascii_lowercase() } else { operand.clone() };
            let expected = expected_tokens(&source);
            prop_assert_eq!(read_like(&like_pattern(Dialect::Postgres, &operand, fold)), Some(expected));
            let expected = expected_tokens(&source);
            prop_assert_eq!(read_glob(&like_pattern(Dialect::Sqlite, &operand, fold)), Some(expected));
        }
    }
}
