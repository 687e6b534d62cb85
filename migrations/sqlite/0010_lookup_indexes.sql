-- Indexes for look-ups that scanned whole tables once stores grew to a million members. SQLite
-- flavour, kept in lockstep with migrations/postgres/0010_lookup_indexes.sql; see
-- migrations/README.md.
--
-- `external_ref` is how `accountd import` matches accounts and how `eq(external_ref,…)` finds
-- one on the accounts list. (SQLite has no trigram index: `ilike` with a leading wildcard scans
-- the members, which the PostgreSQL flavour avoids.)
CREATE INDEX accounts_external_ref ON accounts (external_ref);
