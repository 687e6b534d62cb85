//! Micro-benchmarks of the list filter (docs/http-conventions.md#filtering): parsing a `filter`
//! value and compiling it to parameterised SQL against a field table like the accounts list's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use accountd::query::filter::{Op, parse};
use accountd::query::sql::{Dialect, FieldKind, FieldSpec, compile};
use criterion::{Criterion, criterion_group, criterion_main};

const TEXT_OPS: &[Op] = &[Op::Eq, Op::Like, Op::Ilike];
const TIME_OPS: &[Op] = &[Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge];

/// The shape of the accounts list's table (`src/store/sql/accounts.rs`).
const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "id",
        column: "id",
        kind: FieldKind::Uuid,
        ops: &[Op::Eq, Op::In, Op::Lt, Op::Le, Op::Gt, Op::Ge],
    },
    FieldSpec {
        name: "created_at",
        column: "created_at",
        kind: FieldKind::Timestamp,
        ops: TIME_OPS,
    },
    FieldSpec {
        name: "name",
        column: "name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "legal_name",
        column: "legal_name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
];

/// A one-predicate filter as storefronts send it, and a busy one near the limits.
const SIMPLE: &str = "eq(name,Acme Procurement)";
const BUSY: &str = "ilike(name,*acme*):gt(created_at,2024-01-01T00:00:00.000Z):\
    in(id,6f1e6e2c-7b6f-4a55-9b5e-2f7d3c1a0b9e,0b6a8c43-3f43-4d0e-8c4e-0f4f1f0c2d11,\
    a3c1b4e2-9d8f-4e6a-b1c2-d3e4f5a6b7c8):like(legal_name,\"Acme, Ltd*\")";

fn filter(c: &mut Criterion) {
    for (name, text) in [("simple", SIMPLE), ("busy", BUSY)] {
        let parsed = parse(text).unwrap();
        compile(&parsed, FIELDS, Dialect::Postgres, 1).unwrap();
        c.bench_function(&format!("filter/parse/{name}"), |b| {
            b.iter(|| parse(black_box(text)).unwrap());
        });
        c.bench_function(&format!("filter/compile/{name}"), |b| {
            b.iter(|| compile(black_box(&parsed), FIELDS, Dialect::Postgres, 1).unwrap());
        });
        c.bench_function(&format!("filter/parse_and_compile/{name}"), |b| {
            b.iter(|| {
                let parsed = parse(black_box(text)).unwrap();
                compile(&parsed, FIELDS, Dialect::Postgres, 1).unwrap()
            });
        });
    }
}

criterion_group!(benches, filter);
criterion_main!(benches);
