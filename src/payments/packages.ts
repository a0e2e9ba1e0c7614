// The packages users may buy (PACKAGES_FILE): tokens for a price in one currency. The price is
// decided here from the package id, never from a request; it is kept in the currency's smallest
// unit (cents, fen), as Stripe takes it.
import { z } from 'zod';
import { readSettingsFile } from '../settings-file';

export interface Package {
  id: string;
  /** Its name in each language the page speaks (en, zh-CN); `en` always. */
  name: Readonly<Record<string, string>>;
  tokens: number;
  /** The price in the currency's smallest unit. */
  amount: number;
  /** ISO 4217, lower case, as Stripe writes it. */
  currency: string;
  active: boolean;
}

/** Currencies Stripe counts in whole units (no cents); every other one here has two decimals (TWD too, in the API). */
const ZERO_DECIMAL = new Set(['jpy', 'krw', 'vnd']);
const CURRENCIES = new Set(['usd', 'cny', 'eur', 'gbp', 'hkd', 'sgd', 'aud', 'cad', 'chf', 'twd', ...ZERO_DECIMAL]);

export const decimalsOf = (currency: string) => (ZERO_DECIMAL.has(currency) ? 0 : 2);

const name = z.union([z.string().min(1).max(80), z.object({ en: z.string().min(1).max(80), 'zh-CN': z.string().min(1).max(80).optional() }).strict()]);
const schema = z.object({
  version: z.literal(1).default(1),
  packages: z.array(
    z.object({
      id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be 1-40 lower-case letters, digits, _ and -'),
      name,
      tokens: z.number().int().min(1).max(1_000_000_000_000),
      // A decimal text or number: "10", "1.50".
      price: z.union([z.string(), z.number()]).transform(String).refine((v) => /^\d{1,7}(\.\d{1,2})?$/.test(v), 'must be a price such as 10 or 1.50'),
      currency: z.string().transform((c) => c.toLowerCase()).refine((c) => CURRENCIES.has(c), `must be one of ${[...CURRENCIES].join(', ')}`),
      active: z.boolean().default(true),
    }).strict(),
  ).min(1, 'must list at least one package'),
});

export class PackagesFileError extends Error {}

export interface Catalogue {
  packages: ReadonlyArray<Package>;
  /** An active package by id; a retired one cannot be bought, though its orders stay. */
  buyable(id: string): Package | undefined;
}

export function loadPackages(file: string): Catalogue {
  const data = readSettingsFile('PACKAGES_FILE', file, schema, (message) => new PackagesFileError(message));
  const packages = data.packages.map((p, i): Package => {
    if (data.packages.findIndex((q) => q.id === p.id) !== i) throw new PackagesFileError(`PACKAGES_FILE ${file}: packages.${i}.id "${p.id}" is listed twice`);
    const [whole, cents = ''] = p.price.split('.');
    const decimals = decimalsOf(p.currency);
    if (cents.length > decimals) throw new PackagesFileError(`PACKAGES_FILE ${file}: packages.${i}.price ${p.price} has more decimals than ${p.currency} takes (${decimals})`);
    const amount = Number(whole) * 10 ** decimals + Number(cents.padEnd(decimals, '0') || '0');
    if (amount < 1) throw new PackagesFileError(`PACKAGES_FILE ${file}: packages.${i}.price must be more than 0`);
    const names = typeof p.name === 'string' ? { en: p.name } : p.name;
    return Object.freeze({ id: p.id, name: Object.freeze({ ...names }), tokens: p.tokens, amount, currency: p.currency, active: p.active });
  });
  const byId = new Map(packages.map((p) => [p.id, p]));
  return Object.freeze({ packages, buyable: (id: string) => (byId.get(id)?.active ? byId.get(id) : undefined) });
}

/** A package's name in a language, or its English one. */
export const nameIn = (names: Readonly<Record<string, string>>, locale: string) => names[locale] ?? names.en!;

/** A price for people: "¥10.00", "$1.50", in the page's language. */
export function formatPrice(amount: number, currency: string, locale: string): string {
  const decimals = decimalsOf(currency);
  return new Intl.NumberFormat(locale, { style: 'currency', currency: currency.toUpperCase(), minimumFractionDigits: decimals, maximumFractionDigits: decimals }).format(amount / 10 ** decimals);
}
