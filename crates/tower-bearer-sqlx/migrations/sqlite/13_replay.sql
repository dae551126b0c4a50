-- Single-use identifiers seen (`ReplayCache` of tower-bearer: a digest of a DPoP proof's key and
-- `jti`, or of a client assertion's), each kept until `expires_at_us` (microseconds since the
-- epoch): every process sharing the file refuses a second use within that time. A row past its
-- expiry counts as unseen (its id is usable again, and the insert that uses it rewrites the
-- row); `purge_expired` deletes those. No index on the expiry: a purge deletes most rows it
-- reads, and each insert would pay for one.
CREATE TABLE tower_bearer_replay_ids (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    expires_at_us INTEGER NOT NULL
) WITHOUT ROWID;
