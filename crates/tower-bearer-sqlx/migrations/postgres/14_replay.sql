-- Single-use identifiers seen (`ReplayCache` of tower-bearer: a digest of a DPoP proof's key and
-- `jti`, or of a client assertion's), each kept until `expires_at_us` (microseconds since the
-- epoch): every instance sharing the database refuses a second use within that time. A row
-- past its expiry counts as unseen (its id is usable again, and the insert that uses it
-- rewrites the row); `purge_expired` deletes those. No index on the expiry: a purge deletes
-- most rows it reads, and each insert would pay for one. (Runs with `search_path` set to the
-- store's schema.)
CREATE TABLE replay_ids (
    id            BYTEA  PRIMARY KEY CHECK (octet_length(id) = 32),
    expires_at_us BIGINT NOT NULL
);
