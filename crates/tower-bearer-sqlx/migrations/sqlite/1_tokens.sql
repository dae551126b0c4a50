-- tower-bearer's token store on SQLite.
--
-- Only the SHA-256 digest of each token is stored (`token_hash`, 32 bytes), never the token.
-- Times are INTEGER microseconds since the Unix epoch (UTC). `scopes` is a JSON array of
-- strings. Revoked tokens keep their row (with `revoked_at`), so audits can tell "revoked"
-- from "unknown"; `purge_expired` removes expired rows.
CREATE TABLE tower_bearer_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    token_hash   BLOB    NOT NULL CHECK (length(token_hash) = 32),
    hint         TEXT,
    subject      TEXT    NOT NULL,
    organization TEXT,
    name         TEXT,
    kind         TEXT,
    scopes       TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- Every request looks a token up by its digest: one probe of this index.
CREATE UNIQUE INDEX tower_bearer_tokens_token_hash ON tower_bearer_tokens (token_hash);
-- Listing an owner's live tokens.
CREATE INDEX tower_bearer_tokens_subject ON tower_bearer_tokens (subject) WHERE revoked_at IS NULL;
-- Purging expired tokens.
CREATE INDEX tower_bearer_tokens_expires_at ON tower_bearer_tokens (expires_at) WHERE expires_at IS NOT NULL;
