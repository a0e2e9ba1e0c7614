// Reading the admin API's input: ids, pages, JSON bodies. Everything wrong is an ApiFail (422 or
// 404) thrown before any write, so a refused request changes nothing.
import type { Request } from 'express';
import { ApiFail } from './table';

export const PER_PAGE_MAX = 200;

export function idOf(req: Request, name = 'id'): number {
  const raw = req.params[name];
  const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new ApiFail(404, 'not_found', 'No such resource.');
  return n;
}

export function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** A whole number from the query (a string) or a body (a number); `fallback` when absent. */
export function wholeOf(value: unknown, field: string, min: number, max: number, fallback?: number): number {
  if ((value === undefined || value === '') && fallback !== undefined) return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,16}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ApiFail(422, 'invalid', `${field} must be a whole number from ${min} to ${max}.`, field);
  return n;
}

export function textOf(value: unknown, field: string, max: number, optional = false): string | undefined {
  if (value === undefined || value === null) {
    if (optional) return undefined;
    throw new ApiFail(422, 'invalid', `${field} is required.`, field);
  }
  if (typeof value !== 'string' || value.length > max) throw new ApiFail(422, 'invalid', `${field} must be text of at most ${max} characters.`, field);
  return value;
}

/** page (from 1) and per_page of a paginated list. */
export function pageOf(req: Request, perPage = 50): { page: number; perPage: number } {
  return { page: wholeOf(req.query.page, 'page', 1, 1_000_000, 1), perPage: wholeOf(req.query.per_page, 'per_page', 1, PER_PAGE_MAX, perPage) };
}

/** A list of user ids (`user_ids`), at most 1,000. */
export function userIdsOf(body: Record<string, unknown>): number[] {
  const ids = body.user_ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000 || !ids.every((v) => Number.isSafeInteger(v) && (v as number) > 0)) {
    throw new ApiFail(422, 'invalid', 'user_ids must be a list of 1 to 1000 user ids.', 'user_ids');
  }
  return ids as number[];
}

/** The page's envelope: the rows and the next page's number (null: this is the last). */
export const paged = <T>(name: string, rows: T[], page: number, hasMore: boolean) => ({ [name]: rows, page, next_page: hasMore ? page + 1 : null });
