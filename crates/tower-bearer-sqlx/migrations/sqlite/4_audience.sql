-- The resources a token is meant for (its audience, RFC 8707), a JSON array of strings;
-- empty: not restricted.
ALTER TABLE tower_bearer_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '[]';
