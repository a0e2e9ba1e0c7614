// What the middleware puts in res.locals for handlers and templates, typed, so a handler's
// res.locals.t(...) is checked like any call (Express types res.locals as any by default).
import type { User } from '../accounts/users';
import type { Locale, Translate } from '../i18n';
import type { Clock, TimeStyle } from './clock';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** performance.now() when the request came in, for a rendered page's Server-Timing (app.ts). */
      startedAt: number;
      /** The CSP nonce of the page's script tags (security.ts). */
      nonce: string;
      /** The page's language and its messages, the path and where a form sends back to (app.ts). */
      locale: Locale;
      t: Translate;
      path: string;
      returnTo: string;
      /** The count margin of a model counted by another tokenizer than tiktoken's (app.ts). */
      marginOf: (model: string | null) => number;
      /** A model's name for the transcript; its id when the models file no longer lists it (app.ts). */
      modelName: (model: string) => string;
      /** The signed-in user (sessions.ts) and their balance, for the header's badge (app.ts). */
      user?: User;
      balance?: number;
      /** The badge's text: the balance, or both buckets for someone with an allowance (balance-badge.ts). */
      balanceText?: string;
      /** The session was ended because it may not go on (sessions.ts). */
      sessionEnded?: boolean;
      /** A CSRF token for the page's forms, made when a form first asks (security.ts). */
      csrfToken: () => string;
      /** The nonce of a valid device cookie for the username signing in (throttle.ts). */
      signInDevice?: string;
      /** The reader's time zone, and an instant as a <time> element in it (clock.ts). */
      clock: Clock;
      time: (iso: string, style?: TimeStyle, className?: string) => string;
      /** Tokens can be bought here (a payment method with a package): a refusal for too few tokens says so (routes/turns.ts). */
      canBuy?: boolean;
      /** The organisation's sign-in buttons and whether password sign-in is on for everyone (routes/oidc.ts). */
      signInOptions?: { providers: { id: string; label: string }[]; password: boolean };
    }
  }
}
