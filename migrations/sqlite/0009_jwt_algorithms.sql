-- Account tokens may be signed with Ed25519 or P-256 key pairs besides HMAC secrets. SQLite
-- flavour, kept in lockstep with migrations/postgres/0009_jwt_algorithms.sql; see
-- migrations/README.md.
--
-- `secret` holds the HMAC secret or the private key as PKCS#8 DER (sealed like before), and
-- `algorithm` says which. A rotation gives the retired key an end, `verifies_until` (epoch
-- milliseconds): the token timeout of that moment plus a minute, after which no token it signed
-- can still be valid. Keys retired earlier keep no end and verify until removed, as before.

ALTER TABLE jwt_keys ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'HS256';
ALTER TABLE jwt_keys ADD COLUMN verifies_until INTEGER;
