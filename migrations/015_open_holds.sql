-- How many holds each user has open (their turns running, in every process), kept on the balance
-- row by the same statements that open and close a hold. A reserve reads it on the row it locks,
-- so TURNS_PER_USER is one condition of one statement, not a count in another round trip.
-- Upgrade with every old process stopped: old code opens and closes holds without counting them.
-- (Should a count drift anyway, closing stops it at 0 and `ledger verify` names the row.)
ALTER TABLE balances ADD COLUMN open_holds INTEGER NOT NULL DEFAULT 0 CHECK (open_holds >= 0);
UPDATE balances SET open_holds = (SELECT count(*) FROM holds h WHERE h.user_id = balances.user_id AND h.state = 'held');
