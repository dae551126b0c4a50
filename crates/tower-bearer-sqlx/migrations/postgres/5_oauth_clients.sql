-- OAuth clients of `tower-bearer-oauth`'s token endpoint (`SqlClientRegistry`, feature
-- `oauth`): the SHA-256 digest of the current secret, and during a rotation's grace the
-- previous one's with the microsecond it stops being accepted. Never a secret. (Runs with
-- `search_path` set to the store's schema.)
CREATE TABLE oauth_clients (
    client_id            TEXT   PRIMARY KEY,
    subject              TEXT   NOT NULL,
    allowed_scopes       TEXT[] NOT NULL DEFAULT '{}',
    access_token_ttl_us  BIGINT NOT NULL,
    secret_hash          BYTEA  NOT NULL CHECK (octet_length(secret_hash) = 32),
    previous_secret_hash BYTEA  CHECK (octet_length(previous_secret_hash) = 32),
    previous_until_us    BIGINT
);
