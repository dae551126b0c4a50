-- Tokens refused before their own expiry (revoked, deleted, rotated away), kept until that
-- expiry: the deny list of verifiers that check signed tokens without looking them up. Only
-- tokens with an expiry get a row. Times in microseconds since the Unix epoch.
CREATE TABLE tower_bearer_revocations (
    id              TEXT    NOT NULL PRIMARY KEY,
    refused_from_us INTEGER NOT NULL,
    kept_until_us   INTEGER NOT NULL,
    replaced_by     TEXT
);

-- Loading the revocations in effect, and purging the others.
CREATE INDEX tower_bearer_revocations_kept_until ON tower_bearer_revocations (kept_until_us);
