-- Usage analytics (`UsageLog` of tower-bearer): one counter per granularity (`minute`, `hour`,
-- `day`), bucket start (microseconds since the epoch), token id ('' for tokens the store did
-- not know: what was presented is never kept) and outcome. Every instance adds its own counts
-- to the row (`count = count + excluded.count`), so the row is the total. The organization and
-- subject are the token's, as the first count said, for tenant-wide reads. The primary key
-- serves reads (a granularity and a range of buckets) and the purge (a granularity, buckets
-- before a time). (Runs with `search_path` set to the store's schema.)
CREATE TABLE usage_counts (
    granularity  TEXT   NOT NULL CHECK (granularity IN ('minute', 'hour', 'day')),
    bucket_us    BIGINT NOT NULL,
    token_id     TEXT   NOT NULL,
    outcome      TEXT   NOT NULL,
    organization TEXT,
    subject      TEXT,
    count        BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (granularity, bucket_us, token_id, outcome)
);
