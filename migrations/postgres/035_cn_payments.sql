-- Recharge by Alipay and WeChat Pay beside Stripe: see migrations/035_cn_payments.sql.
ALTER TABLE orders ADD COLUMN method TEXT COLLATE "C" NOT NULL DEFAULT 'stripe' CHECK (method IN ('stripe', 'alipay', 'wechat'));
ALTER TABLE orders ADD COLUMN checked_at TEXT COLLATE "C";
CREATE INDEX orders_gateway_pending ON orders(checked_at) WHERE state = 'pending' AND method <> 'stripe';
