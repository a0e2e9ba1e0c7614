-- Issue 24: the column SQLite counts holds taken whole from one allowance bucket on (see the
-- SQLite migration). PostgreSQL counts every hold on balances.open_holds, so this stays 0 here:
-- its one-statement own-token take checks TURNS_PER_USER on the balance row it locks, and a sum
-- over buckets would be read from the statement's snapshot after it waited for that lock.
ALTER TABLE allowances ADD COLUMN open_holds BIGINT NOT NULL DEFAULT 0 CHECK (open_holds >= 0);
-- The bucket a reserve takes from first (the soonest to end, then the lowest id) read in index order.
CREATE INDEX allowances_spend_order ON allowances(user_id, ends_at, id);
