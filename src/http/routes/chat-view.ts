// What the chat templates are given: the page, a message, the sidebar.
import { createHash, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Services } from '../context';
import { listConversations, messagesOf, type Conversation, type Message, type ThreadMessage } from '../../chat/conversations';
import { renderMarkdown, renderPlain, renderStreaming } from '../markdown';
import { modelChoices } from '../model-price';
import { costWords } from '../answer-writer';
import { costSoFar } from '../../chat/cost-so-far';
import type { Translate } from '../../i18n';
import type { Store } from '../../storage/op';
import { DEFAULT_MAX_TOKENS } from '../../chat/turn';
import { dashboardData } from '../../reports/usage-report';
import { accessOf } from '../../groups/access';
import { promptFor } from '../../groups/prompt';
import { attachmentsByMessage } from '../../attachments/attachments';
import { sizeText } from '../attachment-input';
import { presetPick } from '../preset-pick';

export const newTurnKey = (): string => randomUUID();

const EXAMPLES = ['chat.example.1', 'chat.example.2', 'chat.example.3'] as const;

/** A conversation's messages as the transcript template shows them. */
export async function transcriptOf(store: Store, conversationId: number, t: Translate) {
  return (await threadWithFiles(store, conversationId)).map((m) => messageView(m, t));
}

/** The thread shown, each question with its files (thumbnails and chips). */
export async function threadWithFiles(store: Store, conversationId: number) {
  const files = await store.read(attachmentsByMessage, conversationId);
  return (await store.read(messagesOf, conversationId)).map((m) => Object.assign(m, { files: files.get(m.id) ?? [] }));
}

/** Which of its versions a message is (‹ 2/3 ›), and the ids of the ones beside it; none for a message with one version. */
function versionOf(m: Message & { versions?: number[] }) {
  const versions = m.versions ?? [];
  const at = versions.indexOf(m.id);
  if (versions.length < 2 || at < 0) return null;
  return { index: at + 1, count: versions.length, prev: versions[at - 1] ?? null, next: versions[at + 1] ?? null };
}

/**
 * A message as the template shows it: its body as HTML (markdown once complete), its figures, its
 * versions, and a fresh turn key for its own Edit (a question) or Answer again (a finished answer).
 */
export function messageView(m: Message | ThreadMessage, t: Translate) {
  const errorKind = m.error?.split(':')[0] ?? null;
  const retryKey = errorKind === 'context_length' ? newTurnKey() : null;
  const actionKey = m.status === 'streaming' || (m.role === 'assistant' && m.parentId === null) ? null : newTurnKey();
  return { ...m, html: messageHtml(m, t('chat.copy')), error: m.error ? errorText(m.error, t) : null, errorKind, retryKey, actionKey, version: versionOf(m) };
}

// Finished messages never change (an edit makes new text), and rendering markdown with highlighted
// code costs about a millisecond per kilobyte, so a long conversation's page reuses its HTML.
const rendered = new Map<string, string>();
const RENDERED_MAX = 5000;

function messageHtml(m: Message, copyLabel: string): string {
  if (m.role !== 'assistant') return renderPlain(m.content);
  // The text so far of an answer being written, as its live renders show it (a `$$` block still
  // open is pending, not an error): a page without JavaScript reads its math and code as they come.
  if (m.status === 'streaming') return renderStreaming(m.content, { copyLabel, tail: `m${m.id}-tail` }).html;
  const key = `${copyLabel}\0${createHash('sha1').update(m.content).digest('base64')}`;
  let html = rendered.get(key);
  if (html === undefined) {
    html = renderMarkdown(m.content, { copyLabel });
    if (rendered.size >= RENDERED_MAX) rendered.delete(rendered.keys().next().value!);
  } else {
    rendered.delete(key); // re-inserted below: most recently used last
  }
  rendered.set(key, html);
  return html;
}

/** The words for an upstream failure kind ("rate_limit:30" carries the seconds to wait). */
export function errorText(code: string, t: Translate): string {
  const [kind, seconds] = code.split(':');
  if (kind === 'rate_limit' && seconds) return t('chat.error.rate_limit_in', { seconds });
  const known = ['auth', 'rate_limit', 'quota', 'unknown_model', 'context_length', 'timeout', 'connection', 'server', 'bad_request', 'aborted'];
  return t(`chat.error.${known.includes(kind!) ? kind : 'server'}` as Parameters<Translate>[0]);
}

/**
 * Where a page following an answer without JavaScript reloads to: the conversation at the answer.
 * Browsers treat a refresh to the address they show, fragment and all, as a jump within the page
 * (nothing is fetched), so the address alternates between two spellings of the same page.
 */
function refreshAddress(req: Request, conversationId: number, messageId: number): string {
  return `/c/${conversationId}${req.query.again === undefined ? '?again' : ''}#m${messageId}`;
}

export async function chatView(services: Services, req: Request, res: Response, conversation?: Conversation, extra: Record<string, unknown> = {}) {
  const store = services.database;
  const { t } = res.locals;
  const userId = req.user!.id;
  // The picker offers only what the user's groups allow, at the price they pay.
  const access = await store.read(accessOf, userId);
  const models = modelChoices(access.catalog(services.models).models, access, t, res.locals.locale);
  const messages = conversation ? await transcriptOf(store, conversation.id, t) : [];
  // Without JavaScript nothing follows an answer being written: the page reloads itself until it ends (layout.eta).
  const writing = conversation && messages.find((m) => m.status === 'streaming');
  // Its cost so far as its hold records it (a page following it live gets it with the renders instead).
  const soFar = writing ? await store.read(costSoFar, writing) : undefined;
  if (writing && soFar && soFar.tokens > 0) Object.assign(writing, { costSoFar: costWords(t, res.locals.locale)(soFar.tokens, soFar.charge) });
  const dashboard = await store.read(dashboardData, userId);
  // The group's system prompt: shown read-only when locked, the starting value of a new chat when not.
  const groupPrompt = await store.read(promptFor, userId);
  // ?preset=id (the picker beside the composer): the textbox or the system prompt filled from it.
  const pick = await presetPick(store, req, userId, groupPrompt, t);
  return {
    title: conversation?.title || t('chat.title'),
    conversation,
    conversations: await store.read(listConversations, userId),
    messages,
    models,
    settings: {
      system: groupPrompt?.locked ? groupPrompt.text : (pick.system ?? conversation?.systemPrompt ?? groupPrompt?.text ?? ''),
      model: conversation?.model && access.allows(conversation.model) ? conversation.model : (models[0]?.id ?? ''),
      temperature: conversation?.temperature ?? '',
      maxTokens: conversation?.maxTokens ?? '',
    },
    groupPrompt,
    defaultMaxTokens: DEFAULT_MAX_TOKENS,
    // Which of the user's models read images: named in the hint, since an image to another is refused.
    attachLimits: {
      perMessage: services.config.attachments.perMessage, size: sizeText(services.config.attachments.maxBytes, res.locals.locale),
      vision: access.catalog(services.models).models.filter((m) => m.vision).map((m) => m.name).join(', '),
    },
    demo: services.upstream.demo,
    examples: EXAMPLES.map((key) => t(key)),
    turnKey: newTurnKey(),
    // Read after the turn, for a plain form POST: the balance the header middleware read is stale.
    balance: dashboard.balance,
    dashboard,
    q: '',
    refreshTo: writing ? refreshAddress(req, conversation.id, writing.id) : undefined,
    presets: pick.presets,
    presetNote: pick.note,
    presetSystem: pick.system !== undefined,
    ...(pick.draft !== undefined && { draft: pick.draft }),
    ...extra,
  };
}
