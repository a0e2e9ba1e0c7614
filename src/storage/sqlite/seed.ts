// Bulk fixtures for the benchmarks: closed turns written straight into the tables in one
// transaction (200,000 through the ledger would take minutes). SQLite only; never used by the app.
import type { SqliteStore } from './store';

/** `turns` settled turns of `users` users over `days` days, a quarter by the first user; returns that user's id. */
export function seedClosedTurns(store: SqliteStore, shape: { turns: number; users: number; days: number; models: string[] }): number {
  const { raw } = store;
  const { turns: TURNS, users: USERS, days: DAYS, models: MODELS } = shape;
  const addUser = raw.prepare(`INSERT INTO users (username, username_key, password_hash) VALUES (?, ?, '$argon2id$x') RETURNING id`).pluck();
  const users = Array.from({ length: USERS }, (_, i) => addUser.get(`report${i}`, `report${i}`) as number);
  const addTurn = raw.prepare(
    `INSERT INTO holds (user_id, turn_key, model, amount, prompt_tokens, max_completion, prompt_rate, completion_rate, state, charge,
       created_at, closed_at, used_prompt_tokens, completion_tokens, source, outcome, conversation_id)
     VALUES (?, ?, ?, 2000, 300, 1000, 1000000, 4000000, 'settled', ?, ?, ?, 300, ?, 'reported', 'ok', ?)`,
  );
  let seed = 2026;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  raw.transaction(() => {
    for (let i = 0; i < TURNS; i++) {
      const user = rand() < 0.25 ? users[0]! : users[Math.floor(rand() * USERS)]!;
      const at = new Date(Date.now() - Math.floor(rand() * DAYS * 86_400_000)).toISOString();
      const completion = Math.floor(rand() * 800);
      addTurn.run(user, `t${i}`, MODELS[Math.floor(rand() * MODELS.length)], 300 + 4 * completion, at, at, completion, Math.floor(rand() * 50));
    }
  })();
  return users[0]!;
}
