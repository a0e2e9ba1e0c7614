// One-time form ids: each rendering of a form that makes something (an API key, a batch of
// redemption codes) carries its own id in a hidden form_id field, so the same form sent again (a
// reload of the answer page, which resends the POST, or a double click) makes nothing the second
// time. The id starts with when it was issued, so an id can be held to a time limit where what it
// is kept against is kept for a limited time (codes: the database's throttle table).
import crypto from 'node:crypto';
import type { Request } from 'express';
import { bodyOf } from './input';

const SHAPE = /^[\w-]{1,64}$/;

/** A new form's id: when it was issued (base 36 milliseconds), then a random UUID. */
export const newFormId = (now = Date.now()): string => `${now.toString(36)}-${crypto.randomUUID()}`;

/** The form id the request carries, when it has one of the right shape; null otherwise (a script, an old page). */
export function formIdOf(req: Request): string | null {
  const given = bodyOf(req).form_id;
  return typeof given === 'string' && SHAPE.test(given) ? given : null;
}

/** When the form was issued (ms), from an id newFormId made; NaN for an id of another shape. */
export function formIssuedAt(formId: string): number {
  const [stamp] = formId.split('-');
  return /^[0-9a-z]{8,9}$/.test(stamp!) ? parseInt(stamp!, 36) : NaN;
}
