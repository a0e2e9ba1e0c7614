// /v1/responses: OpenAI's Responses API on a personal key, what the Vercel AI SDK's default model,
// Codex CLI and the Agents SDK call. A response is created streamed (typed events) or not and
// metered as a chat completion is (api/responses.ts); one its key made can be read or deleted.
import type { RequestHandler, Router } from 'express';
import { deleteResponse, loadResponse } from '../../api/response-store';
import { runResponse } from '../../api/responses';
import { parseResponsesBody } from '../../api/responses-request';
import { ApiError } from '../../api/request';
import { requestIdOf } from '../../log';
import type { Offer } from '../../metering/models';
import { accessOfKey, answerJson, ChunkStream, errorBody, modelFor, whileRunning, withinKeyRate, type V1Deps } from './v1-common';

type Deps = V1Deps & { offer: Offer; silentStartMs?: number; responsesKeepDays?: number; bodyLimitBytes?: number };

/** Days a response is kept when the setting is not given (as long as OpenAI keeps them). */
export const DEFAULT_RESPONSES_KEEP_DAYS = 30;
/** A kept response (a whole conversation) may be this many request bodies long; a longer one is answered store: false. */
const KEEP_MAX_BODIES = 8;

function create(deps: Deps): RequestHandler {
  const keep = (deps.responsesKeepDays ?? DEFAULT_RESPONSES_KEEP_DAYS) > 0;
  const keepMaxChars = KEEP_MAX_BODIES * (deps.bodyLimitBytes ?? 2 * 1024 * 1024);
  return async (req, res) => {
    const key = req.apiKey!;
    const body = parseResponsesBody(req.body);
    const model = modelFor(deps.offer.all, key, accessOfKey(req), body.model, 'chat');
    let stream: ChunkStream | undefined;
    const outcome = await whileRunning(deps.running, key, res, async (signal) => {
      await withinKeyRate(deps, key);
      if (body.stream === true) stream = new ChunkStream(res, deps.silentStartMs);
      const emit = stream && ((event: { type: string }) => stream!.event(event));
      return runResponse(deps, { key, body, model, requestId: requestIdOf(req), signal, keep, keepMaxChars }, emit);
    });
    if (outcome.status === 'done') {
      if (stream) return stream.end('');
      return answerJson(res, outcome.response);
    }
    if (stream?.started) {
      // The stream went out (events, or its silent start): the error ends it, as OpenAI's do.
      if (outcome.status === 'refused') stream.event({ ...errorBody(outcome.error).error, type: 'error' });
      return stream.end('');
    }
    throw outcome.error;
  };
}

const noSuchResponse = (id: string) =>
  new ApiError(404, `Response with id '${id.slice(0, 100)}' not found.`, 'invalid_request_error', 'response_not_found', 'response_id');

export function responsesRoutes(router: Router, deps: Deps): void {
  router.post('/responses', create(deps));
  router.get('/responses/:id', async (req, res) => {
    const stored = await deps.store.read(loadResponse, req.apiKey!.id, String(req.params.id));
    if (!stored) throw noSuchResponse(String(req.params.id));
    res.json(stored.response);
  });
  router.delete('/responses/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!(await deps.store.write(deleteResponse, req.apiKey!.id, id))) throw noSuchResponse(id);
    res.json({ id, object: 'response', deleted: true });
  });
}
