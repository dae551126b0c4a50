-- Digests of tokens whose validity ended or changed (revoked, deleted, rotated), in commit
-- order: SQLite has no notification channel, so caches in every process sharing the file poll
-- this feed (PostgreSQL sends the same digests with `pg_notify`). `AUTOINCREMENT`: a number is
-- never reused, and with SQLite's single writer numbers follow commit order, so a reader
-- resuming after the last number it saw misses nothing; one finding a gap after it (rows
-- purged) knows it may have missed some. The newest rows are kept, the older purged by the
-- writer.
CREATE TABLE tower_bearer_token_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB    NOT NULL
);
