// What a running model call (a chat turn, a /v1 call) shares: its own abort signal under the
// read-on rule, and the record of the tokens it has delivered, kept for crash recovery.
import { recordDelivered } from '../ledger/ledger';
import { keepStreamed } from './conversations';
import type { Logger } from '../log';
import type { Store } from '../storage/op';

/** How long a stopped answer of a model that bills hidden tokens is read on for the provider's usage. */
export const HIDDEN_USAGE_WAIT_MS = 30_000;
/** How often a running answer records the tokens delivered so far (for recovery after a crash). */
export const DELIVERED_EVERY_MS = 1000;

/**
 * The model call's own signal. `stop` (Stop pressed, a client gone) ends the call at once, except
 * for a model that bills hidden (reasoning) tokens: it is read on, unseen, until the provider's
 * usage arrives or HIDDEN_USAGE_WAIT_MS passes, so the turn is charged what the operator is
 * billed (`onReadOn` hears that it is). `cut()` ends it at once; `dispose()` when done.
 */
export function modelCallSignal(stop: AbortSignal, hiddenTokens: boolean, onReadOn: () => void = () => {}) {
  const controller = new AbortController();
  let waiting: NodeJS.Timeout | undefined;
  const onStop = () => {
    if (!hiddenTokens) return controller.abort();
    waiting = setTimeout(() => controller.abort(), HIDDEN_USAGE_WAIT_MS);
    onReadOn();
  };
  stop.addEventListener('abort', onStop, { once: true });
  return {
    signal: controller.signal,
    cut: () => controller.abort(),
    dispose: () => {
      clearTimeout(waiting);
      stop.removeEventListener('abort', onStop);
    },
  };
}

/**
 * Records a hold's delivered tokens: the first at once, then once every DELIVERED_EVERY_MS. Not
 * awaited: the stream goes on while it is written; a failure is only logged.
 */
export function deliveredRecorder(store: Store, holdId: number, logger: Logger): (tokens: () => number) => void {
  return everySecond((tokens: () => number) => recordDelivered(store, holdId, tokens()), (err) => logger.error({ err, holdId }, 'recording the tokens delivered failed'));
}

/**
 * Keeps a streaming answer's text so far on its message, at most once every DELIVERED_EVERY_MS:
 * a page opened on the conversation meanwhile (another tab, a reload, coming back) shows it. The
 * text is asked for (`text()`) only when it is written: joining the whole answer on every piece
 * made a long answer's pieces cost more and more.
 */
export function streamedRecorder(store: Store, messageId: number, logger: Logger): (text: () => string) => void {
  return everySecond((text: () => string) => store.write(keepStreamed, messageId, text()), (err) => logger.error({ err, messageId }, 'keeping the text streamed so far failed'));
}

/** `write` at once, then at most once every DELIVERED_EVERY_MS; not awaited, a failure only reported. */
function everySecond<T>(write: (value: T) => Promise<unknown>, failed: (err: unknown) => void): (value: T) => void {
  let lastWrite = 0;
  return (value) => {
    if (Date.now() - lastWrite < DELIVERED_EVERY_MS) return;
    void write(value).catch(failed);
    lastWrite = Date.now();
  };
}
