// The payment gateways the settings ask for, built once at start-up: the packages they sell,
// Stripe Checkout, Alipay and WeChat Pay (any of them). A bad packages file or key file throws,
// naming its setting, so start-up stops before anything is offered. Each gateway's module, and so
// its SDK (alipay-sdk with urllib, wechatpay-axios-plugin with axios, stripe: about 400 files and
// half a second of every start together), is loaded only when that gateway is configured.
import type { Config } from '../config';
import { loadPackages } from './packages';
import type { TradeGateways } from './trade-gateway';

export async function openPayments(config: Config) {
  if (!config.packagesFile) return undefined;
  const trades: TradeGateways = {};
  if (config.alipay) trades.alipay = (await import('./alipay')).alipayGateway(config.alipay, config.publicUrl!);
  if (config.wechatPay) trades.wechat = (await import('./wechatpay')).wechatPayGateway(config.wechatPay, config.publicUrl!);
  const gateway = config.payments && (await import('./stripe-checkout')).stripeGateway(config.payments);
  return {
    catalogue: loadPackages(config.packagesFile),
    ...(gateway && { gateway }),
    trades,
    checkoutMinutes: config.checkoutMinutes,
  };
}
