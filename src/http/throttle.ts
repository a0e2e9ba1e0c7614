// Throttles for sign-in and registration (express-rate-limit), counted in the app database so
// they hold across every server process on it (rate-store.ts).
// Per client address: a hard limit (429). Per username: never a lock (anyone could lock anyone
// out), but a growing, capped delay before the password is checked, which a browser that has
// signed in as that user before (a device cookie) does not wait (OWASP, "device cookies").
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, type Options } from 'express-rate-limit';
import type { Config } from '../config';
import { deviceOf } from './device-cookie';
import { HttpError } from './http-error';
import { bodyOf } from './input';
import { DatabaseRateStore } from './rate-store';
import type { Store } from '../storage/op';

/**
 * Sign-ins waiting out their delay at once, per username; past it 429. This bounds the requests
 * an attack can park in memory; a known device never waits here.
 */
export const MAX_DELAYED_PER_USERNAME = 4;

const tooMany: RequestHandler = (_req, _res, next) => next(new HttpError(429, 'login.throttled'));

function usernameKey(req: Request): string {
  const name = bodyOf(req).username;
  return typeof name === 'string' ? name.normalize('NFKC').trim().toLowerCase().slice(0, 64) : '';
}

export function authThrottles(config: Config, store: Store): { perIp: RequestHandler } {
  const common = {
    windowMs: config.loginRateWindowMs,
    standardHeaders: 'draft-8' as const,
    legacyHeaders: false,
    handler: tooMany,
    // TRUST_PROXY is the operator's explicit choice, documented in docs/running.md.
    validate: { trustProxy: false, xForwardedForHeader: false },
  };
  return { perIp: rateLimit({ ...common, limit: config.loginRateLimitPerIp, store: new DatabaseRateStore(store, 'ip:') }) };
}

/**
 * Failed sign-ins per username, whatever address they come from (password spraying, botnets),
 * and per device cookie. Below `loginRateLimitPerUser` failures nothing happens; from there each
 * attempt from a new device first waits `loginDelayMs`, doubling with every further failure up to
 * `loginDelayMaxMs`, and then has its password checked as usual: the right one gets in.
 * A valid device cookie for the username tried skips the wait, until that device has itself
 * failed `loginRateLimitPerUser` times (a stolen cookie does not give unlimited guesses).
 */
export class SignInThrottle {
  private readonly failures: DatabaseRateStore;
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly config: Config,
    store: Store,
    private readonly secret: string,
    /** The id of the account a username names, if any. */
    private readonly userIdOf: (username: string) => Promise<number | undefined>,
  ) {
    this.failures = new DatabaseRateStore(store, 'signin:');
    this.failures.init({ windowMs: config.loginRateWindowMs } as Options);
  }

  /** Before the password check: lets a known device through, delays the others when under attack. */
  readonly gate: RequestHandler = async (req, res, next) => {
    const name = usernameKey(req);
    if (name === '') return next();
    const device = await this.knownDevice(req, name);
    if (device) {
      res.locals.signInDevice = device;
      return next();
    }
    const delay = this.delayMs((await this.failures.get(`user:${name}`))?.totalHits ?? 0);
    if (delay === 0) return next();
    const waiting = this.waiting.get(name) ?? 0;
    if (waiting >= MAX_DELAYED_PER_USERNAME) {
      return next(new HttpError(429, 'login.throttled', { 'Retry-After': String(Math.max(1, Math.ceil(delay / 1000))) }));
    }
    this.waiting.set(name, waiting + 1);
    const done = () => {
      const left = (this.waiting.get(name) ?? 1) - 1;
      if (left > 0) this.waiting.set(name, left);
      else this.waiting.delete(name);
    };
    // A client that hangs up stops waiting and frees its place; nothing is checked for it.
    const timer = setTimeout(() => {
      res.off('close', hungUp);
      done();
      next();
    }, delay);
    const hungUp = () => {
      clearTimeout(timer);
      done();
    };
    res.once('close', hungUp);
  };

  /** After a wrong password: counts against the device that sent it, or else the username. */
  async failed(req: Request, res: Response): Promise<void> {
    const name = usernameKey(req);
    if (name === '') return;
    const { signInDevice: device } = res.locals;
    await this.failures.increment(device ? `device:${device}` : `user:${name}`);
  }

  private delayMs(failures: number): number {
    const over = failures - this.config.loginRateLimitPerUser;
    if (over < 0) return 0;
    return Math.min(this.config.loginDelayMaxMs, this.config.loginDelayMs * 2 ** Math.min(over, 30));
  }

  /** The nonce of a valid device cookie for this username that has not failed too often. */
  private async knownDevice(req: Request, name: string): Promise<string | undefined> {
    const device = deviceOf(req, this.secret);
    if (!device) return undefined;
    const failed = (await this.failures.get(`device:${device.nonce}`))?.totalHits ?? 0;
    if (failed >= this.config.loginRateLimitPerUser) return undefined;
    return device.userId === (await this.userIdOf(name)) ? device.nonce : undefined;
  }
}

/**
 * Failed code redemptions per signed-in user: codes carry 100 random bits, so this is about load
 * and noise rather than guessing, but one account should not be able to hammer the table.
 */
export function redeemThrottle(config: Config, store: Store): RequestHandler {
  return rateLimit({
    store: new DatabaseRateStore(store, 'redeem:'),
    windowMs: config.loginRateWindowMs,
    limit: config.redeemRateLimitPerUser,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new HttpError(429, 'recharge.throttled')),
    keyGenerator: (req) => `redeem:${req.user?.id ?? 0}`,
    skip: (req) => req.user === undefined,
    skipSuccessfulRequests: true,
    validate: { trustProxy: false, xForwardedForHeader: false },
  });
}
