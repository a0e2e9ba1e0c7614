// The admin API's route table: each route's method, path, scope and description, read top to
// bottom; the router mounts it and the OpenAPI document is made from it, so neither can miss one.
import type { Request, Response } from 'express';
import type { AdminKey } from '../../admin/api-keys';
import type { Services } from '../context';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Param {
  name: string;
  in: 'path' | 'query';
  type: 'integer' | 'string';
  description?: string;
}

export interface ApiRoute {
  method: Method;
  /** Express's form (`/users/:id`); the document shows `/users/{id}`. */
  path: string;
  /** write: needs a read-and-write key. */
  scope: 'read' | 'write';
  summary: string;
  tag: string;
  query?: Param[];
  /** The JSON body's properties (a JSON Schema object's `properties`) and those required. */
  body?: { properties: Record<string, object>; required?: string[] };
  /** 201 for a creation; 200 otherwise. */
  created?: boolean;
  handler: (ctx: ApiContext, req: Request, res: Response) => Promise<unknown>;
}

export interface ApiContext {
  services: Services;
  key: AdminKey;
}

/** Why a request is refused: one JSON shape, `{"error":{"code","message","field"?}}`. */
export class ApiFail extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const pathParams = (path: string): string[] => [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
