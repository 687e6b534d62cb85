-- Indexes for look-ups that scanned whole tables once stores grew to a million members. PostgreSQL
-- flavour, kept in lockstep with migrations/sqlite/0010_lookup_indexes.sql; see
-- migrations/README.md.
--
-- `external_ref` is how `accountd import` matches accounts and how `eq(external_ref,…)` finds
-- one on the accounts list.
CREATE INDEX accounts_external_ref ON accounts (external_ref);

-- `ilike(email,*@example.com)` on the members list compiles to a LIKE on the ASCII-folded
-- email (src/query/sql.rs); a pattern that starts with a wildcard cannot use a B-tree, and a
-- trigram index serves it. pg_trgm ships with PostgreSQL and is a trusted extension, so the
-- database owner may install it; it goes to `public` so that every schema's index can name it.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE INDEX users_email_folded_trigrams ON users
    USING gin (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') public.gin_trgm_ops);
