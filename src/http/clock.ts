// Times in the reader's time zone (issue 26: 8). Pages show every instant through res.locals.time,
// a <time datetime> element with the wall-clock text in the reader's zone: the one set on their
// account, else the organisation's (ledger/periods.ts). With JavaScript, static/local-time.js
// rewrites those elements in the browser's own zone, unless the account set one. The layout names
// the zone under a page that showed a time (clock.used). CSV downloads stay UTC, ISO 8601.
import type { RequestHandler } from 'express';
import { isTimeZone, zoneChanges, zoneSetting } from '../ledger/periods';
import type { Store } from '../storage/op';
import { madeOnce } from '../made-once';

const escapeText = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export type TimeStyle = 'datetime' | 'date' | 'time' | 'seconds';

export interface Clock {
  zone: string;
  /** The reader chose the zone on their account: the browser's does not replace it. */
  fixed: boolean;
  /** A time was shown on this page, so the layout says which zone it is in. */
  used: boolean;
  /** The organisation's zone (the default without JavaScript). */
  org: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  return madeOnce(formatters, zone, () => new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
}

/** The fields of instant `ms` on the wall clock of `zone`, as Intl gives them (the slow way, ~10 µs). */
function wallParts(ms: number, zone: string): Record<string, string> {
  const p: Record<string, string> = {};
  for (const part of formatter(zone).formatToParts(ms)) p[part.type] = part.value;
  return p;
}

/** How far `zone`'s wall clock is ahead of UTC at instant `ms` (whole seconds of `ms`). */
function offsetAt(ms: number, zone: string): number {
  const p = wallParts(ms, zone);
  return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - Math.floor(ms / 1000) * 1000;
}

/**
 * A zone's offset, known per quarter hour of UTC: zones change their offset on a quarter hour
 * (offsets are whole quarter hours, and changes happen at a whole local hour), and a quarter hour
 * whose two ends differ anyway is worked out instant by instant. A page shows a few dozen times;
 * each was a formatToParts call (about 10 µs), now mostly a map lookup.
 */
const QUARTER_HOUR_MS = 15 * 60_000;
const offsets = new Map<string, number>();
function zoneOffset(ms: number, zone: string): number {
  const quarter = Math.floor(ms / QUARTER_HOUR_MS);
  const key = `${zone} ${quarter}`;
  const known = offsets.get(key);
  if (known !== undefined) return known;
  const start = quarter * QUARTER_HOUR_MS;
  const offset = offsetAt(start, zone);
  if (offsetAt(start + QUARTER_HOUR_MS - 1000, zone) !== offset) return offsetAt(ms, zone);
  if (offsets.size >= 10_000) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

const two = (n: number) => String(n).padStart(2, '0');

/** "2026-12-06 14:05" (or the date, the time, or with seconds) of instant `iso` in `zone`; the text itself when it is no instant. */
export function wallClock(iso: string, zone: string, style: TimeStyle = 'datetime'): string {
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return iso;
  // The wall clock's fields, read as UTC fields of the instant moved by the zone's offset.
  const wall = new Date(ms + zoneOffset(ms, zone));
  const date = `${wall.getUTCFullYear()}-${two(wall.getUTCMonth() + 1)}-${two(wall.getUTCDate())}`;
  const hm = `${two(wall.getUTCHours())}:${two(wall.getUTCMinutes())}`;
  if (style === 'date') return date;
  if (style === 'time') return hm;
  return style === 'seconds' ? `${date} ${hm}:${two(wall.getUTCSeconds())}` : `${date} ${hm}`;
}

/** A <time> element for instant `iso` in the clock's zone, marked for local-time.js. */
export function timeElement(clock: Clock, iso: string, style: TimeStyle = 'datetime', className?: string): string {
  clock.used = true;
  const cls = className ? ` class="${escapeText(className)}"` : '';
  return `<time datetime="${escapeText(iso)}" data-t="${style}"${cls}>${escapeText(wallClock(iso, clock.zone, style))}</time>`;
}

const ORG_ZONE_TTL_MS = 5_000;

/** Sets res.locals.clock and res.locals.time for the page; after currentUser, whose account may name a zone. */
export function readingClock(store: Store): RequestHandler {
  // Read again at most every few seconds (not a database round trip on every page): an
  // administrator's change shows on this process at once, on the others within ORG_ZONE_TTL_MS.
  let org = '';
  let readAt = -Infinity;
  let changes = -1;
  return async (_req, res, next) => {
    if (performance.now() - readAt > ORG_ZONE_TTL_MS || changes !== zoneChanges.count) {
      changes = zoneChanges.count;
      org = await store.read(zoneSetting);
      readAt = performance.now();
    }
    const own = res.locals.user?.time_zone;
    const fixed = Boolean(own && isTimeZone(own));
    const clock: Clock = { zone: fixed ? own! : org, fixed, used: false, org };
    res.locals.clock = clock;
    res.locals.time = (iso: string, style?: TimeStyle, className?: string) => timeElement(clock, iso, style, className);
    next();
  };
}
