-- Limits a token carries from its issue: a rate limit (requests per period) and credits.
-- Durations are INTEGER microseconds. `credits_remaining` is the balance no instance holds;
-- `credits_leased` what instances took in leases and have not returned (part of it spent);
-- `credits_period_start` (microseconds since the epoch, compared exactly) the start of the
-- current refill period. All NULL for a token without them.
ALTER TABLE tower_bearer_tokens ADD COLUMN rate_limit_requests     INTEGER;
ALTER TABLE tower_bearer_tokens ADD COLUMN rate_limit_period_us    INTEGER;
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_initial         INTEGER;
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_refill_amount   INTEGER;
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_refill_every_us INTEGER;
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_remaining       INTEGER CHECK (credits_remaining >= 0);
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_leased          INTEGER NOT NULL DEFAULT 0 CHECK (credits_leased >= 0);
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_period_start    INTEGER;
