// "Are you sure?" before an action that cannot be undone or cuts someone off (void a code or a
// batch, disable an account, make an administrator a member, revoke a key): the form's first post
// answers with a page asking (views/pages/confirm.eta, so it works without JavaScript too), whose
// form sends the same action again with confirm=1. JSON clients (scripts) are not asked.
import type { Request, Response } from 'express';
import { wantsJson } from './errors';
import { bodyOf } from './input';
import { renderPage } from './views';

export interface Question {
  /** The question, as the page's heading ("Void code #12?"). */
  question: string;
  /** What follows if the action goes ahead. */
  detail: string;
  /** The button that does it. */
  button: string;
  /** Where Cancel leads. */
  cancel: string;
  /** Fields the action's form sent besides the CSRF token, sent again. */
  fields?: Record<string, string>;
}

/** Whether the action may go ahead; if not, the page asking has been rendered. */
export function confirmedOrAsk(req: Request, res: Response, ask: () => Question): boolean {
  if (bodyOf(req).confirm === '1' || wantsJson(req)) return true;
  const q = ask();
  renderPage(req, res, 'confirm', { title: q.question, ...q, action: req.baseUrl + req.path });
  return false;
}
