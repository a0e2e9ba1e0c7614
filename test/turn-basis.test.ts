// A turn's history and the leaf it is stored against are one state: a read's statements are not
// one snapshot (PostgreSQL, or another process on SQLite), so a turn stored by another tab between
// them must leave this turn refused ("changed"), never stored after an answer its model never saw.
import { addTurn, createConversation, finishMessage, historyFor } from '../src/chat/conversations';
import { query, type Op } from '../src/storage/op';
import { openAccount } from '../src/ledger/ledger';
import { openTempDatabase } from './helpers';

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
beforeAll(async () => {
  temp = await openTempDatabase();
});
afterAll(() => temp.close());

const SETTINGS = { systemPrompt: '', model: 'demo', temperature: null, maxTokens: null };

function* user(name: string): Op<number> {
  const row = yield* query('accounts.insert', { username: name, key: name, hash: '$argon2id$x', role: 'user' });
  yield* openAccount(row!.id, 1000);
  return row!.id;
}

/**
 * A turn at the conversation's leaf as runTurn makes it: its history read (one statement at a time,
 * `between` run before the second), then stored against that read's leaf and answered. What the
 * model would have been sent, and whether the turn was stored.
 */
async function turn(conversationId: number, question: string, answer: string, between = async () => {}) {
  const read = (await readSteppedBy(historyFor(conversationId, 'send', question), between))!;
  const stored = await temp.database.write(addTurn, conversationId, 'send', question, 'demo', null, read.basis);
  if (stored) await temp.database.write(finishMessage, stored.assistant.id, { content: answer, status: 'done' });
  return { sent: read.history.map((m) => m.content), stored: stored !== undefined };
}

/** Runs a read op one statement at a time, each its own read, calling `between` before the second statement. */
async function readSteppedBy<T>(op: Op<T>, between: () => Promise<void>): Promise<T> {
  let next = op.next();
  for (let i = 0; !next.done; i++) {
    if (i === 1) await between();
    const step = next.value;
    const value = await temp.database.read(function* () {
      return yield* query(step.name, step.params as never);
    });
    next = op.next(value);
  }
  return next.value;
}

const contentsOf = async (conversationId: number) =>
  (await temp.sql.all('SELECT content FROM messages WHERE conversation_id = ? ORDER BY id', conversationId)).map((r) => r.content);

test('a turn stored by another tab while this one reads its history leaves this one refused, not stored after an answer it never saw', async () => {
  const userId = await temp.database.write(user, 'basis');
  const conversation = await temp.database.write(createConversation, userId, 'race', SETTINGS);
  await turn(conversation.id, 'Q1', 'A1');

  // Undisturbed, a turn read one statement at a time is stored.
  expect(await turn(conversation.id, 'Q2', 'A2')).toEqual({ sent: ['Q1', 'A1', 'Q2'], stored: true });
  // This tab reads Q1..A2; another tab's Q3/A3 is stored between the read's statements.
  const raced = await turn(conversation.id, 'Q4', 'A4', async () => void (await turn(conversation.id, 'Q3', 'A3')));
  expect(raced).toEqual({ sent: ['Q1', 'A1', 'Q2', 'A2', 'Q4'], stored: false });
  expect(await contentsOf(conversation.id)).toEqual(['Q1', 'A1', 'Q2', 'A2', 'Q3', 'A3']);
});
