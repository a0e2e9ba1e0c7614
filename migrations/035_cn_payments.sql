-- Recharge by Alipay and WeChat Pay beside Stripe: an order says which gateway it is paid through.
-- For those two, session_id holds the out_trade_no tokenchat gave the gateway, payment_intent the
-- gateway's own trade number, and checkout_url where the user pays (Alipay's page, WeChat's H5
-- page, or the weixin:// link a QR code carries). checked_at is when the minute sweep last asked
-- the gateway about a pending order whose notification had not come, so it asks the oldest first.
ALTER TABLE orders ADD COLUMN method TEXT NOT NULL DEFAULT 'stripe' CHECK (method IN ('stripe', 'alipay', 'wechat'));
ALTER TABLE orders ADD COLUMN checked_at TEXT;
CREATE INDEX orders_gateway_pending ON orders(checked_at) WHERE state = 'pending' AND method <> 'stripe';
