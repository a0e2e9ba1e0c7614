// How /v1 answers a turn an organisation's limit refused (ledger/org-limits.ts), in OpenAI's error
// format: tokens per day / month used up is 402 with x-should-retry: false (asking again before the
// period ends cannot help, and the SDKs retry 429); requests per minute / hour and answers at once
// are 429 with Retry-After, when the rule lets one more through.
import type { OrgRefusal } from '../ledger/org-limits';
import { ApiError } from './request';

const RULE_TEXT: Record<OrgRefusal['rule'], string> = {
  tokens_per_day: 'tokens per day',
  tokens_per_month: 'tokens per month',
  requests_per_minute: 'requests per minute',
  requests_per_hour: 'requests per hour',
  answers_at_once: 'answers running at once',
};

/** Whole seconds until `liftsAt` (at least 1; 1 when not known). */
export function secondsUntil(liftsAt: string | null, now = Date.now()): number {
  return liftsAt === null ? 1 : Math.max(1, Math.ceil((Date.parse(liftsAt) - now) / 1000));
}

export function orgLimitError(r: OrgRefusal): ApiError {
  const source = r.group === null ? 'set for you by the administrator' : `of the group "${r.group}"`;
  const rule = `The limit of ${r.limit} ${RULE_TEXT[r.rule]} ${source}`;
  const code = `${r.rule}_limit_reached`;
  if (r.rule === 'tokens_per_day' || r.rule === 'tokens_per_month') {
    const message = `${rule} leaves too few tokens for this request (${r.used} used); it lifts at ${r.liftsAt}.`;
    return new ApiError(402, message, 'insufficient_quota', code, null, { 'x-should-retry': 'false' });
  }
  const wait = secondsUntil(r.liftsAt);
  const message = r.rule === 'answers_at_once'
    ? `${rule} is reached (${r.used} running); wait for one to finish.`
    : `${rule} is reached (${r.used} counted); try again in ${wait} s.`;
  return new ApiError(429, message, 'rate_limit_error', code, null, { 'Retry-After': String(wait) });
}
