-- OAuth clients that authenticate with a private key (`private_key_jwt`, RFC 7523) to
-- `tower-bearer-oauth`'s endpoints: their public keys, either a JWKS document (`jwks`, JSON
-- text) or the URL it is fetched from (`jwks_uri`), never both (as RFC 7591 §2 has it). Such a
-- client may have no secret: `secret_hash` may be NULL, as long as the client has keys.
-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt, its rows copied.
CREATE TABLE tower_bearer_oauth_clients_new (
    client_id            TEXT    NOT NULL PRIMARY KEY,
    subject              TEXT    NOT NULL,
    allowed_scopes       TEXT    NOT NULL DEFAULT '[]',
    access_token_ttl_us  INTEGER NOT NULL,
    secret_hash          BLOB    CHECK (length(secret_hash) = 32),
    previous_secret_hash BLOB    CHECK (length(previous_secret_hash) = 32),
    previous_until_us    INTEGER,
    jwks                 TEXT,
    jwks_uri             TEXT,
    CHECK (jwks IS NULL OR jwks_uri IS NULL),
    CHECK (secret_hash IS NOT NULL OR jwks IS NOT NULL OR jwks_uri IS NOT NULL)
);
INSERT INTO tower_bearer_oauth_clients_new (client_id, subject, allowed_scopes, access_token_ttl_us,
        secret_hash, previous_secret_hash, previous_until_us)
    SELECT client_id, subject, allowed_scopes, access_token_ttl_us, secret_hash, previous_secret_hash,
        previous_until_us
    FROM tower_bearer_oauth_clients;
DROP TABLE tower_bearer_oauth_clients;
ALTER TABLE tower_bearer_oauth_clients_new RENAME TO tower_bearer_oauth_clients;
