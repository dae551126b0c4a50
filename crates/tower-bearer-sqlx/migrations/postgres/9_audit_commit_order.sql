-- The transaction that wrote each audit row (PostgreSQL 13 or newer): a page of the log never
-- shows a row while an earlier-numbered one may still commit, so a reader that follows the log
-- by `seq` misses nothing (see `audit_page`). Rows from before this migration have none and are
-- all committed. No default on the existing rows: the table is not rewritten.
ALTER TABLE audit ADD COLUMN txid xid8;
ALTER TABLE audit ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
