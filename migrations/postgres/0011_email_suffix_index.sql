-- `ilike(email,*@example.com)`, a domain's members, is the members list's commonest filter. The
-- trigram index of 0010 serves it, but its posting lists for trigrams every address shares
-- ("com", " co") grow with the table, and so did the filter's cost. A suffix pattern also
-- compiles to a range of the reversed folded email (src/query/sql.rs, `reversed_suffix_range`),
-- which this B-tree finds in time that follows the matches. The expression is the filter's,
-- character for character, and takes the column's "C" collation, under which the range is
-- exact. PostgreSQL flavour, kept in lockstep with migrations/sqlite/0011_email_suffix_index.sql.
CREATE INDEX users_email_folded_reversed ON users
    (reverse(translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')));
