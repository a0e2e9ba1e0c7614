// The time zone a reader's pages show times in (http/clock.ts): one of the zones this Node knows,
// or none (null), which leaves it to the browser with JavaScript and the organisation's zone without.
import { isTimeZone } from '../ledger/periods';
import { query, type Op } from '../storage/op';

/**
 * Names ICU lists under an older spelling (Asia/Calcutta, Europe/Kiev, Asia/Saigon...) that
 * people look for by today's: offered beside them when this Node knows them.
 */
const CURRENT_NAMES = ['UTC', 'Asia/Kolkata', 'Asia/Ho_Chi_Minh', 'Asia/Kathmandu', 'Asia/Yangon', 'Europe/Kyiv', 'America/Nuuk', 'Atlantic/Faroe', 'Pacific/Chuuk', 'Pacific/Pohnpei'];

/** Zones offered on the account page: every IANA zone this Node knows, UTC first. */
export const TIME_ZONES: readonly string[] = ((listed) => {
  const extra = CURRENT_NAMES.filter((zone) => !listed.includes(zone) && isTimeZone(zone));
  return ['UTC', ...[...listed, ...extra.filter((zone) => zone !== 'UTC')].sort()];
})(Intl.supportedValuesOf('timeZone').filter((zone) => zone !== 'UTC'));

/** Sets the user's zone; false (and nothing changed) when it is not a zone. */
export function* setTimeZone(userId: number, zone: string | null): Op<boolean> {
  if (zone !== null && !isTimeZone(zone)) return false;
  yield* query('accounts.setTimeZone', { id: userId, zone });
  return true;
}
