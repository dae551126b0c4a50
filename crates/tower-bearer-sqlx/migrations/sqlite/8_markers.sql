-- Markers set once and never unset (`OnceMarkers` of tower-bearer): for example that the
-- first admin key was minted, so that revoking it does not make the next start mint another.
CREATE TABLE tower_bearer_markers (
    name      TEXT    NOT NULL PRIMARY KEY,
    set_at_us INTEGER NOT NULL
);
