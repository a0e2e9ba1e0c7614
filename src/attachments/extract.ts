// A document's text, extracted on a worker thread (extract-worker.ts) with a deadline and a memory
// ceiling: a large PDF takes seconds of CPU, which must not be the event loop's, and a hostile one
// must end. Two at a time per process, a few more waiting; beyond that the upload is refused as
// busy, so uploads cannot queue up unbounded work. Text files are decoded here: UTF-8 is cheap.
import { Worker } from 'node:worker_threads';
import { workerEntry } from '../metering/count-pool';
import type { ExtractJob, ExtractResult } from './extract-worker';

export type { ExtractResult } from './extract-worker';

const AT_ONCE = 2;
const WAITING_MAX = 8;
export const EXTRACT_TIMEOUT_MS = 20_000;
/** The heap a worker may use: mammoth and pdf.js hold the document and its text, several times its size. */
const HEAP_MB = 512;

let running = 0;
const waiting: Array<() => void> = [];

/** The text of a PDF or DOCX; 'busy' when too many are being extracted; 'timeout' past the deadline. */
export async function extractText(job: ExtractJob): Promise<ExtractResult | { error: 'busy' | 'timeout' }> {
  if (running >= AT_ONCE) {
    if (waiting.length >= WAITING_MAX) return { error: 'busy' };
    await new Promise<void>((go) => waiting.push(go));
  }
  running++;
  try {
    return await inWorker(job);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function inWorker(job: ExtractJob): Promise<ExtractResult | { error: 'timeout' }> {
  const entry = workerEntry(__dirname, 'extract-worker');
  if (!entry) return Promise.resolve({ error: 'malformed' });
  const worker = new Worker(entry[0], { ...entry[1], resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } });
  return new Promise((done) => {
    let ended = false;
    const end = (result: ExtractResult | { error: 'timeout' }) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      void worker.terminate();
      done(result);
    };
    const deadline = setTimeout(() => end({ error: 'timeout' }), EXTRACT_TIMEOUT_MS);
    worker.once('message', (result: ExtractResult) => end(result));
    // Out of memory (a zip bomb) or a crash: the file is refused as unreadable.
    worker.once('error', () => end({ error: 'malformed' }));
    worker.once('exit', () => end({ error: 'malformed' }));
    const data = Uint8Array.from(job.data); // its own memory, handed over (a Buffer may share a pool)
    worker.postMessage({ ...job, data }, [data.buffer]);
  });
}
