-- The audit log (`AuditLog` of tower-bearer): append-only, one row per event, never a secret
-- (tokens by id). `seq` orders the log; times in microseconds since the Unix epoch. (Runs
-- with `search_path` set to the store's schema.)
CREATE TABLE audit (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_us        BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    token_id     TEXT,
    subject      TEXT,
    organization TEXT,
    method       TEXT,
    path         TEXT,
    status       INTEGER,
    reason       TEXT
);

-- Reading one token's events; retention by time.
CREATE INDEX audit_token ON audit (token_id, seq);
CREATE INDEX audit_at ON audit (at_us);
