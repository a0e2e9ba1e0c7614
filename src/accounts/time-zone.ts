// The time zone a reader's pages show times in (http/clock.ts): one of the zones this Node knows,
// or none (null), which leaves it to the browser with JavaScript and the organisation's zone without.
import { isTimeZone } from '../ledger/periods';
import { query, type Op } from '../storage/op';

/** Zones offered on the account page: every IANA zone this Node knows. */
export const TIME_ZONES: readonly string[] = ((zones) => (zones.includes('UTC') ? zones : ['UTC', ...zones]))(Intl.supportedValuesOf('timeZone'));

/** Sets the user's zone; false (and nothing changed) when it is not a zone. */
export function* setTimeZone(userId: number, zone: string | null): Op<boolean> {
  if (zone !== null && !isTimeZone(zone)) return false;
  yield* query('accounts.setTimeZone', { id: userId, zone });
  return true;
}
