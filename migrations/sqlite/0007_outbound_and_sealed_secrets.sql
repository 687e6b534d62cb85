-- Outbound requests and secrets at rest, SQLite flavour. Kept in lockstep with
-- migrations/postgres/0007_outbound_and_sealed_secrets.sql; see migrations/README.md.

-- An integration may stop sending its secret key in clear (the X-Moltin-Secret-Key header and
-- the envelope's configuration.secret_key); receivers then verify the signature headers only.
ALTER TABLE integrations ADD COLUMN send_secret_key INTEGER NOT NULL DEFAULT 1;

-- An OIDC profile may accept identities whose provider says the email is not verified.
ALTER TABLE oidc_profiles ADD COLUMN allow_unverified_email INTEGER NOT NULL DEFAULT 0;

-- The id of the master key each secret is encrypted with; NULL while it is plain text. The
-- encrypted value takes the secret's own column (base64 text in text columns).
ALTER TABLE jwt_keys ADD COLUMN secret_sealed_with TEXT;
ALTER TABLE integrations ADD COLUMN secret_key_sealed_with TEXT;
ALTER TABLE oidc_profiles ADD COLUMN client_secret_sealed_with TEXT;
