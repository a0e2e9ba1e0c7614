-- Issue 24, second slice: allowances that refill, limits an administrator sets, a group's system
-- prompt.
--
-- A balance has two kinds of bucket. `balances.balance` stays the user's OWN tokens (bought,
-- redeemed, granted, the sign-up bonus), whose rows stay in `ledger`. Each (user, group) with an
-- allowance has a bucket in `allowances`, whose every change is a row in `allowance_ledger`:
-- balance == sum(rows) per bucket, as for own tokens, and `ledger verify` checks both.
ALTER TABLE groups ADD COLUMN allowance INTEGER CHECK (allowance IS NULL OR allowance BETWEEN 1 AND 1000000000000);
ALTER TABLE groups ADD COLUMN allowance_period TEXT NOT NULL DEFAULT 'month' CHECK (allowance_period IN ('day', 'week', 'month'));
-- reset: what is left expires at the period's end and the bucket starts again at `allowance`;
-- add: `allowance` is added each period, up to `allowance_cap`.
ALTER TABLE groups ADD COLUMN allowance_mode TEXT NOT NULL DEFAULT 'reset' CHECK (allowance_mode IN ('reset', 'add'));
ALTER TABLE groups ADD COLUMN allowance_cap INTEGER CHECK (allowance_cap IS NULL OR allowance_cap BETWEEN 1 AND 1000000000000);
-- A member added mid-period gets the whole period's allowance (full) or the part of it left (prorata).
ALTER TABLE groups ADD COLUMN allowance_join TEXT NOT NULL DEFAULT 'full' CHECK (allowance_join IN ('full', 'prorata'));
-- Limits the members cannot lift (NULL: none). Tokens are balance tokens per calendar day / month
-- in the organisation's time zone; requests are turns and /v1 calls together.
ALTER TABLE groups ADD COLUMN tokens_per_day INTEGER CHECK (tokens_per_day IS NULL OR tokens_per_day >= 1);
ALTER TABLE groups ADD COLUMN tokens_per_month INTEGER CHECK (tokens_per_month IS NULL OR tokens_per_month >= 1);
ALTER TABLE groups ADD COLUMN requests_per_minute INTEGER CHECK (requests_per_minute IS NULL OR requests_per_minute >= 1);
ALTER TABLE groups ADD COLUMN requests_per_hour INTEGER CHECK (requests_per_hour IS NULL OR requests_per_hour >= 1);
ALTER TABLE groups ADD COLUMN answers_at_once INTEGER CHECK (answers_at_once IS NULL OR answers_at_once >= 1);
-- The system prompt members' new conversations start with; locked: they cannot change it.
ALTER TABLE groups ADD COLUMN system_prompt TEXT CHECK (system_prompt IS NULL OR length(system_prompt) BETWEEN 1 AND 8000);
ALTER TABLE groups ADD COLUMN system_prompt_locked INTEGER NOT NULL DEFAULT 0 CHECK (system_prompt_locked IN (0, 1));

-- Limits an administrator sets for one person: when set, a field replaces what their groups say.
CREATE TABLE user_limits (
  user_id             INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  tokens_per_day      INTEGER CHECK (tokens_per_day IS NULL OR tokens_per_day >= 1),
  tokens_per_month    INTEGER CHECK (tokens_per_month IS NULL OR tokens_per_month >= 1),
  requests_per_minute INTEGER CHECK (requests_per_minute IS NULL OR requests_per_minute >= 1),
  requests_per_hour   INTEGER CHECK (requests_per_hour IS NULL OR requests_per_hour >= 1),
  answers_at_once     INTEGER CHECK (answers_at_once IS NULL OR answers_at_once >= 1)
);

-- One bucket per (user, group). `period` names the last period it was refilled for ('2026-12',
-- '2026-W49', '2026-12-06'), `ends_at` when that period ends: the bucket is spent only before it.
-- `size` is that period's allowance ("63,200 of 100,000 left"). A deleted group's buckets stay
-- (emptied, by an `expire` row) under the name they had.
CREATE TABLE allowances (
  id         INTEGER PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  group_id   INTEGER REFERENCES groups(id) ON DELETE SET NULL,
  group_name TEXT    NOT NULL,
  balance    INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  size       INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
  period     TEXT,
  ends_at    TEXT
);
CREATE UNIQUE INDEX allowances_member ON allowances(user_id, group_id);
CREATE INDEX allowances_group ON allowances(group_id);

CREATE TABLE allowance_ledger (
  id            INTEGER PRIMARY KEY,
  allowance_id  INTEGER NOT NULL REFERENCES allowances(id),
  user_id       INTEGER NOT NULL REFERENCES users(id),
  kind          TEXT    NOT NULL CHECK (kind IN ('refill', 'expire', 'reserve', 'settle', 'release', 'adjust')),
  amount        INTEGER NOT NULL CHECK (amount <> 0 OR kind IN ('refill', 'settle', 'release')),
  balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
  period        TEXT,
  hold_id       INTEGER REFERENCES holds(id),
  actor_id      INTEGER REFERENCES users(id),
  note          TEXT    CHECK (note IS NULL OR length(note) <= 500),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((kind IN ('reserve', 'settle', 'release')) = (hold_id IS NOT NULL)),
  CHECK ((kind = 'refill') = (period IS NOT NULL))
);
CREATE INDEX allowance_ledger_user ON allowance_ledger(user_id, id);
-- A refill is written once per bucket and period, whichever process sees the period turn first.
CREATE UNIQUE INDEX allowance_one_refill ON allowance_ledger(allowance_id, period) WHERE kind = 'refill';
CREATE UNIQUE INDEX allowance_one_reserve ON allowance_ledger(hold_id, allowance_id) WHERE kind = 'reserve';
CREATE UNIQUE INDEX allowance_one_close ON allowance_ledger(hold_id, allowance_id) WHERE kind IN ('settle', 'release');

-- What a hold took from allowance buckets, in the order it spends them: a JSON array of
-- {"a": bucket id, "n": tokens, "e": the bucket's period end}; NULL: all from own tokens. Own
-- tokens are the rest of `amount`. `rule_group` names the group whose rule priced the model
-- (NULL: Everyone's), for usage by group.
ALTER TABLE holds ADD COLUMN parts TEXT CHECK (parts IS NULL OR json_valid(parts));
ALTER TABLE holds ADD COLUMN rule_group TEXT;
-- Requests per minute / hour count the user's holds by when they were taken.
CREATE INDEX holds_user_created ON holds(user_id, created_at);

-- Every change to an allowance, a limit or a system prompt is audited.
CREATE TABLE admin_audit_026 (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (action IN ('user_create', 'grant', 'deduct', 'disable', 'enable',
               'password_reset', 'promote', 'demote', 'codes_create', 'code_void', 'batch_void', 'key_revoke',
               'order_create', 'order_paid', 'order_expired', 'order_failed', 'order_refunded', 'payment_mismatch',
               'group_create', 'group_rename', 'group_delete', 'group_rules', 'group_add', 'group_remove',
               'group_allowance', 'group_limits', 'group_prompt', 'user_limits', 'time_zone')),
  target_user_id INTEGER REFERENCES users(id),
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO admin_audit_026 (id, actor_id, action, target_user_id, detail, created_at)
  SELECT id, actor_id, action, target_user_id, detail, created_at FROM admin_audit;
DROP TABLE admin_audit;
ALTER TABLE admin_audit_026 RENAME TO admin_audit;
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
