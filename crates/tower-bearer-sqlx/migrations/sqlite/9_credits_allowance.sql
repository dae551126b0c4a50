-- `credits_allowance`: the credits the current refill period started with (the plan's initial
-- credits until the first refill, then its refill amount; written by the lease that writes a
-- refill), so that a balance tells spent credits from leased ones. NULL for a token without
-- credits. Tokens from before this migration get it where it is certain: credits never
-- refilled, or refilled to their initial amount, or a balance only one of the two fits.
ALTER TABLE tower_bearer_tokens ADD COLUMN credits_allowance INTEGER;
UPDATE tower_bearer_tokens SET credits_allowance = credits_initial
 WHERE credits_initial IS NOT NULL AND (credits_refill_amount IS NULL
    OR credits_refill_amount = credits_initial
    OR credits_remaining + credits_leased > credits_refill_amount);
UPDATE tower_bearer_tokens SET credits_allowance = credits_refill_amount
 WHERE credits_allowance IS NULL AND credits_refill_amount IS NOT NULL
   AND credits_remaining + credits_leased > credits_initial;
