// Reads the environment once, validates it and freezes the result. Nothing else reads process.env.
import path from 'node:path';
import { z } from 'zod';
import { parseProviders, type OidcProviderSettings } from './oidc-settings';
import { cnAsked, cnPaymentEnv, cnPaymentSettings, type AlipaySettings, type WechatPaySettings } from './payment-settings';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

// Express's "trust proxy": false, true, a hop count, or a list of addresses/subnets.
const trustProxy = z.string().transform((v): boolean | number | string => {
  if (v === 'false' || v === '0' || v === '') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
});

const byteSize = z
  .string()
  .regex(/^\d+(b|kb|mb)?$/i, 'must be a size such as 512kb or 2mb')
  .transform((v) => {
    const m = /^(\d+)(b|kb|mb)?$/i.exec(v)!;
    const unit = (m[2] ?? 'b').toLowerCase();
    return Number(m[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
  })
  .pipe(z.number().min(1024, 'must be at least 1kb').max(64 * 1024 * 1024, 'must be at most 64mb'));

// An http(s) URL such as https://api.openai.com/v1 (the SDK appends /chat/completions); the
// models file's providers take the same.
export const httpUrl = z.string().refine((v) => {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL such as https://api.openai.com/v1');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PORT: int(0, 65535).default(7860),
  DATA_DIR: z.string().min(1, 'must not be empty').default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL such as postgres://user:pass@host:5432/db')
    .optional(),
  DATABASE_POOL_SIZE: int(1, 1000).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: int(0, 600_000).default(5000),
  DATABASE_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(30_000),
  DATABASE_IDLE_TRANSACTION_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  METRICS: bool.default(false),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case name such as tokenchat').optional(),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SESSION_IDLE_MINUTES: int(1, 525600).default(24 * 60),
  SESSION_ABSOLUTE_HOURS: int(1, 8760).default(7 * 24),
  TRUST_PROXY: trustProxy.default(false),
  BODY_LIMIT: byteSize.default(2 * 1024 * 1024),
  ALLOW_REGISTRATION: bool.default(true),
  REGISTRATION_MODE: z.enum(['open', 'invite', 'approval', 'closed'], { message: 'must be open, invite, approval or closed' }).optional(),
  LOGIN_RATE_LIMIT_PER_IP: int(1, 100000).default(30),
  LOGIN_RATE_LIMIT_PER_USER: int(1, 100000).default(10),
  LOGIN_RATE_WINDOW_MINUTES: int(1, 1440).default(15),
  LOGIN_DELAY_MS: int(0, 60_000).default(1000),
  LOGIN_DELAY_MAX_MS: int(0, 300_000).default(30_000),
  HASH_CONCURRENCY: int(1, 64).default(2),
  HASH_QUEUE_LIMIT: int(0, 10000).default(64),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_BUFFER_LIMIT: byteSize.default(8 * 1024 * 1024),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  SHUTDOWN_TIMEOUT_MS: int(0, 600000).default(10000),
  WEB_CONCURRENCY: int(1, 64).default(1),
  MODELS_FILE: z.string().min(1).optional(),
  SIGNUP_BONUS: int(0, 1_000_000_000).default(2000),
  HOLD_RECOVERY_MINUTES: int(1, 1440).default(1),
  REDEEM_RATE_LIMIT_PER_USER: int(1, 100000).default(10),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: httpUrl.optional(),
  UPSTREAM_TIMEOUT_MS: int(1000, 3_600_000).default(120_000),
  PROVIDER_FAILURES: int(1, 1000).default(3),
  PROVIDER_COOLDOWN_SECONDS: int(1, 86_400).default(30),
  DEMO_DELAY_MS: int(0, 10_000).default(15),
  TURNS_PER_USER: int(1, 100).default(3),
  MIN_COMPLETION_TOKENS: int(1, 100_000).default(32),
  API_IN_FLIGHT_PER_USER: int(1, 1000).default(10),
  API_IN_FLIGHT_PER_KEY: int(1, 1000).default(10),
  // 0: /v1/responses keeps nothing (previous_response_id then finds nothing).
  RESPONSES_KEEP_DAYS: int(0, 3650).default(30),
  ESTIMATE_RATE_LIMIT_PER_USER: int(1, 100000).default(30),
  // At least one estimate of the longest message (100,000) with the longest system prompt (20,000).
  ESTIMATE_CHARS_PER_MINUTE: int(120_000, 1_000_000_000).default(500_000),
  // Files attached to a chat message (issue 26): each file's size, how many a message takes, and a document's bounds.
  ATTACHMENT_MAX_BYTES: byteSize.default(20 * 1024 * 1024),
  ATTACHMENTS_PER_MESSAGE: int(1, 20).default(4),
  DOCUMENT_MAX_PAGES: int(1, 10_000).default(300),
  DOCUMENT_MAX_CHARS: int(1_000, 10_000_000).default(400_000),
  UPSTREAM_CONCURRENCY: int(1, 10_000).default(16),
  QUEUE_MAX_WAITING: int(0, 100_000).default(200),
  STRIPE_SECRET_KEY: z.string().regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret key (sk_test_..., sk_live_... or a restricted rk_...)').optional(),
  STRIPE_WEBHOOK_SECRET: z.string().regex(/^whsec_\w+$/, 'must be a webhook signing secret (whsec_...)').optional(),
  PUBLIC_URL: httpUrl.optional(),
  PACKAGES_FILE: z.string().min(1).optional(),
  CHECKOUT_EXPIRES_MINUTES: int(30, 1435).default(30),
  STRIPE_API_URL: httpUrl.optional(),
  ...cnPaymentEnv,
  OIDC_PROVIDERS: z.string().optional(),
  PASSWORD_SIGNIN: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
});

/** Every environment variable tokenchat reads. */
export const SETTINGS = Object.keys(schema.shape);

export type Config = Readonly<{
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  dataDir: string;
  sessionSecret: string | undefined;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  trustProxy: boolean | number | string;
  bodyLimitBytes: number;
  /**
   * Who may create an account at /register: anyone (open), only through an admin's invite link
   * (invite), anyone but they wait for an admin (approval), nobody (closed). REGISTRATION_MODE
   * when set, else ALLOW_REGISTRATION's open or closed.
   */
  registrationMode: 'open' | 'invite' | 'approval' | 'closed';
  /** The address people reach the server at (PUBLIC_URL), for links it hands out; unset: the request's own host. */
  publicUrl: string | undefined;
  loginRateLimitPerIp: number;
  loginRateLimitPerUser: number;
  loginRateWindowMs: number;
  /** The wait before checking a password once a username has failed too often; doubles per failure. */
  /** PostgreSQL for app data and sessions; unset: SQLite files under dataDir. A secret (it may hold a password). */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /** PostgreSQL: opening a connection (or waiting for a free one), one statement, a transaction left idle (ms; 0 = no limit). */
  databaseTimeouts: Readonly<{ connectMs: number; statementMs: number; idleTransactionMs: number }>;
  /** GET /metrics in Prometheus's text format. */
  metrics: boolean;
  /** The PostgreSQL schema to keep everything in (created if missing); unset: the connection's default. */
  databaseSchema: string | undefined;
  loginDelayMs: number;
  loginDelayMaxMs: number;
  hashConcurrency: number;
  hashQueueLimit: number;
  logLevel: string;
  /** Log lines waiting for stdout past this many characters: the oldest are dropped and counted. */
  logBufferLimit: number;
  /** JSON lines, or lines in words with the address first; auto: words when stdout is a terminal. */
  logFormat: 'auto' | 'json' | 'pretty';
  shutdownTimeoutMs: number;
  /** Server processes sharing the port (node:cluster); 1: this process serves, as ever. */
  webConcurrency: number;
  modelsFile: string | undefined;
  signupBonus: number;
  holdRecoveryMs: number;
  redeemRateLimitPerUser: number;
  /** A secret: unset means the offline demo model. */
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  upstreamTimeoutMs: number;
  /** A provider's circuit breaker: failures in a row that open it, and how long it then skips the provider. */
  breaker: { failures: number; cooldownMs: number };
  /**
   * The value of the environment variable a provider's key is in (the models file names it). A
   * function, so the keys are never in the config's enumerable fields (a dump or a log of it).
   */
  keyOf: (name: string) => string | undefined;
  demoDelayMs: number;
  /** Turns one user may have running or waiting at once. */
  turnsPerUser: number;
  /** The fewest answer tokens a turn (or a /v1 call, unless it asks for fewer) must be paid for to call the model at all. */
  minCompletion: number;
  /** /v1 calls one user may have in flight (their chat turns count too), in every process together. */
  apiPerUser: number;
  /** /v1 calls one key may have in flight, per process. */
  apiPerKey: number;
  /** Days /v1/responses keeps a response (for previous_response_id and GET); 0: none kept. */
  responsesKeepDays: number;
  /** Prompt estimates (POST /estimate) one user may ask for per minute. */
  estimateRateLimitPerUser: number;
  /** Characters of prompt estimates one user may have counted per minute, in this process; one estimate at a time. */
  estimateCharsPerMinute: number;
  /** Files attached to a chat message: bytes of one file, files a message, a document's pages and extracted characters. */
  attachments: { maxBytes: number; perMessage: number; maxPages: number; maxChars: number };
  /** Upstream calls in flight at once, server-wide; more wait in a fair queue. */
  upstreamConcurrency: number;
  queueMaxWaiting: number;
  /** Paying by Stripe Checkout: all of it, or undefined (the Recharge page offers codes only). Its keys are secrets. */
  /** Sign-in through the organisation's OpenID Connect providers (OIDC_PROVIDERS); their secrets are in it. */
  oidcProviders: readonly OidcProviderSettings[];
  /** PASSWORD_SIGNIN=off: only break-glass accounts sign in with a password. */
  passwordSignIn: boolean;
  payments: Readonly<{
    secretKey: string; webhookSecret: string; publicUrl: string; packagesFile: string; checkoutMinutes: number; apiUrl?: string;
  }> | undefined;
  /** Paying by Alipay and by WeChat Pay (each all of it, or undefined); their keys are files named here. */
  alipay: AlipaySettings | undefined;
  wechatPay: WechatPaySettings | undefined;
  /** The packages any gateway sells (PACKAGES_FILE), when one is set up. */
  packagesFile: string | undefined;
  /** How long an order stays open for payment (CHECKOUT_EXPIRES_MINUTES), whatever the gateway. */
  checkoutMinutes: number;
}>;

export class ConfigError extends Error {}

function oidcProviders(json: string | undefined, publicUrl: string | undefined): readonly OidcProviderSettings[] {
  try {
    return Object.freeze(parseProviders(json, publicUrl));
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
  }
}

/** Validates `env` (normally process.env); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(schema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]!.trim()]),
  );
  const parsed = schema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  const stripe = { STRIPE_SECRET_KEY: e.STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET: e.STRIPE_WEBHOOK_SECRET, PUBLIC_URL: e.PUBLIC_URL, PACKAGES_FILE: e.PACKAGES_FILE };
  const missing = Object.entries(stripe).filter(([, v]) => v === undefined).map(([k]) => k);
  // PUBLIC_URL alone is not a half-set Stripe: invite links and OpenID sign-in use it too; nor are
  // PUBLIC_URL and PACKAGES_FILE beside Alipay's or WeChat Pay's settings.
  const cn = cnAsked(e);
  const stripeAsked = e.STRIPE_SECRET_KEY !== undefined || e.STRIPE_WEBHOOK_SECRET !== undefined || (e.PACKAGES_FILE !== undefined && !cn.alipay && !cn.wechat);
  if (missing.length > 0 && stripeAsked) {
    throw new ConfigError(`invalid configuration: paying by Stripe takes STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, PUBLIC_URL and PACKAGES_FILE together; ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set`);
  }
  let cnGateways;
  try {
    cnGateways = cnPaymentSettings(e, (p) => path.resolve(p));
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
  }
  if (e.DATABASE_URL && !e.SESSION_SECRET) {
    // A secret generated per host would sign users out whenever the load balancer switches hosts.
    throw new ConfigError('invalid configuration: SESSION_SECRET must be set (the same on every host) when DATABASE_URL is set');
  }
  return Object.freeze({
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseTimeouts: Object.freeze({
      connectMs: e.DATABASE_CONNECT_TIMEOUT_MS, statementMs: e.DATABASE_STATEMENT_TIMEOUT_MS, idleTransactionMs: e.DATABASE_IDLE_TRANSACTION_TIMEOUT_MS,
    }),
    metrics: e.METRICS,
    databaseSchema: e.DATABASE_SCHEMA,
    sessionSecret: e.SESSION_SECRET,
    sessionIdleMs: e.SESSION_IDLE_MINUTES * 60_000,
    sessionAbsoluteMs: e.SESSION_ABSOLUTE_HOURS * 3_600_000,
    trustProxy: e.TRUST_PROXY,
    bodyLimitBytes: e.BODY_LIMIT,
    registrationMode: e.REGISTRATION_MODE ?? (e.ALLOW_REGISTRATION ? 'open' : 'closed'),
    publicUrl: e.PUBLIC_URL,
    loginRateLimitPerIp: e.LOGIN_RATE_LIMIT_PER_IP,
    loginRateLimitPerUser: e.LOGIN_RATE_LIMIT_PER_USER,
    loginRateWindowMs: e.LOGIN_RATE_WINDOW_MINUTES * 60_000,
    loginDelayMs: e.LOGIN_DELAY_MS,
    loginDelayMaxMs: e.LOGIN_DELAY_MAX_MS,
    hashConcurrency: e.HASH_CONCURRENCY,
    hashQueueLimit: e.HASH_QUEUE_LIMIT,
    logLevel: e.LOG_LEVEL,
    logBufferLimit: e.LOG_BUFFER_LIMIT,
    logFormat: e.LOG_FORMAT,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    webConcurrency: e.WEB_CONCURRENCY,
    modelsFile: e.MODELS_FILE && path.resolve(e.MODELS_FILE),
    signupBonus: e.SIGNUP_BONUS,
    holdRecoveryMs: e.HOLD_RECOVERY_MINUTES * 60_000,
    redeemRateLimitPerUser: e.REDEEM_RATE_LIMIT_PER_USER,
    openaiApiKey: e.OPENAI_API_KEY,
    openaiBaseUrl: e.OPENAI_BASE_URL,
    upstreamTimeoutMs: e.UPSTREAM_TIMEOUT_MS,
    breaker: Object.freeze({ failures: e.PROVIDER_FAILURES, cooldownMs: e.PROVIDER_COOLDOWN_SECONDS * 1000 }),
    keyOf: (name: string) => env[name]?.trim() || undefined,
    demoDelayMs: e.DEMO_DELAY_MS,
    turnsPerUser: e.TURNS_PER_USER,
    minCompletion: e.MIN_COMPLETION_TOKENS,
    apiPerUser: e.API_IN_FLIGHT_PER_USER,
    apiPerKey: e.API_IN_FLIGHT_PER_KEY,
    responsesKeepDays: e.RESPONSES_KEEP_DAYS,
    estimateRateLimitPerUser: e.ESTIMATE_RATE_LIMIT_PER_USER,
    estimateCharsPerMinute: e.ESTIMATE_CHARS_PER_MINUTE,
    attachments: { maxBytes: e.ATTACHMENT_MAX_BYTES, perMessage: e.ATTACHMENTS_PER_MESSAGE, maxPages: e.DOCUMENT_MAX_PAGES, maxChars: e.DOCUMENT_MAX_CHARS },
    upstreamConcurrency: e.UPSTREAM_CONCURRENCY,
    queueMaxWaiting: e.QUEUE_MAX_WAITING,
    oidcProviders: oidcProviders(e.OIDC_PROVIDERS, e.PUBLIC_URL),
    passwordSignIn: e.PASSWORD_SIGNIN === 'on',
    payments: missing.length
      ? undefined
      : Object.freeze({
          secretKey: e.STRIPE_SECRET_KEY!, webhookSecret: e.STRIPE_WEBHOOK_SECRET!, publicUrl: e.PUBLIC_URL!, packagesFile: path.resolve(e.PACKAGES_FILE!),
          checkoutMinutes: e.CHECKOUT_EXPIRES_MINUTES, ...(e.STRIPE_API_URL && { apiUrl: e.STRIPE_API_URL }),
        }),
    ...cnGateways,
    checkoutMinutes: e.CHECKOUT_EXPIRES_MINUTES,
    packagesFile: (!missing.length || cnGateways.alipay || cnGateways.wechatPay) ? path.resolve(e.PACKAGES_FILE!) : undefined,
  });
}
