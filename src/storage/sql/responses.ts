// Texts of the queries of kept responses: the same on SQLite and PostgreSQL.
import { get, run, value, type Text } from '../op';
import type { ResponseQueries } from '../queries/responses';

export const responsesSql: { readonly [K in keyof ResponseQueries]: Text } = {
  'responses.save': run(`INSERT INTO api_responses (id, user_id, api_key_id, created_at, history, response)
    VALUES (@id, @userId, @keyId, @createdAt, @history, @response)`),
  'responses.load': get('SELECT history, response FROM api_responses WHERE id = @id AND api_key_id = @keyId'),
  'responses.output': value('SELECT response FROM api_responses WHERE id = @id AND api_key_id = @keyId'),
  'responses.delete': run('DELETE FROM api_responses WHERE id = @id AND api_key_id = @keyId'),
  'responses.prune': run('DELETE FROM api_responses WHERE created_at < @before'),
};
