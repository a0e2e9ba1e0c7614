// The admin API's one error shape, {"error":{"code","message","field"?}}: the domain's refusals
// (the same the pages show, in English, from the same message keys) and everything else.
import type { ErrorRequestHandler, Response } from 'express';
import { AdminError, NotAnAdmin } from '../../admin/actions';
import { AdminKeyError } from '../../admin/api-keys';
import { UserInputError } from '../../accounts/users';
import { AllowanceError } from '../../groups/allowances';
import { GroupError } from '../../groups/groups';
import { LimitsError } from '../../ledger/limit-rules';
import { InviteError } from '../../onboarding/invites';
import { translator, type MessageKey } from '../../i18n';
import type { Logger } from '../../log';
import { ApiFail } from './table';

const t = translator('en');
const say = (key: string, vars?: Record<string, string | number>) => t(key as MessageKey, vars);

/** A domain refusal as the API says it; undefined for an error that is not one. */
export function refusal(err: unknown): ApiFail | undefined {
  if (err instanceof ApiFail) return err;
  if (err instanceof NotAnAdmin) return new ApiFail(403, 'not_admin', 'The admin who made this key is no longer an enabled admin.');
  if (err instanceof AdminError) return new ApiFail(err.code === 'no_user' ? 404 : 422, err.code, say(`admin.error.${err.code}`, err.vars));
  if (err instanceof GroupError) {
    const field = { duplicate_name: 'name', bad_name: 'name', unknown_model: 'models', percent_range: 'price_percent', no_user: 'user_ids' }[err.code as string];
    return new ApiFail(err.code === 'no_group' ? 404 : 422, err.code, say(`groups.error.${err.code}`, err.vars), field);
  }
  if (err instanceof AllowanceError) return new ApiFail(422, err.code, say(`allowance.error.${err.code}`, err.vars), err.code);
  if (err instanceof LimitsError) return new ApiFail(422, 'invalid', err.message, err.field);
  if (err instanceof UserInputError) return new ApiFail(422, err.code, say(`error.${err.code}`), err.field);
  if (err instanceof AdminKeyError) return new ApiFail(404, err.code, 'No such key.');
  if (err instanceof InviteError) {
    const status = err.code === 'no_invite' ? 404 : err.code === 'unchanged' ? 409 : 422;
    const field = { uses: 'uses', expiry: 'expires_in_days', note: 'note', no_group: 'group_ids', builtin_group: 'group_ids' }[err.code as string];
    return new ApiFail(status, err.code, say(`invites.error.${err.code}`), field);
  }
  return undefined;
}

export function sendFail(res: Response, fail: ApiFail): void {
  res.status(fail.status).json({ error: { code: fail.code, message: fail.message, ...(fail.field ? { field: fail.field } : {}) } });
}

export function apiErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const known = refusal(err);
    if (known) return sendFail(res, known);
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) logger.error({ err, path: req.path }, 'admin API request failed');
    const code = status === 400 ? 'bad_request' : status === 413 ? 'too_large' : status >= 500 ? 'server_error' : 'error';
    sendFail(res, new ApiFail(status, code, status >= 500 ? 'Something went wrong on the server.' : 'The request could not be read.'));
  };
}
