-- The audit log (`AuditLog` of tower-bearer): append-only, one row per event, never a secret
-- (tokens by id). `seq` orders the log; times in microseconds since the Unix epoch.
CREATE TABLE tower_bearer_audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us        INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    token_id     TEXT,
    subject      TEXT,
    organization TEXT,
    method       TEXT,
    path         TEXT,
    status       INTEGER,
    reason       TEXT
);

-- Reading one token's events; retention by time.
CREATE INDEX tower_bearer_audit_token ON tower_bearer_audit (token_id, seq);
CREATE INDEX tower_bearer_audit_at ON tower_bearer_audit (at_us);
