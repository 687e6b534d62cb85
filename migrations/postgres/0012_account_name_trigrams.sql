-- `ilike(name,*acme*)`, the accounts list's search by part of a name (the admin console's search
-- box sends it as typed), compiles to a LIKE on the ASCII-folded name (src/query/sql.rs); a
-- pattern that starts with a wildcard cannot use a B-tree, so on a store of 100,000 accounts
-- each of the list's two statements (its page and its exact total) read the whole table. A
-- trigram index on the same expression serves it, as users_email_folded_trigrams (0010) does the
-- members' email. PostgreSQL flavour, kept in lockstep with
-- migrations/sqlite/0012_account_name_trigrams.sql.
CREATE INDEX accounts_name_folded_trigrams ON accounts
    USING gin (translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') public.gin_trgm_ops);
