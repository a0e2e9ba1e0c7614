// Pages following an answer being written (routes/turns.ts, GET /c/:id/m/:message/live). One feed
// per answer (and per language of its Copy button), however many pages follow it: the answer so
// far is rendered once per feed and the same frames go to every follower, so followers cost a
// write each, not a render each. A feed reads the answer from this process's turn (LiveAnswers),
// or, when another process writes it, from the database once a second, the next read only after
// the last one returned.
import type { Logger } from '../log';
import type { Message } from '../chat/conversations';
import { messageSoFar } from '../chat/cost-so-far';
import type { LiveAnswers } from '../chat/live-answers';
import type { Store } from '../storage/op';
import { AnswerWriter, type CostWords } from './answer-writer';
import type { EventStream } from './sse';

/** How often an answer written by another process is read again while pages follow it. */
const READ_EVERY_MS = 1000;

export interface Follower {
  stream: EventStream;
  /** The answer ended (the message as stored, when it can be read): the follower sends it and ends. */
  ended: (message: Message | undefined) => void;
}

class Feed {
  readonly followers = new Set<Follower>();
  /** The answer so far, and its frames for every follower. */
  private readonly writer: AnswerWriter;
  private timer?: NodeJS.Timeout;
  private unwatch?: () => void;
  private over = false;

  constructor(
    private readonly messageId: number,
    private readonly conversationId: number,
    private readonly copyLabel: string,
    /** The running cost in the followers' language (a feed is per language); shown when the answer is written here. */
    private readonly costWords: CostWords | undefined,
    private readonly deps: { live: LiveAnswers; store: Store; logger: Logger },
    private readonly closed: () => void,
  ) {
    const followers = this.followers;
    // Every follower gets the same frames.
    const fanOut = {
      get open() {
        return followers.size > 0;
      },
      html(html: string) {
        for (const f of followers) f.stream.html(html);
      },
    };
    this.writer = new AnswerWriter(fanOut, messageId, copyLabel);
  }

  /** Starts from the stored text: this process's turn if it writes the answer, else the database. */
  start(stored: string): void {
    const watched = this.deps.live.watch(this.messageId, (event) => {
      if (event.type === 'delta') this.writer.piece(event.text, event.tokens);
      else if (event.type === 'end') this.end(event.message);
      else this.fromDatabase(); // the turn failed before its end: what became of it is in the database
    });
    this.writer.started(watched ? watched.text : stored); // each follower is sent it when it joins
    if (watched && this.costWords) this.writer.metered(watched.meter, this.costWords, watched.tokens);
    if (watched) this.unwatch = watched.stop;
    else this.fromDatabase();
  }

  /** A new follower: the answer so far, rendered for it, and its cost so far. */
  join(follower: Follower): void {
    this.followers.add(follower);
    this.writer.joined((frame) => follower.stream.html(frame));
  }

  leave(follower: Follower): void {
    this.followers.delete(follower);
    if (this.followers.size === 0) this.stop();
  }

  private fromDatabase(): void {
    this.unwatch?.();
    this.unwatch = undefined;
    const read = () => {
      this.timer = setTimeout(() => {
        this.deps.store.read(messageSoFar, this.conversationId, this.messageId).then((found) => {
          if (this.over) return;
          const m = found?.message;
          if (!m || m.status !== 'streaming') return this.end(m);
          // The cost so far as the turn's process last recorded it, sent with the next render.
          if (found.soFar && this.costWords) this.writer.metered(found.soFar.meter, this.costWords, found.soFar.tokens);
          if (m.content !== this.writer.text) this.writer.reset(m.content);
          read();
        }, (err: unknown) => {
          this.deps.logger.warn({ err, messageId: this.messageId }, 'following an answer failed');
          this.end(undefined);
        });
      }, READ_EVERY_MS);
    };
    read();
  }

  private end(message: Message | undefined): void {
    const followers = [...this.followers];
    this.stop();
    for (const f of followers) f.ended(message);
  }

  private stop(): void {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.timer);
    this.writer.cancel();
    this.unwatch?.();
    this.followers.clear();
    this.closed();
  }
}

export class AnswerFeeds {
  private readonly feeds = new Map<string, Feed>();

  constructor(private readonly deps: { live: LiveAnswers; store: Store; logger: Logger }) {}

  /** Follows a streaming message (as read: its text so far, when another process writes it); returns what to call when the follower leaves. */
  follow(message: Message, copyLabel: string, follower: Follower, costWords?: CostWords): () => void {
    const key = `${message.id}\0${copyLabel}`;
    let feed = this.feeds.get(key);
    if (!feed) {
      const made = new Feed(message.id, message.conversationId, copyLabel, costWords, this.deps, () => {
        if (this.feeds.get(key) === made) this.feeds.delete(key);
      });
      this.feeds.set(key, made);
      made.start(message.content);
      feed = made;
    }
    feed.join(follower);
    const joined = feed;
    return () => joined.leave(follower);
  }

  /** Pages following this answer now (for the limit per answer). */
  followers(messageId: number): number {
    let n = 0;
    for (const [key, feed] of this.feeds) if (key.startsWith(`${messageId}\0`)) n += feed.followers.size;
    return n;
  }
}
