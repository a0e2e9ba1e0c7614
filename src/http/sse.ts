// A text/event-stream answer for htmx's hx-sse extension: each unnamed message is HTML that htmx
// swaps (its <hx-partial> elements into their own targets); a named event is dispatched as a DOM
// event. Headers go out at once and nothing buffers or compresses the stream.
import type { Response } from 'express';

const PING_MS = 15_000;

/** An event stream's headers: nothing may cache, transform or buffer it (nginx reads X-Accel-Buffering). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
} as const;

export class EventStream {
  constructor(private readonly res: Response) {
    res.status(200);
    res.set(SSE_HEADERS);
    // The headers go out with the first event, which the caller writes at once (one write, not two).
    res.socket?.setNoDelay(true);
    // A comment line now and then keeps proxies (nginx's 60 s read timeout) from cutting a turn
    // that waits in the queue or on a slow model.
    this.ping = setInterval(() => this.open && this.res.write(': ping\n\n'), PING_MS).unref();
    res.once('close', () => clearInterval(this.ping));
  }

  private readonly ping: NodeJS.Timeout;

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /**
   * HTML for htmx to swap; each line of it a `data:` line. Lines split at CR, LF and CRLF, as
   * the event-stream parser does: a lone CR in model output must not start a field of its own.
   */
  html(html: string): void {
    if (this.open) this.res.write(`data: ${/[\r\n]/.test(html) ? html.split(/\r\n|\r|\n/).join('\ndata: ') : html}\n\n`);
  }

  /** A named event (dispatched as a DOM event); name and data are ours, one line each. */
  event(name: string, data = ''): void {
    if (this.open) this.res.write(`event: ${name.replace(/[\r\n]/g, '')}\ndata: ${data.replace(/[\r\n]/g, ' ')}\n\n`);
  }

  end(): void {
    clearInterval(this.ping);
    if (this.open) this.res.end();
  }
}

/** An <hx-partial> swapping `html` into the element `target` with `swap`. Only server HTML goes in. */
export function partial(target: string, swap: string, html: string): string {
  return `<hx-partial hx-target="${target}" hx-swap="${swap}">${html}</hx-partial>`;
}
