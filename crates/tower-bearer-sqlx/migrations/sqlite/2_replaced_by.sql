-- A token rotated with a grace period names its successor: it still authenticates until the
-- grace ends, but manages nothing.
ALTER TABLE tower_bearer_tokens ADD COLUMN replaced_by TEXT;
