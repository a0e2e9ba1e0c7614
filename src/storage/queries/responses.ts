// Queries of the responses /v1/responses keeps (api/response-store.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

export interface StoredResponseRow {
  history: string;
  response: string;
}

export interface ResponseQueries {
  'responses.save': Q<{ id: string; userId: number; keyId: number; createdAt: string; history: string; response: string }, Changes>;
  /** The response of this id made by this key (undefined: none, or another key's). */
  'responses.load': Q<{ id: string; keyId: number }, StoredResponseRow | undefined>;
  /** Only the response object (what an item reference reads), not the history. */
  'responses.output': Q<{ id: string; keyId: number }, string | undefined>;
  'responses.delete': Q<{ id: string; keyId: number }, Changes>;
  /** Forgets responses made before @before (the sweep). */
  'responses.prune': Q<{ before: string }, Changes>;
}
