-- OAuth clients of `tower-bearer-oauth`'s token endpoint (`SqlClientRegistry`, feature
-- `oauth`): the SHA-256 digest of the current secret, and during a rotation's grace the
-- previous one's with the microsecond it stops being accepted. Never a secret.
-- `allowed_scopes` is a JSON array of strings.
CREATE TABLE tower_bearer_oauth_clients (
    client_id            TEXT    NOT NULL PRIMARY KEY,
    subject              TEXT    NOT NULL,
    allowed_scopes       TEXT    NOT NULL DEFAULT '[]',
    access_token_ttl_us  INTEGER NOT NULL,
    secret_hash          BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    previous_secret_hash BLOB    CHECK (length(previous_secret_hash) = 32),
    previous_until_us    INTEGER
);
