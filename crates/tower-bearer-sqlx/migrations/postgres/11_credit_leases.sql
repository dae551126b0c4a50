-- `credit_leases`: the credits each running instance holds of a token (`holder`: a random id
-- per opened store), taken in the refill period starting at `period_start`, held until
-- `expires_at_us` unless the holder renews it. `tokens.credits_leased` is the sum of a token's
-- leases of its current period. A lease past its deadline (its holder died, or stopped using
-- it without giving it back) is reclaimed by whichever instance next leases credits of the
-- token: it leaves `credits_leased` and counts as spent, so a credit is never granted twice.
-- Leases taken before this migration have no row and no deadline: they count as spent now (an
-- instance of the previous version still gives back its unspent part when it closes). (Runs
-- with `search_path` set to the store's schema.)
CREATE TABLE credit_leases (
    token_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    taken BIGINT NOT NULL,
    period_start BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL,
    PRIMARY KEY (token_id, holder)
);
CREATE INDEX credit_leases_expiry ON credit_leases (token_id, expires_at_us);
UPDATE tokens SET credits_leased = 0 WHERE credits_leased <> 0;
