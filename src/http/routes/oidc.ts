// Sign-in through the organisation's OpenID Connect providers (issue 25): the buttons' data for
// the sign-in page, the trip to the provider and back, and the owner's Sign-in methods page
// (link or unlink their account at a provider). The flow's rules are in oidc/.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { setDeviceCookie } from '../device-cookie';
import { HttpError } from '../http-error';
import { renderPage } from '../views';
import { signedIn } from './guards';
import { signIn } from './auth';
import { linkIdentity, signInWithClaims, unlinkIdentity } from '../../oidc/accounts';
import { OidcClients, OidcError, type PendingSignIn } from '../../oidc/client';
import type { OidcProviderSettings } from '../../oidc-settings';
import { query } from '../../storage/op';

declare module 'express-session' {
  interface SessionData {
    /** A sign-in (or a link) gone to a provider: its state, nonce and PKCE verifier. */
    oidc?: PendingSignIn;
  }
}

// A trip to the provider that takes longer than this is started again.
const PENDING_MS = 15 * 60_000;

function refuse(req: Request, res: Response, err: OidcError, logger: Services['logger']): void {
  logger.info({ code: err.code, detail: err.message }, 'an OpenID Connect sign-in was refused');
  const status = err.code === 'unreachable' ? 502 : err.code === 'domain' || err.code === 'disabled' || err.code === 'linked_elsewhere' ? 403 : 400;
  renderPage(req, res, 'oidc-error', { title: res.locals.t('oidc.error.title'), message: res.locals.t(`oidc.error.${err.code}`) }, status);
}

const saveSession = (req: Request) => new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));

export function oidcRoutes({ config, database, sessionSecret, logger }: Services): Router {
  const router = Router();
  const clients = new OidcClients(config.oidcProviders);
  const buttons = config.oidcProviders.map((p) => ({ id: p.id, label: p.label }));
  const provider = (req: Request): OidcProviderSettings => {
    const p = clients.find(String(req.params.provider));
    if (!p) throw new HttpError(404);
    return p;
  };

  // What the sign-in page offers (views/partials/oidc-buttons.eta).
  router.use((_req, res, next) => {
    res.locals.signInOptions = { providers: buttons, password: config.passwordSignIn };
    next();
  });

  const go = async (req: Request, res: Response, p: OidcProviderSettings, linkUserId?: number) => {
    let started;
    try {
      started = await clients.start(p, linkUserId);
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      return refuse(req, res, err, logger);
    }
    const { url, pending } = started;
    req.session.oidc = pending;
    await saveSession(req);
    res.redirect(303, url);
  };

  router.get('/auth/oidc/:provider', async (req, res) => {
    if (req.user) return res.redirect(303, '/');
    await go(req, res, provider(req));
  });

  router.get('/auth/oidc/:provider/callback', async (req, res) => {
    const p = provider(req);
    const pending = req.session.oidc;
    // Used once: a replayed callback finds nothing to finish.
    if (pending) delete req.session.oidc;
    try {
      if (!pending || pending.provider !== p.id || Date.now() - pending.startedAt > PENDING_MS) throw new OidcError('no_flow');
      const claims = await clients.finish(p, pending, req.originalUrl.split('?')[1] ?? '');
      if (pending.linkUserId !== undefined) {
        if (req.user?.id !== pending.linkUserId) throw new OidcError('no_flow');
        await database.write(linkIdentity, pending.linkUserId, p, pending.linkUserId, claims.sub);
        return res.redirect(303, `/account/sign-in?linked=${encodeURIComponent(p.id)}`);
      }
      const user = await database.write(signInWithClaims, p, claims, { signupBonus: config.signupBonus, approval: config.registrationMode === 'approval' }, new Date());
      await signIn(req, user);
      setDeviceCookie(req, res, sessionSecret, user.id);
      res.redirect(303, '/');
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      if (pending) await saveSession(req);
      refuse(req, res, err, logger);
    }
  });

  async function methodsPage(req: Request, res: Response, formError?: string, status = 200) {
    const [identities, ways] = await database.read(function* () {
      return [yield* query('oidc.identitiesOf', { userId: req.user!.id }), Number(yield* query('oidc.signInWays', { userId: req.user!.id }))] as const;
    });
    const notice = typeof req.query.linked === 'string' ? { key: 'linked', id: req.query.linked } : typeof req.query.unlinked === 'string' ? { key: 'unlinked', id: req.query.unlinked } : undefined;
    const rows = config.oidcProviders.map((p) => ({ id: p.id, label: p.label, identity: identities.find((i) => i.provider === p.id) }));
    const label = notice && config.oidcProviders.find((p) => p.id === notice.id)?.label;
    renderPage(req, res, 'account-sign-in', { title: res.locals.t('oidc.account.title'), rows, formError, noPassword: ways === identities.length, notice: label ? res.locals.t(`oidc.account.${notice!.key as 'linked' | 'unlinked'}`, { label }) : undefined }, status);
  }

  router.get('/account/sign-in', signedIn, (req, res) => methodsPage(req, res));

  router.post('/account/sign-in/:provider/link', signedIn, async (req, res) => {
    await go(req, res, provider(req), req.user!.id);
  });

  router.post('/account/sign-in/:provider/unlink', signedIn, async (req, res) => {
    const p = provider(req);
    try {
      await database.write(unlinkIdentity, req.user!.id, p.id, req.user!.id);
    } catch (err) {
      if (!(err instanceof OidcError)) throw err;
      return methodsPage(req, res, res.locals.t(`oidc.error.${err.code}`), 409);
    }
    res.redirect(303, `/account/sign-in?unlinked=${encodeURIComponent(p.id)}`);
  });

  return router;
}
