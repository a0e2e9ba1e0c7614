// Reads a multipart upload of attachments (POST /attachments) as it streams in, before the CSRF
// check and the other body parsers (which take no multipart, 415 elsewhere): its fields become
// req.body, so the CSRF token in the form is checked as for any form, and its files are kept for
// the route. Nothing is read when it cannot be taken: a body declared larger than a message's
// files can be (a 1 GB upload) is refused 413 at once, unread, as is an upload from someone not
// signed in or a second one of the same user at once (429). A file past the size limit is kept
// only as "too large"; one sent without a length is cut off there and the connection closed.
import busboy from 'busboy';
import type { Request, RequestHandler } from 'express';
import type { AttachmentLimits, UploadedFile } from '../attachments/attachments';
import { HttpError } from './http-error';

export interface Upload {
  files: UploadedFile[];
  /** More files than a message takes were sent: the extra ones were not read. */
  tooMany: boolean;
}

const uploads = new WeakMap<Request, Upload>();
/** The files of a multipart request, once read; undefined for any other request. */
export const uploadOf = (req: Request): Upload | undefined => uploads.get(req);

/** Room in a body for the form's other fields (the message, up to 100,000 characters, and settings). */
const FIELDS_BYTES = 1024 * 1024;

export function attachmentUploads(limits: AttachmentLimits): RequestHandler {
  const reading = new Set<number>();
  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/attachments' || !req.is('multipart/form-data')) return next();
    const refuse = (status: number) => {
      res.set('Connection', 'close'); // the body is not read: the connection cannot carry another request
      next(new HttpError(status));
    };
    if (!req.user) return refuse(403);
    const declared = req.get('content-length');
    if (declared !== undefined && Number(declared) > limits.perMessage * limits.maxBytes + FIELDS_BYTES) return refuse(413);
    const userId = req.user.id;
    if (reading.has(userId)) return refuse(429);
    reading.add(userId);
    res.once('close', () => reading.delete(userId));
    const upload: Upload = { files: [], tooMany: false };
    const fields: Record<string, string | string[]> = {};
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers, defParamCharset: 'utf8',
        limits: { fileSize: limits.maxBytes, files: limits.perMessage, fields: 60, fieldSize: FIELDS_BYTES, parts: limits.perMessage + 60 },
      });
    } catch {
      return refuse(400); // no boundary
    }
    let failed = false;
    const fail = (status: number) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      refuse(status);
    };
    bb.on('field', (name, value) => {
      const had = fields[name];
      fields[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    });
    bb.on('file', (name, stream, info) => {
      const filename = info.filename ?? '';
      if (name !== 'file' || filename === '') return void stream.resume(); // an empty file input
      const chunks: Buffer[] = [];
      let truncated = false;
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        truncated = true;
        chunks.length = 0;
        if (declared === undefined) fail(413); // no end in sight: stop reading now
      });
      stream.on('close', () => upload.files.push({ name: filename, mime: info.mimeType, data: truncated ? Buffer.alloc(0) : Buffer.concat(chunks), truncated }));
    });
    bb.on('filesLimit', () => (upload.tooMany = true));
    bb.on('fieldsLimit', () => fail(413));
    bb.on('partsLimit', () => fail(413));
    bb.on('error', () => fail(400));
    bb.on('close', () => {
      if (failed) return;
      req.body = fields;
      // body-parser's mark of a body already read: the form parsers and the body-type guard leave it alone.
      (req as Request & { _body?: boolean })._body = true;
      uploads.set(req, upload);
      next();
    });
    req.pipe(bb);
  };
}
