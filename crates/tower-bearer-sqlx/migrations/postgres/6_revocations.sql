-- Tokens refused before their own expiry (revoked, deleted, rotated away), kept until that
-- expiry: the deny list of verifiers that check signed tokens without looking them up. Only
-- tokens with an expiry get a row. Times in microseconds since the Unix epoch. (Runs with
-- `search_path` set to the store's schema.)
CREATE TABLE revocations (
    id              TEXT   PRIMARY KEY,
    refused_from_us BIGINT NOT NULL,
    kept_until_us   BIGINT NOT NULL,
    replaced_by     TEXT
);

-- Loading the revocations in effect, and purging the others.
CREATE INDEX revocations_kept_until ON revocations (kept_until_us);
