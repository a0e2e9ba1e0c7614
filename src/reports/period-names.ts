// How periods and refill dates read on a page, in the reader's language: a refill's period label
// ('2026-12', '2026-W49', '2026-12-06') as "December 2026", and when a bucket refills, as a date in
// the organisation's time zone and a count of days.
import { madeOnce } from '../made-once';

const monthFormats = new Map<string, Intl.DateTimeFormat>();
const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** A period label as words: a month or a day by the calendar of `locale`; a week stays ISO ('2026-W49'). */
export function periodName(label: string, locale: string): string {
  const month = /^(\d{4})-(\d{2})$/.exec(label);
  if (month) {
    const f = madeOnce(monthFormats, locale, () => new Intl.DateTimeFormat(locale, { timeZone: 'UTC', year: 'numeric', month: 'long' }));
    return f.format(new Date(Date.UTC(Number(month[1]), Number(month[2]) - 1, 1)));
  }
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(label);
  if (day) {
    const f = madeOnce(dayFormats, locale, () => new Intl.DateTimeFormat(locale, { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric' }));
    return f.format(new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]))));
  }
  return label;
}

const refillFormats = new Map<string, Intl.DateTimeFormat>();

/** When a bucket refills (an ISO instant) as the date it is in `zone`, and the whole days until then from `now`. */
export function refillDate(at: string, zone: string, locale: string, now = new Date()): { date: string; days: number } {
  const f = madeOnce(refillFormats, `${zone} ${locale}`, () => new Intl.DateTimeFormat(locale, { timeZone: zone, month: 'short', day: 'numeric' }));
  return { date: f.format(new Date(at)), days: Math.max(0, Math.ceil((Date.parse(at) - now.getTime()) / 86_400_000)) };
}
