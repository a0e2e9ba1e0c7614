// Recharge: users add tokens by redeeming a single-use code (form or JSON {"code": "..."}), or, when
// Stripe is set up, by buying a package (routes/payments.ts). Nothing here reads an amount: a body
// that names one and no code changes nothing.
import { Router, type Request, type Response } from 'express';
import type { Services } from '../context';
import { CodeError, redeem } from '../../ledger/codes';
import { wantsJson } from '../errors';
import type { MessageKey } from '../../i18n';
import { redeemThrottle } from '../throttle';
import { balanceOf, owedBy } from '../../ledger/ledger';
import { bodyOf } from '../input';
import { renderPage } from '../views';
import { signedIn } from './guards';
import { packagesView } from './payments';

const MAX_CODE_LENGTH = 100;

export function rechargeRoutes({ config, database, payments }: Services): Router {
  const router = Router();

  async function page(req: Request, res: Response, data: Record<string, unknown> = {}, status = 200) {
    const userId = req.user!.id;
    const balance = await database.read(balanceOf, userId);
    const owed = payments ? await database.read(owedBy, userId) : 0;
    renderPage(req, res, 'recharge', { title: res.locals.t('recharge.title'), balance, owed, packages: packagesView(payments, res.locals.locale), ...data }, status);
  }

  async function refuse(req: Request, res: Response, key: MessageKey, reason: string, code: string) {
    const message = res.locals.t(key);
    if (wantsJson(req)) return res.status(422).json({ error: { status: 422, reason, message } });
    await page(req, res, { code, error: message }, 422);
  }

  router.get('/recharge', signedIn, async (req, res) => page(req, res));

  // A form sent without a code is not a guess: it is answered before the failed-attempt limit counts it.
  const withCode = async (req: Request, res: Response, next: () => void) => {
    const { code } = bodyOf(req);
    if (typeof code === 'string' && code.trim() !== '' && code.length <= MAX_CODE_LENGTH) return next();
    await refuse(req, res, 'input.code', 'missing', typeof code === 'string' ? code.slice(0, MAX_CODE_LENGTH) : '');
  };

  router.post('/recharge', signedIn, withCode, redeemThrottle(config, database), async (req, res) => {
    const code = bodyOf(req).code as string; // withCode let only a string through
    try {
      const result = await redeem(database, req.user!.id, code);
      if (wantsJson(req)) return res.json({ redeemed: result.tokens, balance: result.balance });
      await page(req, res, { done: res.locals.t('recharge.done', { tokens: result.tokens.toLocaleString(res.locals.locale), balance: result.balance.toLocaleString(res.locals.locale) }) });
    } catch (err) {
      if (!(err instanceof CodeError)) throw err;
      await refuse(req, res, `recharge.${err.reason}`, err.reason, code);
    }
  });

  return router;
}
