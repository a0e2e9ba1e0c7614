// What the routes are given: the app's dependencies (AppDeps, from server.ts or a test) and what
// createApp adds to them (Services). Its own module so that a route takes its context from here
// and never imports app.ts, which imports every route.
import type { Config } from '../config';
import type { Store } from '../storage/op';
import type { SessionStore } from '../storage';
import type { Logger } from '../log';
import type { ModelCatalog, Offer } from '../metering/models';
import type { PasswordHasher } from '../accounts/passwords';
import type { Router } from '../upstream/router';
import type { RunningTurns } from '../chat/running-turns';
import type { Catalogue } from '../payments/packages';
import type { PaymentGateway } from '../payments/stripe';
import type { TradeGateways } from '../payments/trade-gateway';

export interface AppDeps {
  config: Config;
  database: Store;
  sessions: SessionStore;
  /** The models served; replaced whole when the models file is reloaded. */
  offer: Offer;
  sessionSecret: string;
  logger: Logger;
  upstream: Router;
  /** Reads the models file again and routes by it (SIGHUP, the admin Providers page); running turns are untouched. */
  reloadModels: () => Promise<ReloadReport>;
  /** Paying by Stripe Checkout, Alipay or WeChat Pay, when one is set up (else the Recharge page offers codes only). */
  payments?: Payments;
  /** The turns this process is streaming (Stop, and disabling a user, abort them; shutdown waits for them). */
  running: RunningTurns;
}

export interface ReloadReport {
  models: number;
  providers: number;
}

/** The payment gateways as the payment routes use them: Stripe Checkout, Alipay, WeChat Pay (any of them). */
export interface Payments {
  /** Stripe's, when it is set up. */
  gateway?: PaymentGateway;
  /** Alipay's and WeChat Pay's, those set up. */
  trades?: TradeGateways;
  catalogue: Catalogue;
  checkoutMinutes: number;
}

/** The routes' context: the app's dependencies, and what createApp builds once for all routes. */
export interface Services extends AppDeps {
  hasher: PasswordHasher;
  /** The chat models served now: what the pages offer. */
  readonly models: ModelCatalog;
  /** Every model served now, embedding models too. */
  readonly allModels: ModelCatalog;
}
