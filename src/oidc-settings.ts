// The OpenID Connect providers an operator configures (OIDC_PROVIDERS, a JSON array) and password
// sign-in (PASSWORD_SIGNIN). Read by config.ts once; depends on nothing but zod.
import { z } from 'zod';

export interface OidcProviderSettings {
  /** Short name in URLs and the database (/auth/oidc/<id>). */
  id: string;
  issuer: string;
  clientId: string;
  /** A secret: never logged or rendered. */
  clientSecret: string | undefined;
  scopes: string;
  /** The button's text on the sign-in page ("Sign in with <label>"). */
  label: string;
  /** Lower-case domains a verified email must be in to make an account; empty: any. */
  emailDomains: readonly string[];
  /** The claim whose values are mapped to groups (groups, roles, ...); undefined: no mapping. */
  groupsClaim: string | undefined;
  /** PUBLIC_URL + /auth/oidc/<id>/callback, registered at the provider. */
  redirectUri: string;
}

const loopback = (host: string) => ['127.0.0.1', 'localhost', '[::1]'].includes(host);

const issuer = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || (u.protocol === 'http:' && loopback(u.hostname));
  } catch {
    return false;
  }
}, 'must be an https URL (http only on 127.0.0.1 or localhost)');

const provider = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be lower-case letters, digits and - (at most 40)'),
  issuer,
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  scopes: z.string().regex(/(^|\s)openid(\s|$)/, 'must include openid').default('openid email profile'),
  label: z.string().min(1).max(60),
  emailDomains: z.array(z.string().min(1).max(253).transform((d) => d.toLowerCase().replace(/^@/, ''))).default([]),
  groupsClaim: z.string().min(1).max(200).optional(),
}).strict();

/** Parses OIDC_PROVIDERS; an error message names the problem (config.ts adds the variable). */
export function parseProviders(json: string | undefined, publicUrl: string | undefined): OidcProviderSettings[] {
  if (json === undefined) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('OIDC_PROVIDERS must be a JSON array such as [{"id":"school","issuer":"https://...","clientId":"...","clientSecret":"...","label":"School account"}]');
  }
  const parsed = z.array(provider).min(1).safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `OIDC_PROVIDERS[${i.path.join('.')}] ${i.message}`);
    throw new Error(lines.join('; '));
  }
  const ids = parsed.data.map((p) => p.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`OIDC_PROVIDERS has the id ${twice} twice`);
  if (!publicUrl) throw new Error('OIDC_PROVIDERS needs PUBLIC_URL (the redirect URL registered at each provider is built from it)');
  const base = publicUrl.replace(/\/+$/, '');
  return parsed.data.map(({ clientSecret, ...p }) => {
    const settings = { ...p, groupsClaim: p.groupsClaim, emailDomains: Object.freeze(p.emailDomains), redirectUri: `${base}/auth/oidc/${p.id}/callback` };
    // Not enumerable: never in a dump or a log of the settings.
    Object.defineProperty(settings, 'clientSecret', { value: clientSecret, enumerable: false });
    return Object.freeze(settings as OidcProviderSettings);
  });
}
