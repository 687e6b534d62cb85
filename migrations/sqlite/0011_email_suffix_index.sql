-- SQLite flavour of migrations/postgres/0011_email_suffix_index.sql, kept in lockstep (see
-- migrations/README.md). SQLite compiles `ilike` to GLOB on lower(email), has no reverse(), and
-- its filters gain nothing from the PostgreSQL index: this migration only keeps the numbering.
SELECT 1;
