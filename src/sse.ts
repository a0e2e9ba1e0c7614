// A text/event-stream answer for htmx's hx-sse extension: each unnamed message is HTML that htmx
// swaps (its <hx-partial> elements into their own targets); a named event is dispatched as a DOM
// event. Headers go out at once and nothing buffers or compresses the stream.
import type { Response } from 'express';

export class EventStream {
  constructor(private readonly res: Response) {
    res.status(200);
    res.set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no', // nginx: do not buffer this response
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** HTML for htmx to swap; each line of it a `data:` line. */
  html(html: string): void {
    if (this.open) this.res.write(`data: ${html.replace(/\r?\n/g, '\ndata: ')}\n\n`);
  }

  event(name: string, data = ''): void {
    if (this.open) this.res.write(`event: ${name}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (this.open) this.res.end();
  }
}

/** An <hx-partial> swapping `html` into the element `target` with `swap`. Only server HTML goes in. */
export function partial(target: string, swap: string, html: string): string {
  return `<hx-partial hx-target="${target}" hx-swap="${swap}">${html}</hx-partial>`;
}
