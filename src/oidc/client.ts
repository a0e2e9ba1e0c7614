// The relying-party half of OpenID Connect, on openid-client (v6, an ES module: Node 20.19+ loads
// it with require, as the compiled CommonJS here does). Authorization code flow with PKCE, state and
// nonce; each provider's metadata discovered from its issuer URL once, then kept.
import * as client from 'openid-client';
import type { OidcProviderSettings } from '../oidc-settings';

/** What a sign-in keeps in the session between leaving for the provider and coming back. */
export interface PendingSignIn {
  provider: string;
  state: string;
  nonce: string;
  verifier: string;
  /** Set when a signed-in owner links their account instead of signing in. */
  linkUserId?: number;
  startedAt: number;
}

/** The verified claims of a sign-in: the ID token's, completed by the userinfo endpoint's. */
export type Claims = Record<string, unknown> & { sub: string };

/** A refusal at the callback; `code` is the message key suffix (oidc.error.<code>). */
export class OidcError extends Error {
  constructor(readonly code: 'no_flow' | 'state' | 'provider' | 'token' | 'domain' | 'unknown_provider' | 'linked_elsewhere' | 'disabled' | 'last_way' | 'unreachable', detail?: string) {
    super(detail ?? code);
  }
}

export class OidcClients {
  private readonly configs = new Map<string, Promise<client.Configuration>>();

  constructor(readonly providers: readonly OidcProviderSettings[]) {}

  find(id: string): OidcProviderSettings | undefined {
    return this.providers.find((p) => p.id === id);
  }

  private configuration(p: OidcProviderSettings): Promise<client.Configuration> {
    let found = this.configs.get(p.id);
    if (!found) {
      const insecure = new URL(p.issuer).protocol === 'http:'; // loopback only (settings.ts)
      found = client.discovery(new URL(p.issuer), p.clientId, p.clientSecret, undefined, insecure ? { execute: [client.allowInsecureRequests] } : undefined);
      // A failed discovery (the provider down at the time) is tried again at the next sign-in.
      found.catch(() => this.configs.delete(p.id));
      this.configs.set(p.id, found);
    }
    return found;
  }

  /** Where to send the browser, and what to keep in the session until it comes back. */
  async start(p: OidcProviderSettings, linkUserId?: number): Promise<{ url: string; pending: PendingSignIn }> {
    let config;
    try {
      config = await this.configuration(p);
    } catch (err) {
      throw new OidcError('unreachable', (err as Error).message);
    }
    const verifier = client.randomPKCECodeVerifier();
    const pending: PendingSignIn = {
      provider: p.id, state: client.randomState(), nonce: client.randomNonce(), verifier, startedAt: Date.now(),
      ...(linkUserId !== undefined && { linkUserId }),
    };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: p.redirectUri, scope: p.scopes, state: pending.state, nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    return { url: url.href, pending };
  }

  /**
   * Exchanges the code the browser brought back and verifies the ID token (issuer, audience,
   * signature, expiry, nonce) and the state; answers the claims or throws OidcError.
   */
  async finish(p: OidcProviderSettings, pending: PendingSignIn, callbackQuery: string): Promise<Claims> {
    const config = await this.configuration(p);
    const url = new URL(p.redirectUri);
    url.search = callbackQuery;
    if (url.searchParams.get('state') !== pending.state) throw new OidcError('state');
    if (url.searchParams.has('error')) throw new OidcError('provider', url.searchParams.get('error') ?? undefined);
    let tokens;
    try {
      tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true,
      });
    } catch (err) {
      throw new OidcError('token', (err as Error).message);
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new OidcError('token', 'no ID token');
    let extra: Record<string, unknown> = {};
    if (config.serverMetadata().userinfo_endpoint && tokens.access_token) {
      try {
        extra = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
      } catch (err) {
        throw new OidcError('token', (err as Error).message);
      }
    }
    // The ID token's claims win: they are signed.
    return { ...extra, ...idClaims } as Claims;
  }
}
