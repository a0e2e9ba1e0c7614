// CSV per RFC 4180 (CRLF line ends; fields holding a comma, quote, CR or LF are quoted, quotes
// doubled), streamed a row at a time with backpressure, and safe to open in a spreadsheet: a text
// cell starting with = + - @, a tab or a CR is prefixed with ' so it is not run as a formula
// (OWASP "CSV injection"). Numbers are written as numbers: -500 is an amount, not a formula.
// A download starts with a UTF-8 byte order mark: without it Excel reads the file in the system's
// legacy code page and Chinese notes and usernames come out garbled.
import type { Response } from 'express';

export type Cell = string | number | null | undefined;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: Cell[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** Resolves when the socket can take more, or has closed; leaves no listener behind. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Starts a CSV download: status, headers, the byte order mark and the header row. The file name
 * may be Chinese: Express writes it RFC 6266 style, an ASCII fallback plus `filename*` in UTF-8.
 */
export function startCsv(res: Response, filename: string, header: string[], status = 200): void {
  res.status(status).attachment(filename).set('Content-Type', 'text/csv; charset=utf-8; header=present');
  res.write(`\uFEFF${csvLine(header)}`);
}

/**
 * Streams a CSV download: the header row, then each chunk `next(lastRow)` returns until an empty
 * one. Waits for the socket to drain when its buffer is full, and stops when the client goes away.
 */
export async function streamCsv<Row>(
  res: Response,
  filename: string,
  header: string[],
  next: (last: Row | undefined) => Row[] | Promise<Row[]>,
  toCells: (row: Row) => Cell[],
): Promise<void> {
  let gone = false;
  res.once('close', () => (gone = true));
  startCsv(res, filename, header);
  let last: Row | undefined;
  for (let chunk = await next(last); chunk.length > 0 && !gone; chunk = await next(last)) {
    for (const row of chunk) {
      if (!res.write(csvLine(toCells(row)))) await drained(res);
      if (gone) return;
    }
    last = chunk[chunk.length - 1];
  }
  res.end();
}
