// Answers being written in this process, for a page that comes back to one (another tab, a
// reload, back from another conversation): it is given the text so far, then each piece as it
// comes, then the finished message. One per app; an answer written by another process is
// followed from the database instead (routes/turns.ts).
import type { Message } from './conversations';
import type { ModelInfo } from '../metering/models';
import type { TurnEvent } from './turn';

/** `gone`: the turn ended without its end (it failed); what became of the answer is in the database. */
export type LiveEvent = { type: 'delta'; text: string; tokens: () => number } | { type: 'end'; message: Message } | { type: 'gone' };
type Listener = (event: LiveEvent) => void;

/** What the answer so far costs is worked out from (the turn's model at the user's price, the prompt as held). */
export interface LiveMeter {
  model: ModelInfo;
  promptTokens: number;
}

interface Answer {
  text: string;
  /** Its completion tokens so far, counted when asked. */
  tokens: () => number;
  meter: LiveMeter;
  listeners: Set<Listener>;
}

export class LiveAnswers {
  private readonly answers = new Map<number, Answer>();

  /** A turn's events go through `emit`, from its start to its end; `close` once the turn is over, however it ended. */
  publisher(): { emit: (event: TurnEvent) => void; close: () => void } {
    let id: number | undefined;
    const close = () => {
      const answer = id === undefined ? undefined : this.answers.get(id);
      if (!answer) return;
      this.answers.delete(id!);
      for (const listener of answer.listeners) listener({ type: 'gone' });
    };
    const emit = (event: TurnEvent) => {
      if (event.type === 'start') {
        id = event.assistant.id;
        this.answers.set(id, { text: '', tokens: () => 0, meter: { model: event.model, promptTokens: event.promptTokens }, listeners: new Set() });
      } else if (id !== undefined && event.type === 'delta') {
        const answer = this.answers.get(id)!;
        answer.text += event.text;
        answer.tokens = event.tokens;
        for (const listener of answer.listeners) listener(event);
      } else if (id !== undefined && event.type === 'end') {
        const answer = this.answers.get(id)!;
        this.answers.delete(id);
        for (const listener of answer.listeners) listener({ type: 'end', message: event.message });
      }
    };
    return { emit, close };
  }

  /** An answer being written here: its text and tokens so far, and `listener` for what comes; undefined if it is not. */
  watch(messageId: number, listener: Listener): { text: string; tokens: number; meter: LiveMeter; stop: () => void } | undefined {
    const answer = this.answers.get(messageId);
    if (!answer) return undefined;
    answer.listeners.add(listener);
    return { text: answer.text, tokens: answer.tokens(), meter: answer.meter, stop: () => answer.listeners.delete(listener) };
  }
}
