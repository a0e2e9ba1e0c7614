// Queries of sign-in through OpenID Connect providers (oidc/; see queries/index.ts).
import type { User } from './accounts';
import type { Changes, Q } from './shape';

export interface IdentityRow {
  provider: string;
  subject: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface GroupMapRow {
  provider: string;
  claimValue: string;
  groupId: number;
  groupName: string;
}

export interface OidcQueries {
  /** The account an identity signs in to. */
  'oidc.userOf': Q<{ provider: string; subject: string }, number | undefined>;
  /** The new identity's id; undefined when the identity is already linked (to anyone). */
  'oidc.link': Q<{ provider: string; subject: string; userId: number }, number | undefined>;
  /** Removes a user's identity at a provider. */
  'oidc.unlink': Q<{ provider: string; userId: number }, Changes>;
  /** Ways the account signs in: 1 for a password, plus one per linked identity. */
  'oidc.signInWays': Q<{ userId: number }, number>;
  'oidc.touch': Q<{ provider: string; subject: string; now: string }, Changes>;
  'oidc.identitiesOf': Q<{ userId: number }, IdentityRow[]>;
  /** An account without a password (role user); undefined when the name is taken. */
  'oidc.insertUser': Q<{ username: string; key: string; displayName: string | null; email: string | null; emailVerified: number }, User | undefined>;
  'oidc.mapList': Q<Record<string, never>, GroupMapRow[]>;
  'oidc.mapOf': Q<{ provider: string }, GroupMapRow[]>;
  'oidc.mapAdd': Q<{ provider: string; claimValue: string; groupId: number }, Changes>;
  'oidc.mapRemove': Q<{ provider: string; claimValue: string; groupId: number }, Changes>;
  /** 1 when the account may sign in with a password while password sign-in is off for others. */
  'oidc.breakGlass': Q<{ id: number }, number | undefined>;
  'oidc.setBreakGlass': Q<{ id: number; on: number }, Changes>;
}
