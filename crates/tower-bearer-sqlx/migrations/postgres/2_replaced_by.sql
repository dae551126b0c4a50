-- A token rotated with a grace period names its successor: it still authenticates until the
-- grace ends, but manages nothing. (Runs with `search_path` set to the store's schema.)
ALTER TABLE tokens ADD COLUMN replaced_by TEXT;
