-- SQLite flavour of migrations/postgres/0012_account_name_trigrams.sql, kept in lockstep (see
-- migrations/README.md). SQLite has no trigram index; a pattern search reads the accounts
-- table, which the embedded default's stores keep small. This migration only keeps the numbering.
SELECT 1;
