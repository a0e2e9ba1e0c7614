// The header's balance badge, on every page and after every answer: one number for someone with
// only their own tokens, both buckets for someone whose groups give an allowance (issue 24).
import type { Wallet } from '../ledger/buckets';
import { formatNumber, type Translate } from '../i18n';

export function balanceBadge(t: Translate, locale: string, wallet: Wallet): string {
  const n = (x: number) => formatNumber(x, locale);
  if (wallet.buckets.length === 0) return t('nav.balance', { n: n(wallet.own) });
  return t('nav.balance_split', { allowance: n(wallet.allowance), own: n(wallet.own) });
}
