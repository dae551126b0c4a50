-- OAuth clients that authenticate with a private key (`private_key_jwt`, RFC 7523) to
-- `tower-bearer-oauth`'s endpoints: their public keys, either a JWKS document (`jwks`, JSON
-- text) or the URL it is fetched from (`jwks_uri`), never both (as RFC 7591 §2 has it). Such a
-- client may have no secret: `secret_hash` may be NULL, as long as the client has keys. (Runs
-- with `search_path` set to the store's schema.)
ALTER TABLE oauth_clients
    ALTER COLUMN secret_hash DROP NOT NULL,
    ADD COLUMN jwks TEXT,
    ADD COLUMN jwks_uri TEXT,
    ADD CONSTRAINT oauth_clients_one_key_source CHECK (jwks IS NULL OR jwks_uri IS NULL),
    ADD CONSTRAINT oauth_clients_can_authenticate
        CHECK (secret_hash IS NOT NULL OR jwks IS NOT NULL OR jwks_uri IS NOT NULL);
