-- Issue 29: the ledger's single-column rules as domains instead of table CHECK constraints.
--
-- PostgreSQL reads a table's CHECK constraints from their stored text (stringToNode) and plans
-- them again for every statement that writes the table (ExecRelCheck builds them per query):
-- with holds' 19, balances' 4 and ledger's 8, ExecConstraints was 13.5% of the database's CPU in
-- a profile of reserves and settles. A domain's CHECK is read and planned once per connection (the
-- type cache) and checked as the value is stored, so the same rules hold for every write, from any
-- code: measured alternately, about 15% less database CPU per ledger transaction (BENCHMARKS.md,
-- 2026-12-07 12:00). The rules are unchanged: each column refuses what its CHECK refused (NULL
-- still passes, as it passed a CHECK). The rules over several columns of the ledger stay CHECK
-- constraints. Turning a column into a domain over its own type rewrites nothing; each row is
-- checked against the domain once, here.

CREATE DOMAIN nonneg_bigint AS BIGINT CHECK (VALUE >= 0);
CREATE DOMAIN positive_bigint AS BIGINT CHECK (VALUE > 0);
CREATE DOMAIN hold_state AS TEXT COLLATE "C" CHECK (VALUE IN ('held', 'settled', 'released'));
CREATE DOMAIN hold_source AS TEXT COLLATE "C" CHECK (VALUE IN ('reported', 'estimated'));
CREATE DOMAIN hold_outcome AS TEXT COLLATE "C" CHECK (VALUE IN ('ok', 'stopped', 'error', 'recovered'));
CREATE DOMAIN turn_key_text AS TEXT COLLATE "C" CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN ledger_kind AS TEXT COLLATE "C"
  CHECK (VALUE IN ('signup_bonus', 'grant', 'redeem', 'reserve', 'settle', 'release', 'adjust', 'purchase', 'refund'));
CREATE DOMAIN ledger_note AS TEXT COLLATE "C" CHECK (length(VALUE) <= 500);
CREATE DOMAIN json_text AS TEXT CHECK (json_valid(VALUE));

-- The usage view reads holds' columns: dropped while their types change, then made again as it was (011).
DROP VIEW usage;

ALTER TABLE balances
  DROP CONSTRAINT balances_balance_check, DROP CONSTRAINT balances_last_hold_check,
  DROP CONSTRAINT balances_open_holds_check, DROP CONSTRAINT balances_owed_check,
  ALTER COLUMN balance TYPE nonneg_bigint, ALTER COLUMN last_hold TYPE nonneg_bigint,
  ALTER COLUMN open_holds TYPE nonneg_bigint, ALTER COLUMN owed TYPE nonneg_bigint;

ALTER TABLE holds
  DROP CONSTRAINT holds_amount_check, DROP CONSTRAINT holds_max_completion_check,
  DROP CONSTRAINT holds_prompt_tokens_check, DROP CONSTRAINT holds_prompt_rate_check,
  DROP CONSTRAINT holds_completion_rate_check, DROP CONSTRAINT holds_cached_rate_check,
  DROP CONSTRAINT holds_delivered_check, DROP CONSTRAINT holds_charge_check,
  DROP CONSTRAINT holds_used_prompt_tokens_check, DROP CONSTRAINT holds_completion_tokens_check,
  DROP CONSTRAINT holds_uncollected_check, DROP CONSTRAINT holds_latency_ms_check,
  DROP CONSTRAINT holds_cached_tokens_check, DROP CONSTRAINT holds_reasoning_tokens_check,
  DROP CONSTRAINT holds_state_check, DROP CONSTRAINT holds_source_check, DROP CONSTRAINT holds_outcome_check,
  DROP CONSTRAINT holds_turn_key_check, DROP CONSTRAINT holds_parts_check,
  ALTER COLUMN amount TYPE positive_bigint, ALTER COLUMN max_completion TYPE positive_bigint,
  ALTER COLUMN prompt_tokens TYPE nonneg_bigint, ALTER COLUMN prompt_rate TYPE nonneg_bigint,
  ALTER COLUMN completion_rate TYPE nonneg_bigint, ALTER COLUMN cached_rate TYPE nonneg_bigint,
  ALTER COLUMN delivered TYPE nonneg_bigint, ALTER COLUMN charge TYPE nonneg_bigint,
  ALTER COLUMN used_prompt_tokens TYPE nonneg_bigint, ALTER COLUMN completion_tokens TYPE nonneg_bigint,
  ALTER COLUMN uncollected TYPE nonneg_bigint, ALTER COLUMN latency_ms TYPE nonneg_bigint,
  ALTER COLUMN cached_tokens TYPE nonneg_bigint, ALTER COLUMN reasoning_tokens TYPE nonneg_bigint,
  ALTER COLUMN state TYPE hold_state, ALTER COLUMN source TYPE hold_source, ALTER COLUMN outcome TYPE hold_outcome,
  ALTER COLUMN turn_key TYPE turn_key_text, ALTER COLUMN parts TYPE json_text;

ALTER TABLE ledger
  DROP CONSTRAINT ledger_balance_after_check, DROP CONSTRAINT ledger_kind_check, DROP CONSTRAINT ledger_note_check,
  ALTER COLUMN balance_after TYPE nonneg_bigint, ALTER COLUMN kind TYPE ledger_kind, ALTER COLUMN note TYPE ledger_note;

CREATE VIEW usage AS
  SELECT id, user_id, id AS hold_id, model, used_prompt_tokens AS prompt_tokens, completion_tokens, charge, uncollected,
         source, outcome, latency_ms, conversation_id, message_id, api_request_id, closed_at AS created_at
  FROM holds WHERE state <> 'held';
