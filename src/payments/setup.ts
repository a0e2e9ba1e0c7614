// The payment gateways the settings ask for, built once at start-up: the packages they sell,
// Stripe Checkout, Alipay and WeChat Pay (any of them). A bad packages file or key file throws,
// naming its setting, so start-up stops before anything is offered.
import type { Config } from '../config';
import { alipayGateway } from './alipay';
import { loadPackages } from './packages';
import { stripeGateway } from './stripe';
import type { TradeGateways } from './trade-gateway';
import { wechatPayGateway } from './wechatpay';

export function openPayments(config: Config) {
  if (!config.packagesFile) return undefined;
  const trades: TradeGateways = {};
  if (config.alipay) trades.alipay = alipayGateway(config.alipay, config.publicUrl!);
  if (config.wechatPay) trades.wechat = wechatPayGateway(config.wechatPay, config.publicUrl!);
  return {
    catalogue: loadPackages(config.packagesFile),
    ...(config.payments && { gateway: stripeGateway(config.payments) }),
    trades,
    checkoutMinutes: config.checkoutMinutes,
  };
}
