// Sign-in, registration and sign-out, as HTML forms and as JSON ({"username", "password"}).
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { setDeviceCookie } from '../device-cookie';
import { wantsJson } from '../errors';
import { HttpError } from '../http-error';
import { SESSION_COOKIE } from '../sessions';
import { authThrottles, SignInThrottle } from '../throttle';
import { checkPassword, createUser, findByName, normalizeUsername, UserInputError, type User } from '../../accounts/users';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { refuseRegistration, type RefusedBecause } from '../register-refusal';
import { InviteError } from '../../onboarding/invites';
import { onboard, registerGate } from '../../onboarding/registration';
import { safeReturnPath } from './home';
import { passwordSignIn } from '../../oidc/password-signin';

function publicUser(user: User) {
  return { id: user.id, username: user.username, role: user.role };
}

/** A new session id at sign-in (no fixation), holding only the user id and its epoch. */
export function signIn(req: Request, user: User): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.regenerate((err) => {
      if (err) return reject(err);
      req.session.userId = user.id;
      req.session.epoch = user.session_epoch;
      req.session.signedInAt = Date.now();
      req.session.save((saveErr) => (saveErr ? reject(saveErr) : resolve()));
    });
  });
}

function signOut(req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.destroy((err) => {
      if (err) return reject(err);
      res.clearCookie(SESSION_COOKIE);
      resolve();
    });
  });
}

function formText(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 200) : '';
}

export function authRoutes({ config, database, hasher, sessionSecret }: Services): Router {
  const router = Router();
  const throttle = authThrottles(config, database);
  const signInThrottle = new SignInThrottle(config, database, sessionSecret, async (name) => (await database.read(findByName, name))?.id);
  const redirectIfSignedIn = (req: Request, res: Response, next: () => void) =>
    req.user ? res.redirect(303, safeReturnPath(req.query.next)) : next();

  router.get('/login', redirectIfSignedIn, (req, res) => {
    const notice = res.locals.sessionEnded ? res.locals.t('session.expired') : undefined;
    const next = safeReturnPath(req.query.next);
    renderPage(req, res, 'login', { title: res.locals.t('login.title'), notice, next: next === '/' ? undefined : next });
  });

  router.post('/login', throttle.perIp, signInThrottle.gate, async (req, res) => {
    const { username, password, next: asked } = bodyOf(req);
    const result = await passwordSignIn(database, hasher, config.passwordSignIn, username, password);
    if (!result.ok) {
      if (result.reason === 'invalid' || (result.reason === 'password_off' && result.wrongPassword)) await signInThrottle.failed(req, res);
      const key = result.reason === 'disabled' ? 'login.disabled' : result.reason === 'password_off' ? 'login.password_off' : 'login.invalid';
      if (wantsJson(req)) throw new HttpError(401, key);
      const next = safeReturnPath(asked);
      const data = { title: res.locals.t('login.title'), username: formText(username), formError: res.locals.t(key), next: next === '/' ? undefined : next };
      return renderPage(req, res, 'login', data, 401);
    }
    await signIn(req, result.user);
    setDeviceCookie(req, res, sessionSecret, result.user.id);
    if (wantsJson(req)) return res.json({ user: publicUser(result.user) });
    res.redirect(303, safeReturnPath(asked));
  });

  router.get('/register', redirectIfSignedIn, async (req, res) => {
    const gate = await database.read(registerGate, config.registrationMode, req.query.invite);
    // Back from switching the language: the name typed (routes/home.ts).
    const username = typeof req.query.username === 'string' ? req.query.username.slice(0, 32) : undefined;
    renderPage(req, res, 'register', { title: res.locals.t('register.title'), gate, username });
  });

  router.post('/register', throttle.perIp, async (req, res) => {
    const { username, password, confirm, invite } = bodyOf(req);
    const gate = await database.read(registerGate, config.registrationMode, invite);
    if (!gate.open) return refuseRegistration(req, res, gate.reason);
    // Every field's problem at once, not one per try.
    const problems: UserInputError[] = [];
    const check = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof UserInputError)) throw err;
        problems.push(err);
      }
    };
    check(() => normalizeUsername(username));
    check(() => checkPassword(password));
    // Browsers send the confirmation field; JSON clients may leave it out.
    if ((confirm !== undefined || !wantsJson(req)) && confirm !== password) problems.push(new UserInputError('confirm', 'confirm_mismatch'));
    if (problems.length === 0) {
      try {
        const user = await createUser(database, hasher, { username, password, role: 'auto' }, { signupBonus: config.signupBonus, also: onboard(gate) });
        await signIn(req, user);
        setDeviceCookie(req, res, sessionSecret, user.id);
        if (wantsJson(req)) return res.status(201).json({ user: publicUser(user) });
        return res.redirect(303, '/');
      } catch (err) {
        // Another registration took the invite's last use while this one hashed its password.
        if (err instanceof InviteError) return refuseRegistration(req, res, err.code as RefusedBecause);
        if (!(err instanceof UserInputError)) throw err;
        problems.push(err);
      }
    }
    const errors = Object.fromEntries(problems.map((p) => [p.field, res.locals.t(`error.${p.code}` as never)]));
    if (wantsJson(req)) return res.status(422).json({ error: { status: 422, field: problems[0]!.field, message: errors[problems[0]!.field], fields: errors } });
    // The username is kept; passwords are never sent back into a page.
    renderPage(req, res, 'register', { title: res.locals.t('register.title'), gate, username: formText(username), errors }, 422);
  });

  router.post('/logout', async (req, res) => {
    if (req.session?.userId !== undefined) await signOut(req, res);
    if (wantsJson(req)) return res.status(204).end();
    res.redirect(303, '/login');
  });

  return router;
}
