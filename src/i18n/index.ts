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
  // Each message is split into its text and its places once, when first asked for with variables:
  // filling it in is then a loop, not two regular-expression replaces (pages and turns fill in
  // dozens of messages each).
  const compiled = new Map<string, Part[]>();
  return (key, vars) => {
    const text = messages[key] ?? en[key] ?? key;
    if (!vars) return text;
    let out = '';
    for (const part of madeOnce(compiled, key, () => partsOf(text))) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const value = vars[part.name];
      if (part.forms === undefined) {
        out += value ?? part.raw;
        continue;
      }
      const count = Number(String(value ?? '').replace(/[^\d.-]/g, ''));
      out += value === undefined || Number.isNaN(count) ? part.raw : plural.select(count) === 'one' ? part.forms[0] : part.forms[1];
    }
    return out;
  };
}

/** A message's text, a variable (`{name}`), or a word that follows a count (`{name|one|other}`); `raw` is kept when the variable is not given. */
type Part = string | { name: string; raw: string; forms?: [string, string] };

function partsOf(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (const m of text.matchAll(/\{(\w+)\|([^|}]*)\|([^}]*)\}|\{(\w+)\}/g)) {
    if (m.index > at) parts.push(text.slice(at, m.index));
    parts.push(m[4] !== undefined ? { name: m[4], raw: m[0] } : { name: m[1]!, raw: m[0], forms: [m[2]!, m[3]!] });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

const numberFormats = new Map<string, Intl.NumberFormat>();

/**
 * `n` as the locale writes it ("1,234"), by one Intl.NumberFormat per locale made once: making one
 * costs tens of microseconds, and toLocaleString(locale) makes or looks one up on every call.
 */
export function formatNumber(n: number, locale: string): string {
  return madeOnce(numberFormats, locale, () => new Intl.NumberFormat(locale)).format(n);
}
