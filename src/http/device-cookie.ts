// The device cookie (OWASP's "device cookies" against account lock-out): a browser that has signed
// in as a user keeps a token naming that user and a random nonce, signed with the session secret,
// so it cannot be forged or moved to another user. The sign-in throttle lets it skip the
// per-username delay, so an attacker failing as someone cannot keep them out.
import crypto from 'node:crypto';
import type { Request, Response } from 'express';

export const DEVICE_COOKIE = 'tc.device';
const MAX_AGE_MS = 365 * 24 * 3600 * 1000;
const FORMAT = /^(\d{1,15})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface Device {
  userId: number;
  nonce: string;
}

function sign(secret: string, userId: number, nonce: string): string {
  return crypto.createHmac('sha256', secret).update(`device-cookie:${userId}.${nonce}`).digest('base64url');
}

/** Gives this browser a fresh device cookie for `userId`, at a successful sign-in. */
export function setDeviceCookie(req: Request, res: Response, secret: string, userId: number): void {
  const nonce = crypto.randomBytes(16).toString('base64url');
  res.cookie(DEVICE_COOKIE, `${userId}.${nonce}.${sign(secret, userId, nonce)}`, {
    httpOnly: true,
    sameSite: 'lax',
    secure: req.secure,
    maxAge: MAX_AGE_MS,
    path: '/',
  });
}

/** The device this request's cookie vouches for, if it carries a valid one. */
export function deviceOf(req: Request, secret: string): Device | undefined {
  const value: unknown = req.cookies?.[DEVICE_COOKIE];
  const m = typeof value === 'string' ? FORMAT.exec(value) : null;
  if (!m) return undefined;
  const userId = Number(m[1]);
  const nonce = m[2]!;
  const expected = Buffer.from(sign(secret, userId, nonce));
  const given = Buffer.from(m[3]!);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected) ? { userId, nonce } : undefined;
}
