-- The resources a token is meant for (its audience, RFC 8707); empty: not restricted. (Runs
-- with `search_path` set to the store's schema.)
ALTER TABLE tokens ADD COLUMN audience TEXT[] NOT NULL DEFAULT '{}';
