-- The audit trail names its actor as a class and an id instead of one string. PostgreSQL
-- flavour, kept in lockstep with migrations/sqlite/0008_audit_actor.sql; see
-- migrations/README.md.
--
-- Earlier rows are carried over as well as they can be: `account_member:<id>` was an account
-- holder, `cli` the operator's command line, no actor an anonymous login attempt (a shopper),
-- and `application_key:<id>` an admin (those rows could not tell a shopper's one-time-code
-- request apart; the event type `admin.write` with that route still shows it).

ALTER TABLE audit_events ADD COLUMN actor_class TEXT COLLATE "C" NOT NULL DEFAULT 'shopper';
ALTER TABLE audit_events ADD COLUMN actor_id TEXT COLLATE "C";

UPDATE audit_events SET actor_class = 'account_holder', actor_id = substr(actor, 16)
    WHERE actor LIKE 'account\_member:%' ESCAPE '\';
UPDATE audit_events SET actor_class = 'admin', actor_id = substr(actor, 17)
    WHERE actor LIKE 'application\_key:%' ESCAPE '\';
UPDATE audit_events SET actor_class = 'system' WHERE actor = 'cli';

ALTER TABLE audit_events DROP COLUMN actor;
ALTER TABLE audit_events ALTER COLUMN actor_class DROP DEFAULT;
