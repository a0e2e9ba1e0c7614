// A real OpenID Provider (the certified oidc-provider package) on loopback for the sign-in tests,
// with accounts the test sets, and a way to tamper with the ID token its token endpoint returns
// (re-signed with the provider's own key, so only the claim changed is wrong). And a small
// browser that keeps cookies per host and follows redirects, so a test walks the real pages.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import Provider from 'oidc-provider';

export interface ProviderAccount {
  email?: string;
  email_verified?: boolean;
  preferred_username?: string;
  name?: string;
  groups?: string[];
}

export interface TestProvider {
  issuer: string;
  accounts: Map<string, ProviderAccount>;
  /** Rewrites the next ID tokens' claims (undefined: leave them). */
  tamper: ((claims: Record<string, unknown>) => Record<string, unknown>) | undefined;
  close(): Promise<void>;
}

/** A free loopback port (for an address that must be known before its server starts: issuer, PUBLIC_URL). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function startProvider(...redirectUris: string[]): Promise<TestProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
  const accounts = new Map<string, ProviderAccount>();
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'tokenchat', client_secret: 'tokenchat-secret', redirect_uris: redirectUris, response_types: ['code'], grant_types: ['authorization_code'] }],
    jwks: { keys: [jwk as never] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    conformIdTokenClaims: false, // the claims asked for go in the ID token too
    cookies: { keys: ['test-cookie-key'] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    findAccount: (_ctx, sub) => {
      const a = accounts.get(sub);
      return a ? { accountId: sub, claims: () => ({ sub, ...a }) } : undefined;
    },
    // No consent screen: the client is the organisation's own.
    loadExistingGrant: async (ctx) => {
      const id = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (id) return ctx.oidc.provider.Grant.find(id);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  const self: TestProvider = { issuer, accounts, tamper: undefined, close: () => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }) };
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.path === '/token' && self.tamper && body?.id_token) {
      const [head, payload] = body.id_token.split('.');
      const claims = self.tamper(JSON.parse(Buffer.from(payload!, 'base64url').toString()));
      const signed = `${head}.${b64(claims)}`;
      ctx.body = { ...body, id_token: `${signed}.${crypto.sign('sha256', Buffer.from(signed), privateKey).toString('base64url')}` };
    }
  });
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Koa handles its own errors
  server.on('request', provider.callback());
  return self;
}

/** A browser in a test: cookies per host, redirects followed (except where told to stop). */
export class Browser {
  private readonly jars = new Map<string, Map<string, string>>();

  private cookies(url: URL): string {
    return [...(this.jars.get(url.host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(url: URL, res: Response): void {
    const jar = this.jars.get(url.host) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const value = pair!.slice(eq + 1);
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') jar.delete(pair!.slice(0, eq));
      else jar.set(pair!.slice(0, eq), value);
    }
    this.jars.set(url.host, jar);
  }

  /** One request, no redirect followed. */
  async fetch(address: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ status: number; url: string; location?: string; text: string }> {
    const url = new URL(address);
    const headers: Record<string, string> = { cookie: this.cookies(url), 'accept-language': 'en' };
    if (init.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, redirect: 'manual', body: init.form && new URLSearchParams(init.form).toString() });
    this.keep(url, res);
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, url: url.href, location: location && new URL(location, url).href, text: await res.text() };
  }

  /**
   * Follows redirects, and on the provider's login page signs in as `login`, until a redirect to an
   * address starting with `stopAt` (answered, not followed) or a page that is not the provider's.
   */
  async walk(address: string, opts: { login?: string; stopAt?: string; form?: Record<string, string> } = {}): Promise<{ status: number; url: string; location?: string; text: string }> {
    let res = await this.fetch(address, { form: opts.form });
    for (let hops = 0; hops < 20; hops++) {
      if (res.location) {
        if (opts.stopAt && res.location.startsWith(opts.stopAt)) return res;
        res = await this.fetch(res.location);
        continue;
      }
      const form = /<form[^>]*action="([^"]+)"[^>]*method="post"[\s\S]*?name="prompt" value="(\w+)"/.exec(res.text);
      if (!form) return res;
      const fields: Record<string, string> = form[2] === 'login' ? { prompt: 'login', login: opts.login ?? '', password: 'any' } : { prompt: form[2]! };
      res = await this.fetch(new URL(form[1]!.replace(/&amp;/g, '&'), res.url).href, { form: fields });
    }
    throw new Error('too many redirects');
  }
}
