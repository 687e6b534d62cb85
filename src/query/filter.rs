//! Parser for the `filter` query parameter of list endpoints (`op(field,operand):…`).
//!
//! Parsing is deliberately ignorant of the resource's fields: it only checks the
//! grammar, the limits and the operand count of each operator. Field names, the
//! operators a field allows and the operand types are checked by
//! `super::sql::compile`, which has the field table.
//!
//! Choices where the API rules are silent:
//! - Nothing is trimmed: whitespace is only meaningful inside operands, so
//!   `eq (name,x)` or a trailing space after `)` is a syntax error.
//! - A field name is one or more of `A–Z a–z 0–9 _ .`; anything else is a syntax
//!   error, which also keeps raw client text out of error messages.
//! - Inside quotes only `\"`, `\'` and `\\` are escapes; any other backslash
//!   sequence is a syntax error so that new escapes can be added later without
//!   changing the meaning of filters that are accepted today. Outside quotes a
//!   backslash is an ordinary character.
//! - U+0000 is rejected anywhere in the filter, not only in operands: neither
//!   database stores it in text, and it has no legitimate use elsewhere.

use std::fmt;

/// Upper bound on expressions per `filter` value, so one request cannot ask the
/// database for an unbounded number of predicates.
pub const MAX_EXPRESSIONS: usize = 10;

/// Upper bound on the length of a `filter` value, in bytes.
pub const MAX_FILTER_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Like,
    Ilike,
    In,
    Gt,
    Ge,
    Lt,
    Le,
    IsNull,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Eq,
        Op::Like,
        Op::Ilike,
        Op::In,
        Op::Gt,
        Op::Ge,
        Op::Lt,
        Op::Le,
        Op::IsNull,
    ];

    /// The operator's name as written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Like => "like",
            Op::Ilike => "ilike",
            Op::In => "in",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::IsNull => "is_null",
        }
    }

    fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operator can take `count` operands. Public because
    /// `Expr`'s fields are public, so the compiler re-checks expressions that
    /// did not come from [`parse`].
    pub fn accepts_operand_count(self, count: usize) -> bool {
        match self {
            Op::IsNull => count == 0,
            Op::In => count >= 1,
            _ => count == 1,
        }
    }

    fn arity_description(self) -> &'static str {
        match self {
            Op::IsNull => "no operand",
            Op::In => "one or more operands",
            _ => "exactly one operand",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub op: Op,
    pub field: String,
    pub operands: Vec<String>,
}

/// Every variant ends up as the same HTTP 400; the variants exist for logs.
/// Messages never quote operands, which may hold personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter is empty")]
    Empty,
    #[error("filter is {len} bytes long; the limit is {max}", max = MAX_FILTER_BYTES)]
    TooLong { len: usize },
    #[error("filter has more than {max} expressions", max = MAX_EXPRESSIONS)]
    TooManyExpressions,
    #[error("filter contains U+0000")]
    Nul,
    #[error("filter syntax error at byte {at}: {reason}")]
    Syntax { at: usize, reason: &'static str },
    #[error("unknown filter operator `{0}`")]
    UnknownOperator(String),
    #[error("`{op}` takes {}, got {count}", .op.arity_description())]
    OperandCount { op: Op, count: usize },
    #[error("unknown filter field `{0}`")]
    UnknownField(String),
    #[error("operator `{op}` is not allowed on field `{field}`")]
    OperatorNotAllowed { op: Op, field: String },
    #[error("operand for field `{field}` is not a valid {expected}")]
    InvalidOperand {
        field: String,
        expected: &'static str,
    },
    #[error("too many bind parameters")]
    PlaceholderOverflow,
}

/// Parses a complete `filter` value (already percent-decoded).
pub fn parse(input: &str) -> Result<Vec<Expr>, FilterError> {
    if input.is_empty() {
        return Err(FilterError::Empty);
    }
    if input.len() > MAX_FILTER_BYTES {
        return Err(FilterError::TooLong { len: input.len() });
    }
    if input.contains('\0') {
        return Err(FilterError::Nul);
    }
    let mut parser = Parser { src: input, pos: 0 };
    let mut exprs = Vec::new();
    loop {
        // Checked before parsing so an over-long filter is not parsed in full.
        if exprs.len() == MAX_EXPRESSIONS {
            return Err(FilterError::TooManyExpressions);
        }
        exprs.push(parser.expression()?);
        match parser.peek() {
            None => return Ok(exprs),
            Some(b':') => parser.bump(),
            Some(_) => return Err(parser.syntax("expected ':' or end of filter")),
        }
    }
}

/// Scans bytes rather than chars: every delimiter is ASCII and UTF-8 never
/// uses ASCII bytes inside a multi-byte character, so every position where
/// the parser slices is a char boundary.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn syntax(&self, reason: &'static str) -> FilterError {
        FilterError::Syntax {
            at: self.pos,
            reason,
        }
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, FilterError> {
        self.src
            .get(start..end)
            .ok_or_else(|| self.syntax("operand is not valid UTF-8"))
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> Result<&'a str, FilterError> {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.slice(start, self.pos)
    }

    fn consume(&mut self, byte: u8, reason: &'static str) -> Result<(), FilterError> {
        if self.peek() == Some(byte) {
            self.bump();
            Ok(())
        } else {
            Err(self.syntax(reason))
        }
    }

    fn expression(&mut self) -> Result<Expr, FilterError> {
        let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_')?;
        if name.is_empty() {
            return Err(self.syntax("expected an operator"));
        }
        let op =
            Op::from_name(name).ok_or_else(|| FilterError::UnknownOperator(name.to_owned()))?;
        self.consume(b'(', "expected '(' after the operator")?;
        let field = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')?;
        if field.is_empty() {
            return Err(self.syntax("expected a field name"));
        }
        let mut operands = Vec::new();
        loop {
            match self.peek() {
                Some(b',') => {
                    self.bump();
                    operands.push(self.operand()?);
                }
                Some(b')') => {
                    self.bump();
                    break;
                }
                None => return Err(self.syntax("missing ')'")),
                Some(_) => return Err(self.syntax("expected ',' or ')'")),
            }
        }
        if !op.accepts_operand_count(operands.len()) {
            return Err(FilterError::OperandCount {
                op,
                count: operands.len(),
            });
        }
        Ok(Expr {
            op,
            field: field.to_owned(),
            operands,
        })
    }

    /// Leaves the cursor on the byte after the operand; the caller insists on
    /// `,` or `)` there, which is also what forbids text after a closing quote.
    fn operand(&mut self) -> Result<String, FilterError> {
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => self.quoted(quote),
            _ => Ok(self
                .take_while(|b| !matches!(b, b',' | b'(' | b')'))?
                .to_owned()),
        }
    }

    fn quoted(&mut self, quote: u8) -> Result<String, FilterError> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        let mut segment = self.pos;
        loop {
            match self.peek() {
                None => {
                    return Err(FilterError::Syntax {
                        at: open,
                        reason: "unterminated quoted operand",
                    });
                }
                Some(b) if b == quote => {
                    out.push_str(self.slice(segment, self.pos)?);
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.slice(segment, self.pos)?);
                    self.bump();
                    match self.peek() {
                        Some(c @ (b'\\' | b'\'' | b'"')) => {
                            out.push(char::from(c));
                            self.bump();
                        }
                        _ => return Err(self.syntax("invalid escape sequence")),
                    }
                    segment = self.pos;
                }
                Some(_) => self.bump(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn expr(op: Op, field: &str, operands: &[&str]) -> Expr {
        Expr {
            op,
            field: field.to_owned(),
            operands: operands.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn one(input: &str) -> Expr {
        let mut exprs = parse(input).unwrap();
        assert_eq!(exprs.len(), 1, "{input}");
        exprs.remove(0)
    }

    fn is_syntax(input: &str) -> bool {
        matches!(parse(input), Err(FilterError::Syntax { .. }))
    }

    #[test]
    fn every_operator() {
        assert_eq!(one("eq(name,x)"), expr(Op::Eq, "name", &["x"]));
        assert_eq!(one("like(name,a*)"), expr(Op::Like, "name", &["a*"]));
        assert_eq!(one("ilike(name,*A*)"), expr(Op::Ilike, "name", &["*A*"]));
        assert_eq!(one("in(id,a)"), expr(Op::In, "id", &["a"]));
        assert_eq!(one("in(id,a,b,c)"), expr(Op::In, "id", &["a", "b", "c"]));
        assert_eq!(one("gt(n,1)"), expr(Op::Gt, "n", &["1"]));
        assert_eq!(one("ge(n,1)"), expr(Op::Ge, "n", &["1"]));
        assert_eq!(one("lt(n,1)"), expr(Op::Lt, "n", &["1"]));
        assert_eq!(one("le(n,1)"), expr(Op::Le, "n", &["1"]));
        assert_eq!(
            one("is_null(deleted_at)"),
            expr(Op::IsNull, "deleted_at", &[])
        );
        assert_eq!(one("eq(a.b_c1,x)").field, "a.b_c1");
    }

    #[test]
    fn several_expressions_and_repeated_field() {
        assert_eq!(
            parse("gt(n,1):lt(n,5):is_null(d)").unwrap(),
            vec![
                expr(Op::Gt, "n", &["1"]),
                expr(Op::Lt, "n", &["5"]),
                expr(Op::IsNull, "d", &[]),
            ]
        );
    }

    #[test]
    fn colons_inside_parentheses_do_not_separate() {
        assert_eq!(
            parse(
                "ge(created_at,2024-04-29T00:00:00.000Z):lt(created_at,2024-04-29T02:00:00+02:00)"
            )
            .unwrap(),
            vec![
                expr(Op::Ge, "created_at", &["2024-04-29T00:00:00.000Z"]),
                expr(Op::Lt, "created_at", &["2024-04-29T02:00:00+02:00"]),
            ]
        );
        assert_eq!(one("eq(name,'a:b')").operands, ["a:b"]);
    }

    #[test]
    fn bare_operands_keep_spaces_quotes_and_backslashes() {
        assert_eq!(one("eq(name,Bulk 07)").operands, ["Bulk 07"]);
        assert_eq!(one("eq(name, padded )").operands, [" padded "]);
        assert_eq!(one("eq(name,O'Brien)").operands, ["O'Brien"]);
        assert_eq!(one("eq(name,say \"hi\")").operands, ["say \"hi\""]);
        assert_eq!(one(r"eq(name,a\b)").operands, [r"a\b"]);
        assert_eq!(one("eq(name,Grüße 日本)").operands, ["Grüße 日本"]);
        // The quote is not the first character, so it opens nothing.
        assert_eq!(one("in(name,a'b,c')").operands, ["a'b", "c'"]);
    }

    #[test]
    fn empty_operands() {
        assert_eq!(one("eq(name,)").operands, [""]);
        assert_eq!(one("eq(name,'')").operands, [""]);
        assert_eq!(one("eq(name,\"\")").operands, [""]);
        assert_eq!(one("in(name,,)").operands, ["", ""]);
        assert_eq!(one("in(name,'',x,)").operands, ["", "x", ""]);
    }

    #[test]
    fn quoted_operands() {
        assert_eq!(one("eq(name,'a,b(c):d)')").operands, ["a,b(c):d)"]);
        assert_eq!(one("eq(name,\"a,b(c):d)\")").operands, ["a,b(c):d)"]);
        assert_eq!(one("eq(name,'say \"hi\"')").operands, ["say \"hi\""]);
        assert_eq!(one("eq(name,\"O'Brien\")").operands, ["O'Brien"]);
        assert_eq!(one(r"eq(name,'O\'Brien')").operands, ["O'Brien"]);
        assert_eq!(one(r#"eq(name,"\"q\"")"#).operands, ["\"q\""]);
        assert_eq!(one(r#"eq(name,'\"')"#).operands, ["\""]);
        assert_eq!(one(r"eq(name,'a\\b')").operands, [r"a\b"]);
        assert_eq!(one(r"eq(name,'\\')").operands, [r"\"]);
        assert_eq!(one("eq(name,' spaced ')").operands, [" spaced "]);
        assert_eq!(one("eq(name,'日本,語')").operands, ["日本,語"]);
        assert_eq!(one("in(name,'a',\"b\",c)").operands, ["a", "b", "c"]);
    }

    #[test]
    fn quoting_errors() {
        assert!(is_syntax(r"eq(name,'a\nb')"));
        assert!(is_syntax(r"eq(name,'a\')"));
        assert!(is_syntax("eq(name,'abc)"));
        assert!(is_syntax("eq(name,'abc"));
        assert!(is_syntax("eq(name,'abc'def)"));
        assert!(is_syntax("eq(name,'abc' )"));
        assert!(is_syntax("eq(name,'abc'')"));
        assert!(is_syntax("eq(name,\"abc\"x)"));
    }

    #[test]
    fn syntax_errors() {
        for input in [
            "eq",
            "eq(",
            "eq(name",
            "eq(name,x",
            "eq(name,x))",
            "eq(name,x):",
            ":eq(name,x)",
            "eq(name,x)::eq(name,y)",
            "eq(name,x) ",
            " eq(name,x)",
            "eq (name,x)",
            "eq( name,x)",
            "eq(,x)",
            "eq(name x)",
            "eq(name,a(b)",
            "eq(name,a)b",
            "eq(na-me,x)",
            "is_null()",
            "(name,x)",
        ] {
            assert!(is_syntax(input), "{input}: {:?}", parse(input));
        }
    }

    #[test]
    fn unknown_operator_and_case() {
        assert_eq!(
            parse("EQ(name,x)"),
            Err(FilterError::UnknownOperator("EQ".into()))
        );
        assert_eq!(
            parse("Like(name,x)"),
            Err(FilterError::UnknownOperator("Like".into()))
        );
        assert_eq!(
            parse("ne(name,x)"),
            Err(FilterError::UnknownOperator("ne".into()))
        );
    }

    #[test]
    fn operand_counts() {
        let count = |input: &str| match parse(input) {
            Err(FilterError::OperandCount { count, .. }) => Some(count),
            _ => None,
        };
        assert_eq!(count("eq(name)"), Some(0));
        assert_eq!(count("eq(name,a,b)"), Some(2));
        assert_eq!(count("like(name,a,b)"), Some(2));
        assert_eq!(count("ilike(name)"), Some(0));
        assert_eq!(count("gt(name,a,b)"), Some(2));
        assert_eq!(count("le(name)"), Some(0));
        assert_eq!(count("in(name)"), Some(0));
        assert_eq!(count("is_null(name,x)"), Some(1));
        assert_eq!(count("is_null(name,)"), Some(1));
    }

    #[test]
    fn expression_limit() {
        let ten = ["eq(name,x)"; 10].join(":");
        assert_eq!(parse(&ten).unwrap().len(), 10);
        let eleven = ["eq(name,x)"; 11].join(":");
        assert_eq!(parse(&eleven), Err(FilterError::TooManyExpressions));
    }

    #[test]
    fn length_limit() {
        let exact = format!("eq(name,{})", "x".repeat(MAX_FILTER_BYTES - 9));
        assert_eq!(exact.len(), 8192);
        assert_eq!(parse(&exact).unwrap()[0].operands[0].len(), 8183);
        let over = format!("eq(name,{})", "x".repeat(MAX_FILTER_BYTES - 8));
        assert_eq!(over.len(), 8193);
        assert_eq!(parse(&over), Err(FilterError::TooLong { len: 8193 }));
        // The limit is in bytes, not characters.
        let multibyte = format!("eq(name,{})", "é".repeat(4092));
        assert_eq!(multibyte.len(), 8193);
        assert!(matches!(
            parse(&multibyte),
            Err(FilterError::TooLong { .. })
        ));
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(parse("eq(name,a\0b)"), Err(FilterError::Nul));
        assert_eq!(parse("eq(name,'\0')"), Err(FilterError::Nul));
        assert_eq!(parse("eq(na\0me,x)"), Err(FilterError::Nul));
    }

    #[test]
    fn empty_filter() {
        assert_eq!(parse(""), Err(FilterError::Empty));
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(
            FilterError::OperandCount {
                op: Op::In,
                count: 0
            }
            .to_string(),
            "`in` takes one or more operands, got 0"
        );
        assert_eq!(
            FilterError::TooLong { len: 9000 }.to_string(),
            "filter is 9000 bytes long; the limit is 8192"
        );
    }

    /// Writes an operand the way a careful client would: bare when the
    /// grammar allows it (unless `force_quote`), otherwise quoted with escapes.
    fn render_operand(operand: &str, force_quote: bool, quote: char) -> String {
        let bare_ok = !operand.contains([',', '(', ')']) && !operand.starts_with(['\'', '"']);
        if bare_ok && !force_quote {
            return operand.to_owned();
        }
        let mut out = String::from(quote);
        for c in operand.chars() {
            if c == '\\' || c == quote {
                out.push('\\');
            }
            out.push(c);
        }
        out.push(quote);
        out
    }

    fn render(exprs: &[(Expr, Vec<(bool, char)>)]) -> String {
        exprs
            .iter()
            .map(|(e, styles)| {
                let mut s = format!("{}({}", e.op, e.field);
                for (operand, (force, quote)) in e.operands.iter().zip(styles) {
                    s.push(',');
                    s.push_str(&render_operand(operand, *force, *quote));
                }
                s.push(')');
                s
            })
            .collect::<Vec<_>>()
            .join(":")
    }

    fn operand_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\u{0}]{0,12}",
            "[a-zA-Z0-9 ,():'\"\\\\*%_\\-.+]{0,12}",
            Just(String::new()),
        ]
    }

    fn expr_strategy() -> impl Strategy<Value = (Expr, Vec<(bool, char)>)> {
        let op = prop::sample::select(Op::ALL.to_vec());
        let field = prop::sample::select(vec!["name", "created_at", "id", "a.b_c9"]);
        (op, field).prop_flat_map(|(op, field)| {
            let count = match op {
                Op::IsNull => 0..1usize,
                Op::In => 1..5,
                _ => 1..2,
            };
            let style = (any::<bool>(), prop::sample::select(vec!['\'', '"']));
            prop::collection::vec((operand_strategy(), style), count).prop_map(move |ops| {
                let (operands, styles): (Vec<_>, Vec<_>) = ops.into_iter().unzip();
                (
                    Expr {
                        op,
                        field: field.to_owned(),
                        operands,
                    },
                    styles,
                )
            })
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = parse(&input);
        }

        #[test]
        fn parse_never_panics_on_grammar_soup(
            input in "[a-z_.(),:'\"\\\\ \u{0}é]{0,80}"
        ) {
            let _ = parse(&input);
        }

        #[test]
        fn well_formed_filters_round_trip(
            exprs in prop::collection::vec(expr_strategy(), 1..=MAX_EXPRESSIONS)
        ) {
            let text = render(&exprs);
            prop_assert!(text.len() <= MAX_FILTER_BYTES);
            let expected: Vec<Expr> = exprs.into_iter().map(|(e, _)| e).collect();
            prop_assert_eq!(parse(&text), Ok(expected), "{}", text);
        }
    }
}
