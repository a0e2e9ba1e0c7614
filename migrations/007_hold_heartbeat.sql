-- A running turn's process marks its hold alive every 20 s (ledger.heartbeat), so the recovery
-- sweep of another process on the same database leaves a long turn alone: a hold is left by a
-- crash only when nothing has been heard of it for HOLD_RECOVERY_MINUTES.
ALTER TABLE holds ADD COLUMN alive_at TEXT;
