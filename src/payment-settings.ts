// The settings of the two payment gateways for mainland China (Alipay, WeChat Pay API v3), read by
// config.ts. Keys are never values of the environment: each is a FILE whose path is the setting,
// so no key sits in a committed .env or a process listing. Each gateway is all-or-nothing, with
// PUBLIC_URL and PACKAGES_FILE (shared with Stripe); some but not all stops start-up, naming the
// missing ones.
import { z } from 'zod';

const file = z.string().min(1);
const url = z.string().refine((v) => /^https?:\/\/[^\s]+$/.test(v) && URL.canParse(v), 'must be an http(s) URL');

export const cnPaymentEnv = {
  ALIPAY_APP_ID: z.string().regex(/^\d{10,20}$/, 'must be the app id Alipay gave the application (digits)').optional(),
  ALIPAY_PRIVATE_KEY_FILE: file.optional(),
  ALIPAY_PUBLIC_KEY_FILE: file.optional(),
  ALIPAY_GATEWAY_URL: url.optional(),
  WECHATPAY_MCHID: z.string().regex(/^\d{6,12}$/, 'must be the merchant id (digits)').optional(),
  WECHATPAY_APPID: z.string().regex(/^wx[0-9a-zA-Z]{16}$/, 'must be an AppID such as wx0123456789abcdef').optional(),
  WECHATPAY_SERIAL: z.string().regex(/^[0-9A-Fa-f]{8,64}$/, "must be the merchant certificate's serial number (hex)").optional(),
  WECHATPAY_PRIVATE_KEY_FILE: file.optional(),
  WECHATPAY_APIV3_KEY_FILE: file.optional(),
  WECHATPAY_PLATFORM_KEY_FILE: file.optional(),
  WECHATPAY_PLATFORM_SERIAL: z.string().regex(/^[\w-]{8,64}$/, 'must be the WeChat Pay public key id (PUB_KEY_ID_...) or the platform certificate serial').optional(),
  WECHATPAY_API_URL: url.optional(),
};

type Env = { [K in keyof typeof cnPaymentEnv]?: string };

export interface AlipaySettings {
  appId: string;
  privateKeyFile: string;
  publicKeyFile: string;
  /** Another gateway (Alipay's sandbox, tests); unset: Alipay's. */
  gatewayUrl?: string;
}

export interface WechatPaySettings {
  mchid: string;
  appid: string;
  serial: string;
  privateKeyFile: string;
  apiV3KeyFile: string;
  platformKeyFile: string;
  platformSerial: string;
  /** Another API address (tests); unset: WeChat Pay's. */
  apiUrl?: string;
}

const ALIPAY = ['ALIPAY_APP_ID', 'ALIPAY_PRIVATE_KEY_FILE', 'ALIPAY_PUBLIC_KEY_FILE'] as const;
const WECHAT = [
  'WECHATPAY_MCHID', 'WECHATPAY_APPID', 'WECHATPAY_SERIAL', 'WECHATPAY_PRIVATE_KEY_FILE', 'WECHATPAY_APIV3_KEY_FILE',
  'WECHATPAY_PLATFORM_KEY_FILE', 'WECHATPAY_PLATFORM_SERIAL',
] as const;

/** Whether any of the gateway's own settings is given (then all of them must be). */
export const cnAsked = (e: Env) => ({ alipay: ALIPAY.some((k) => e[k] !== undefined), wechat: WECHAT.some((k) => e[k] !== undefined) });

function allOrNothing(what: string, names: readonly string[], e: Env & { PUBLIC_URL?: string; PACKAGES_FILE?: string }): boolean {
  if (!names.some((k) => e[k as keyof Env] !== undefined)) return false;
  const all = [...names, 'PUBLIC_URL', 'PACKAGES_FILE'];
  const missing = all.filter((k) => (e as Record<string, string | undefined>)[k] === undefined);
  if (missing.length) throw new Error(`paying by ${what} takes ${all.join(', ')} together; ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set`);
  return true;
}

/** The two gateways' settings (each undefined when not set up); throws naming what is missing. */
export function cnPaymentSettings(e: Env & { PUBLIC_URL?: string; PACKAGES_FILE?: string }, resolve: (p: string) => string) {
  const alipay: AlipaySettings | undefined = allOrNothing('Alipay', ALIPAY, e)
    ? Object.freeze({
        appId: e.ALIPAY_APP_ID!, privateKeyFile: resolve(e.ALIPAY_PRIVATE_KEY_FILE!), publicKeyFile: resolve(e.ALIPAY_PUBLIC_KEY_FILE!),
        ...(e.ALIPAY_GATEWAY_URL && { gatewayUrl: e.ALIPAY_GATEWAY_URL }),
      })
    : undefined;
  const wechatPay: WechatPaySettings | undefined = allOrNothing('WeChat Pay', WECHAT, e)
    ? Object.freeze({
        mchid: e.WECHATPAY_MCHID!, appid: e.WECHATPAY_APPID!, serial: e.WECHATPAY_SERIAL!.toUpperCase(),
        privateKeyFile: resolve(e.WECHATPAY_PRIVATE_KEY_FILE!), apiV3KeyFile: resolve(e.WECHATPAY_APIV3_KEY_FILE!),
        platformKeyFile: resolve(e.WECHATPAY_PLATFORM_KEY_FILE!), platformSerial: e.WECHATPAY_PLATFORM_SERIAL!,
        ...(e.WECHATPAY_API_URL && { apiUrl: e.WECHATPAY_API_URL }),
      })
    : undefined;
  return { alipay, wechatPay };
}
