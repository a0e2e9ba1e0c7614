-- Issue 24: on SQLite, a hold taken whole from one allowance bucket (its `parts` one part of all
-- its amount) counts open on that bucket rather than on `balances.open_holds`: the one-statement
-- take and close from a bucket then write the same rows as those from own tokens (the bucket's
-- row already changes; the balance row no longer has to). What a user has open is the sum of both
-- (ledger.openCount, TURNS_PER_USER, an administrator's "answers at once", `ledger verify`).
ALTER TABLE allowances ADD COLUMN open_holds INTEGER NOT NULL DEFAULT 0 CHECK (open_holds >= 0);
UPDATE allowances SET open_holds = (SELECT count(*) FROM holds h WHERE h.state = 'held' AND h.parts IS NOT NULL
  AND json_array_length(h.parts) = 1 AND json_extract(h.parts, '$[0].a') = allowances.id AND json_extract(h.parts, '$[0].n') = h.amount);
UPDATE balances SET open_holds = max(open_holds - (SELECT coalesce(sum(a.open_holds), 0) FROM allowances a WHERE a.user_id = balances.user_id), 0);
-- The bucket a reserve takes from first (the soonest to end, then the lowest id) read in index
-- order rather than sorted on every reserve.
CREATE INDEX allowances_spend_order ON allowances(user_id, ends_at, id);
