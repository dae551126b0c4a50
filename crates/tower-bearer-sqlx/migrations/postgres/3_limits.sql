-- Limits a token carries from its issue: a rate limit (requests per period) and credits.
-- Durations are BIGINT microseconds. `credits_remaining` is the balance no instance holds;
-- `credits_leased` what instances took in leases and have not returned (part of it spent);
-- `credits_period_start` (microseconds since the epoch, compared exactly) the start of the
-- current refill period. All NULL for a token without them. (Runs with `search_path` set to
-- the store's schema.)
ALTER TABLE tokens ADD COLUMN rate_limit_requests     BIGINT;
ALTER TABLE tokens ADD COLUMN rate_limit_period_us    BIGINT;
ALTER TABLE tokens ADD COLUMN credits_initial         BIGINT;
ALTER TABLE tokens ADD COLUMN credits_refill_amount   BIGINT;
ALTER TABLE tokens ADD COLUMN credits_refill_every_us BIGINT;
ALTER TABLE tokens ADD COLUMN credits_remaining       BIGINT CHECK (credits_remaining >= 0);
ALTER TABLE tokens ADD COLUMN credits_leased          BIGINT NOT NULL DEFAULT 0 CHECK (credits_leased >= 0);
ALTER TABLE tokens ADD COLUMN credits_period_start    BIGINT;
