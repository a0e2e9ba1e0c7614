// The attachments a chat form names (`attachment` ids, from the chips in the composer): the
// user's own pending ones, no more than a message takes, and images only for a model that reads
// them. Checked before anything is held, for a send and for its estimate alike.
import type { Request, Response } from 'express';
import type { Services } from './context';
import { pendingAttachments, type AttachmentInfo } from '../attachments/attachments';
import type { ModelInfo } from '../metering/models';
import { bodyOf } from './input';
import { madeOnce } from '../made-once';

/** The ids in a form's `attachment` fields; undefined when one is not an id. */
export function attachmentIds(value: unknown): number[] | undefined {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const ids = list.map((v) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : NaN));
  return ids.every((id) => Number.isSafeInteger(id) && id > 0) ? ids : undefined;
}

export type AttachmentCheck = { ok: true; files: AttachmentInfo[] } | { ok: false; status: number; notice: string };

export async function formAttachments(services: Services, req: Request, res: Response, model: ModelInfo): Promise<AttachmentCheck> {
  const { t } = res.locals;
  const form = bodyOf(req);
  // A file chosen without JavaScript but not attached: sent as its bare name, not its contents.
  if (typeof form.file === 'string' && form.file !== '') return { ok: false, status: 422, notice: t('attach.attach_first') };
  const ids = attachmentIds(form.attachment);
  if (!ids) return { ok: false, status: 404, notice: t('attach.gone') };
  if (ids.length === 0) return { ok: true, files: [] };
  const { perMessage } = services.config.attachments;
  if (ids.length > perMessage) return { ok: false, status: 422, notice: t('attach.too_many', { count: perMessage }) };
  const files = await services.database.read(pendingAttachments, req.user!.id, ids);
  if (!files) return { ok: false, status: 404, notice: t('attach.gone') };
  if (!model.vision && files.some((a) => a.kind === 'image')) return { ok: false, status: 422, notice: t('attach.no_vision', { model: model.name }) };
  return { ok: true, files };
}

/** The form's attachments still the user's and pending, for a page shown again (a refused send, Attach without JavaScript); the others drop out. */
export async function keptAttachments(services: Services, req: Request, leaveOut?: number): Promise<AttachmentInfo[]> {
  const kept: AttachmentInfo[] = [];
  for (const id of attachmentIds(bodyOf(req).attachment) ?? []) {
    if (id !== leaveOut) kept.push(...((await services.database.read(pendingAttachments, req.user!.id, [id])) ?? []));
  }
  return kept.slice(0, services.config.attachments.perMessage);
}

const sizeFormats = new Map<string, Intl.NumberFormat>();

/**
 * A size as people read it: 20 MB, 340 KB. One format per locale and precision: toLocaleString
 * with options makes one on every call (about 11 µs; the composer draws the limit on every page).
 */
export function sizeText(bytes: number, locale: string): string {
  const [value, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), 'MB'] : bytes >= 1024 ? [bytes / 1024, 'KB'] : [bytes, 'B'];
  const digits = value < 10 ? 1 : 0;
  const format = madeOnce(sizeFormats, `${locale}/${digits}`, () => new Intl.NumberFormat(locale, { maximumFractionDigits: digits }));
  return `${format.format(value)} ${unit}`;
}
