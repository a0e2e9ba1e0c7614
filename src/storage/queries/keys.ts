// Queries of the API keys (accounts/api-keys.ts; see queries/index.ts).
import type { Changes, Q } from './shape';

/** What a key allows, as stored. */
interface KeyTerms {
  id: number;
  name: string;
  /** JSON array of model ids, or null for every model. */
  models: string | null;
  perDay: number | null;
  total: number | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** A key as /v1 checks it: its limits, and whether it and its owner may still be used. */
export interface KeyRow extends KeyTerms {
  userId: number;
  /** 1 when the owner is disabled or still waiting for approval (registration by approval): neither may spend. */
  userDisabled: number;
}

/** A key as its owner's page lists it. */
export interface KeyListRow extends KeyTerms {
  prefix: string;
  last4: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** Balance tokens charged to the key, plus what its calls in flight hold. */
  spent: number;
}

export interface KeyQueries {
  'keys.insert': Q<
    {
      userId: number; name: string; hash: string; prefix: string; last4: string; models: string | null; perDay: number | null; total: number | null;
      rpm: number | null; tpm: number | null; expiresAt: string | null; formId: string | null;
    },
    number | undefined
  >;
  'keys.byHash': Q<{ hash: string }, KeyRow | undefined>;
  'keys.ofUser': Q<{ userId: number }, KeyListRow[]>;
  /** Revokes a key of `userId` (null: of anyone, an admin's revoke) not yet revoked. */
  'keys.revoke': Q<{ id: number; userId: number | null; now: string }, Changes>;
  /** Marks a key used now, unless it was marked since `staleBefore` (one write a minute at most). */
  'keys.touch': Q<{ id: number; now: string; staleBefore: string }, Changes>;
  /** Tokens (prompt + completion; what is held for calls in flight) of the key's calls begun since @since. */
  'keys.tokensSince': Q<{ keyId: number; since: string }, number>;
  /** The same tokens, and when the oldest of those calls began (null when none did): when room frees up. */
  'keys.tokenWindow': Q<{ keyId: number; since: string }, { used: number; oldest: string | null }>;
  /** Of the keys @ids (a JSON array), those that may no longer be used: revoked, or their owner disabled. */
  'keys.unusable': Q<{ ids: string }, Array<{ keyId: number; userId: number; disabled: number }>>;
  /** Of the users @ids (a JSON array), those disabled. */
  'keys.disabledUsers': Q<{ ids: string }, number[]>;
  /** What a key has spent since @since (closed then, plus in flight), and in all. */
  'keys.spent': Q<{ keyId: number; since: string }, { today: number; total: number }>;
}
