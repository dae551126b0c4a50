-- tower-bearer's token store on PostgreSQL. Runs with `search_path` set to the store's own
-- schema (`tower_bearer` by default), which also holds this schema's `_sqlx_migrations`, so
-- the store's migrations never mix with the application's.
--
-- Only the SHA-256 digest of each token is stored (`token_hash`, 32 bytes), never the token.
-- Revoked tokens keep their row (with `revoked_at`), so audits can tell "revoked" from
-- "unknown"; `purge_expired` removes expired rows.
CREATE TABLE tokens (
    id           TEXT        PRIMARY KEY,
    token_hash   BYTEA       NOT NULL CHECK (octet_length(token_hash) = 32),
    hint         TEXT,
    subject      TEXT        NOT NULL,
    organization TEXT,
    name         TEXT,
    kind         TEXT,
    scopes       TEXT[]      NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- Every request looks a token up by its digest: one probe of this index.
CREATE UNIQUE INDEX tokens_token_hash ON tokens (token_hash);
-- Listing an owner's live tokens.
CREATE INDEX tokens_subject ON tokens (subject) WHERE revoked_at IS NULL;
-- Purging expired tokens.
CREATE INDEX tokens_expires_at ON tokens (expires_at) WHERE expires_at IS NOT NULL;
