// The one error type handlers throw; the error handler in app.ts turns it into a page or JSON.
import type { MessageKey } from '../i18n';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** A message key shown to the user; defaults to the generic text for the status. */
    readonly messageKey?: MessageKey,
    readonly headers: Record<string, string> = {},
  ) {
    super(messageKey ?? `HTTP ${status}`);
  }
}
