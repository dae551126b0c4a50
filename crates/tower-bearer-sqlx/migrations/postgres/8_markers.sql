-- Markers set once and never unset (`OnceMarkers` of tower-bearer): for example that the
-- first admin key was minted, so that revoking it does not make the next start mint another.
-- (Runs with `search_path` set to the store's schema.)
CREATE TABLE markers (
    name      TEXT   PRIMARY KEY,
    set_at_us BIGINT NOT NULL
);
