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

/** A question and its finished answer, sent at the conversation's current leaf. */
async function turn(conversationId: number, question: string, answer: string): Promise<void> {
  const read = (await temp.database.read(historyFor, conversationId, 'send', question))!;
  const stored = (await temp.database.write(addTurn, conversationId, 'send', question, 'demo', null, read.basis))!;
  await temp.database.write(finishMessage, stored.assistant.id, { content: answer, status: 'done' });
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

  // Undisturbed, a read one statement at a time is stored.
  const calm = (await readSteppedBy(historyFor(conversation.id, 'send', 'Q2'), async () => {}))!;
  expect(calm.history.map((m) => m.content)).toEqual(['Q1', 'A1', 'Q2']);
  const first = (await temp.database.write(addTurn, conversation.id, 'send', 'Q2', 'demo', null, calm.basis))!;
  await temp.database.write(finishMessage, first.assistant.id, { content: 'A2', status: 'done' });

  // This tab reads Q1..A2; another tab's Q3/A3 is stored between the read's statements.
  const read = (await readSteppedBy(historyFor(conversation.id, 'send', 'Q4'), () => turn(conversation.id, 'Q3', 'A3')))!;
  expect(read.history.map((m) => m.content)).toEqual(['Q1', 'A1', 'Q2', 'A2', 'Q4']);
  expect(await temp.database.write(addTurn, conversation.id, 'send', 'Q4', 'demo', null, read.basis)).toBeUndefined();
  expect(await contentsOf(conversation.id)).toEqual(['Q1', 'A1', 'Q2', 'A2', 'Q3', 'A3']);
});
