// /v1/responses keeps a bounded conversation: each kept response holds its whole history, and an
// image costs the same tokens whatever its size, so a chain of cheap continuations carrying large
// images must not fill the disk. Past eight request bodies a response is answered but not kept.
import OpenAI from 'openai';
import { grant } from '../src/ledger/ledger';
import { startResponsesSetup, stopResponsesSetup, userWithKey, type Setup } from './responses-helpers';

let s: Setup;
beforeAll(async () => {
  s = await startResponsesSetup({ BODY_LIMIT: '64kb' });
});
afterAll(() => stopResponsesSetup(s));

test('a continuation whose conversation outgrows eight request bodies is answered with store: false, and nothing of it is kept', async () => {
  const { user, key } = await userWithKey(s.srv);
  await grant(s.srv.database, user.id, 100_000);
  const client = new OpenAI({ apiKey: key, baseURL: `${s.srv.url}/v1`, maxRetries: 0 });
  const image = `data:image/png;base64,${'A'.repeat(60_000)}`; // priced as any low-detail image
  let previous: string | undefined;
  const kept: boolean[] = [];
  for (let i = 0; i < 10; i++) {
    s.chat.script({ kind: 'stream', pieces: ['Seen.'], usage: false });
    const r = await client.responses.create({
      model: 'chatty', ...(previous && { previous_response_id: previous }),
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Look.' }, { type: 'input_image', image_url: image, detail: 'low' }] }],
    });
    const store = (r as unknown as { store: boolean }).store;
    kept.push(store);
    if (!store) {
      await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      break;
    }
    previous = r.id;
  }
  expect(kept.slice(0, 8).every(Boolean)).toBe(true);
  expect(kept.at(-1)).toBe(false);
  const largest = await s.srv.sql.value<number>('SELECT max(length(history) + length(response)) FROM api_responses WHERE user_id = ?', user.id);
  expect(largest).toBeLessThanOrEqual(8 * 64 * 1024);
});
