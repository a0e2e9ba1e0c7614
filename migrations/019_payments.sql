-- Recharge by paying (Stripe Checkout). An order is made (pending) before Checkout; a verified
-- webhook, never the return page, marks it paid and credits its tokens: one `purchase` ledger row
-- per order (a UNIQUE index), in the transaction that changes the order's state. Refunds take
-- tokens back (`refund` rows); what the balance cannot cover is owed and taken from the next
-- purchase. Every Stripe event handled is kept once (its id), so a repeated delivery does nothing.
CREATE TABLE orders (
  id             INTEGER PRIMARY KEY,
  user_id        INTEGER NOT NULL REFERENCES users(id),
  package_id     TEXT    NOT NULL,
  package_name   TEXT    NOT NULL,
  tokens         INTEGER NOT NULL CHECK (tokens > 0),
  -- The price in the currency's smallest unit (cents, fen), as Stripe takes it.
  amount         INTEGER NOT NULL CHECK (amount > 0),
  currency       TEXT    NOT NULL CHECK (length(currency) = 3),
  state          TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'paid', 'expired', 'failed', 'partly_refunded', 'refunded')),
  session_id     TEXT    UNIQUE,
  -- Where the user pays (Stripe's page), until the session expires.
  checkout_url   TEXT,
  expires_at     TEXT,
  paid_at        TEXT,
  payment_intent TEXT,
  receipt_url    TEXT,
  -- Refunded so far (smallest unit), and the tokens taken back for it (from the balance, or owed).
  refunded       INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
  tokens_back    INTEGER NOT NULL DEFAULT 0 CHECK (tokens_back >= 0),
  -- The page's form that made the order: sent again (a double click), it makes no second order.
  form_id        TEXT    CHECK (form_id IS NULL OR length(form_id) BETWEEN 1 AND 64),
  created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (user_id, form_id)
);
CREATE INDEX orders_user ON orders(user_id, id);
CREATE INDEX orders_created ON orders(created_at);
CREATE INDEX orders_payment_intent ON orders(payment_intent) WHERE payment_intent IS NOT NULL;

CREATE TABLE payment_events (
  event_id    TEXT    PRIMARY KEY,
  type        TEXT    NOT NULL,
  order_id    INTEGER REFERENCES orders(id),
  -- The Checkout session it is about, or for a charge its payment intent.
  ref         TEXT,
  -- What it did: credited, refunded, expired, failed, waiting, already, ignored; unknown_order and
  -- mismatch are for an administrator to look at (nothing was credited).
  outcome     TEXT    NOT NULL,
  detail      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  received_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX payment_events_issues ON payment_events(received_at) WHERE outcome IN ('unknown_order', 'mismatch');
CREATE INDEX payment_events_ref ON payment_events(ref) WHERE ref IS NOT NULL;

-- Tokens a refund took back that the balance did not hold: taken from the next purchase.
ALTER TABLE balances ADD COLUMN owed INTEGER NOT NULL DEFAULT 0 CHECK (owed >= 0);

-- The ledger gains the kinds `purchase` and `refund` and the order they belong to. SQLite cannot
-- change a CHECK, so the table is rebuilt (nothing references it).
CREATE TABLE ledger_019 (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id),
  kind          TEXT    NOT NULL CHECK (kind IN ('signup_bonus', 'grant', 'redeem', 'reserve', 'settle', 'release', 'adjust', 'purchase', 'refund')),
  amount        INTEGER NOT NULL CHECK (amount <> 0 OR kind IN ('settle', 'release')),
  balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
  actor_id      INTEGER REFERENCES users(id),
  hold_id       INTEGER REFERENCES holds(id),
  code_id       INTEGER REFERENCES redemption_codes(id),
  order_id      INTEGER REFERENCES orders(id),
  note          TEXT    CHECK (note IS NULL OR length(note) <= 500),
  created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  CHECK ((kind IN ('reserve', 'settle', 'release')) = (hold_id IS NOT NULL)),
  CHECK ((kind = 'redeem') = (code_id IS NOT NULL)),
  CHECK ((kind IN ('purchase', 'refund')) = (order_id IS NOT NULL))
);
INSERT INTO ledger_019 (id, user_id, kind, amount, balance_after, actor_id, hold_id, code_id, note, created_at)
  SELECT id, user_id, kind, amount, balance_after, actor_id, hold_id, code_id, note, created_at FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_019 RENAME TO ledger;
CREATE INDEX ledger_user ON ledger(user_id, id);
CREATE UNIQUE INDEX ledger_one_reserve ON ledger(hold_id) WHERE kind = 'reserve';
CREATE UNIQUE INDEX ledger_one_close ON ledger(hold_id) WHERE kind IN ('settle', 'release');
-- One purchase per order, whatever Stripe delivers and however often.
CREATE UNIQUE INDEX ledger_one_purchase ON ledger(order_id) WHERE kind = 'purchase';

-- Every state change of an order is audited; actor NULL with an order action is Stripe's webhook.
CREATE TABLE admin_audit_019 (
  id         INTEGER PRIMARY KEY,
  actor_id   INTEGER REFERENCES users(id),
  action     TEXT    NOT NULL CHECK (action IN ('user_create', 'grant', 'deduct', 'disable', 'enable',
               'password_reset', 'promote', 'demote', 'codes_create', 'code_void', 'batch_void', 'key_revoke',
               'order_create', 'order_paid', 'order_expired', 'order_failed', 'order_refunded', 'payment_mismatch')),
  target_user_id INTEGER REFERENCES users(id),
  detail     TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO admin_audit_019 (id, actor_id, action, target_user_id, detail, created_at)
  SELECT id, actor_id, action, target_user_id, detail, created_at FROM admin_audit;
DROP TABLE admin_audit;
ALTER TABLE admin_audit_019 RENAME TO admin_audit;
CREATE INDEX admin_audit_target ON admin_audit(target_user_id, id) WHERE target_user_id IS NOT NULL;
