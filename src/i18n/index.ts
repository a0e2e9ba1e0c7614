// Message lookup for English and Simplified Chinese. The locale comes from the `lang` cookie
// when set, else from Accept-Language.
import type { Request } from 'express';
import { madeOnce } from '../made-once';
import { en } from './locales/en';
import { zhCN } from './locales/zh-CN';

export type MessageKey = keyof typeof en;
export const LOCALES = { en, 'zh-CN': zhCN } as const;
export type Locale = keyof typeof LOCALES;
export const LOCALE_COOKIE = 'lang';

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && Object.hasOwn(LOCALES, v);
}

export function pickLocale(req: Request): Locale {
  const cookie: unknown = req.cookies?.[LOCALE_COOKIE];
  if (isLocale(cookie)) return cookie;
  // Express's negotiation follows q-values; zh-Hans, zh-SG and bare zh all mean Simplified here.
  const best = req.acceptsLanguages('en', 'zh-CN', 'zh', 'zh-Hans', 'zh-SG');
  return typeof best === 'string' && best.startsWith('zh') ? 'zh-CN' : 'en';
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

/**
 * A message with its variables filled in. `{n|token|tokens}` is the word for the count in `n`
 * (formatted or not: "1,000"), by the language's plural rules; Chinese has one form and needs none.
 */
export function translator(locale: Locale): Translate {
  return (translators[locale] ??= made(locale));
}

/** One translator per locale, made once: every request asks for one, and Intl.PluralRules is slow to make. */
const translators: Partial<Record<Locale, Translate>> = {};

function made(locale: Locale): Translate {
  const messages = LOCALES[locale];
  const plural = new Intl.PluralRules(locale);
  return (key, vars) => {
    const text = messages[key] ?? en[key] ?? key;
    if (!vars) return text;
    return text
      .replace(/\{(\w+)\|([^|}]*)\|([^}]*)\}/g, (m, name: string, one: string, other: string) => {
        const count = Number(String(vars[name] ?? '').replace(/[^\d.-]/g, ''));
        return vars[name] === undefined || Number.isNaN(count) ? m : plural.select(count) === 'one' ? one : other;
      })
      .replace(/\{(\w+)\}/g, (m, name: string) => String(vars[name] ?? m));
  };
}

const numberFormats = new Map<string, Intl.NumberFormat>();

/**
 * `n` as the locale writes it ("1,234"), by one Intl.NumberFormat per locale made once: making one
 * costs tens of microseconds, and toLocaleString(locale) makes or looks one up on every call.
 */
export function formatNumber(n: number, locale: string): string {
  return madeOnce(numberFormats, locale, () => new Intl.NumberFormat(locale)).format(n);
}
