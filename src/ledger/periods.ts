// Calendar periods (a day, an ISO week from Monday, a month) in the organisation's time zone: what
// allowances refill by and what an administrator's limits per day and per month count. A period is
// named by a label ('2026-12-06', '2026-W49', '2026-12') that is the same on every process whatever
// its own TZ, and its bounds are UTC instants found from the zone's rules, so a month that starts at
// 00:00 in Asia/Shanghai starts at 16:00 UTC the day before, and a day that daylight saving makes 23
// or 25 hours long is as long as it is.
import { query, type Op } from '../storage/op';
import { madeOnce } from '../made-once';

export type PeriodKind = 'day' | 'week' | 'month';
export const PERIOD_KINDS: readonly PeriodKind[] = ['day', 'week', 'month'];

export interface Period {
  kind: PeriodKind;
  label: string;
  /** The first instant of the period and the first after it, as the ISO text the tables store. */
  startsAt: string;
  endsAt: string;
}

/** The app_settings key the organisation's time zone is kept under. */
export const TIME_ZONE_SETTING = 'time_zone';

/** Whether `zone` is an IANA time zone this Node knows ('Asia/Shanghai', 'UTC'). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  // Asked on every page (the reader's zone): a formatter costs ICU tens of µs to make, so each
  // answer is kept (bounded: a zone is an account setting, checked before it is saved).
  let known = zoneChecks.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    if (zoneChecks.size >= 1000) zoneChecks.clear();
    zoneChecks.set(zone, known);
  }
  return known;
}
const zoneChecks = new Map<string, boolean>();

/** The zone this process runs in (TZ), the default until an administrator sets one. */
export function serverTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  return madeOnce(formatters, zone, () => new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }));
}

interface Local { y: number; m: number; d: number; hh: number; mm: number; ss: number }

/** The wall-clock date and time in `zone` at instant `t` (ms). */
function localAt(t: number, zone: string): Local {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, m: parts.month!, d: parts.day!, hh: parts.hour!, mm: parts.minute!, ss: parts.second! };
}

/** How far ahead of UTC `zone`'s clocks are at instant `t`, in ms. */
function offsetAt(t: number, zone: string): number {
  const l = localAt(t, zone);
  return Date.UTC(l.y, l.m - 1, l.d, l.hh, l.mm, l.ss) - Math.floor(t / 1000) * 1000;
}

/**
 * The first instant of the local calendar day y-m-d in `zone`. Where daylight saving skips
 * midnight (the clocks jump from 23:59 to 01:00), the day starts when it first shows.
 */
export function startOfLocalDay(y: number, m: number, d: number, zone: string): number {
  const wall = Date.UTC(y, m - 1, d);
  let t = wall - offsetAt(wall, zone);
  t = wall - offsetAt(t, zone);
  const key = (l: Local) => Date.UTC(l.y, l.m - 1, l.d);
  // The guess may sit in the day before (a skipped midnight) or after: search the hours around it.
  if (key(localAt(t, zone)) !== wall || key(localAt(t - 1, zone)) === wall) {
    let lo = t - 36 * 3600_000;
    let hi = t + 36 * 3600_000;
    while (hi - lo > 1000) {
      const mid = Math.floor((lo + hi) / 2000) * 1000;
      if (key(localAt(mid, zone)) >= wall) hi = mid;
      else lo = mid;
    }
    t = hi;
  }
  return t;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The ISO week (Monday first) that local date y-m-d is in: its year, number and Monday. */
function isoWeek(y: number, m: number, d: number): { year: number; week: number; monday: [number, number, number] } {
  const day = new Date(Date.UTC(y, m - 1, d));
  const weekday = (day.getUTCDay() + 6) % 7; // Monday 0
  const monday = new Date(day.getTime() - weekday * 86400_000);
  const thursday = new Date(monday.getTime() + 3 * 86400_000);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * 86400_000));
  return { year, week, monday: [monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate()] };
}

/** The period of `kind` that instant `now` falls in, in `zone`. */
export function periodOf(kind: PeriodKind, zone: string, now: Date): Period {
  const l = localAt(now.getTime(), zone);
  const iso = (t: number) => new Date(t).toISOString();
  if (kind === 'day') {
    const next = new Date(Date.UTC(l.y, l.m - 1, l.d + 1));
    return {
      kind, label: `${l.y}-${pad(l.m)}-${pad(l.d)}`, startsAt: iso(startOfLocalDay(l.y, l.m, l.d, zone)),
      endsAt: iso(startOfLocalDay(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), zone)),
    };
  }
  if (kind === 'month') {
    const next = l.m === 12 ? [l.y + 1, 1] : [l.y, l.m + 1];
    return { kind, label: `${l.y}-${pad(l.m)}`, startsAt: iso(startOfLocalDay(l.y, l.m, 1, zone)), endsAt: iso(startOfLocalDay(next[0]!, next[1]!, 1, zone)) };
  }
  const w = isoWeek(l.y, l.m, l.d);
  const [my, mm, md] = w.monday;
  const nextMonday = new Date(Date.UTC(my, mm - 1, md + 7));
  return {
    kind, label: `${w.year}-W${pad(w.week)}`, startsAt: iso(startOfLocalDay(my, mm, md, zone)),
    endsAt: iso(startOfLocalDay(nextMonday.getUTCFullYear(), nextMonday.getUTCMonth() + 1, nextMonday.getUTCDate(), zone)),
  };
}

/** The part of the period still to come at `now`, from 0 to 1 (a member joining mid-period, pro rata). */
export function partLeft(period: Period, now: Date): number {
  const start = Date.parse(period.startsAt);
  const end = Date.parse(period.endsAt);
  return Math.min(1, Math.max(0, (end - now.getTime()) / (end - start)));
}

/**
 * The organisation's time zone: the one an administrator set, else this server's, written down the
 * first time it is asked for, so that every process counts periods in the same zone whatever its TZ.
 * A write operation.
 */
export function* organisationZone(): Op<string> {
  yield* query('system.claimSetting', { key: TIME_ZONE_SETTING, value: serverTimeZone() });
  const zone = (yield* query('system.setting', { key: TIME_ZONE_SETTING })) ?? 'UTC';
  return isTimeZone(zone) ? zone : 'UTC';
}

/** Counts this process's changes of the organisation's zone: a page's cached reading of it (http/clock.ts) is dropped at the next. */
export const zoneChanges = { count: 0 };

/** The zone as read (no write): the one set, else this server's. */
export function* zoneSetting(): Op<string> {
  const zone = yield* query('system.setting', { key: TIME_ZONE_SETTING });
  return zone !== undefined && isTimeZone(zone) ? zone : serverTimeZone();
}
