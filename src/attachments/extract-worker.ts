// A worker thread of extract.ts: pulls the text out of one PDF or DOCX and exits. A worker per
// file, with a memory ceiling and a deadline set by its parent, so a malformed or hostile file
// (a zip bomb, a PDF that loops) costs at most that, and never the event loop serving everyone.
import { parentPort } from 'node:worker_threads';
import { giveWay } from '../metering/give-way';

export interface ExtractJob {
  kind: 'pdf' | 'docx';
  data: Uint8Array;
  maxPages: number;
}
export type ExtractResult = { text: string; pages: number | null } | { error: 'malformed' | 'too_many_pages' };

async function pdfText(data: Uint8Array, maxPages: number): Promise<ExtractResult> {
  // unpdf ships pdf.js built for servers (no canvas, no DOM); loaded here only, never on the event loop.
  const { getDocumentProxy, extractText } = await import('unpdf');
  const doc = await getDocumentProxy(data, { verbosity: 0, stopAtErrors: true });
  if (doc.numPages > maxPages) return { error: 'too_many_pages' };
  const { text } = await extractText(doc, { mergePages: true });
  return { text, pages: doc.numPages };
}

async function docxText(data: Uint8Array): Promise<ExtractResult> {
  const mammoth = await import('mammoth');
  const { value } = await mammoth.extractRawText({ buffer: Buffer.from(data) });
  return { text: value, pages: null };
}

async function run(job: ExtractJob): Promise<ExtractResult> {
  try {
    return job.kind === 'pdf' ? await pdfText(job.data, job.maxPages) : await docxText(job.data);
  } catch {
    return { error: 'malformed' };
  }
}

giveWay(); // the event loop serving every user comes first
// The job comes as a message: workerData carries the entry when run from the TypeScript sources.
parentPort!.once('message', (job: ExtractJob) => void run(job).then((result) => parentPort!.postMessage(result)));
