// LogSink: log lines on their way to stdout, bounded however slow (or stopped) the reader is.
import { Writable } from 'node:stream';
import { createLogger } from '../src/log';
import { LogSink } from '../src/log-sink';

/** A stdout whose reader takes each write only when told to (`release`), or never. */
function stalledOut() {
  const written: string[] = [];
  const waiting: (() => void)[] = [];
  const out = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      waiting.push(done);
    },
  });
  const release = async () => {
    while (waiting.length) {
      waiting.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { out, written, release, lines: () => written.join('').split('\n').filter(Boolean) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
/** Lines of one length, whatever n (up to 999). */
const line = (n: number) => `${JSON.stringify({ n, pad: 'x'.repeat(40 - String(n).length) })}\n`;
const LINE = line(0).length;

test('lines written in one tick go out together, in order', async () => {
  const stdout = stalledOut();
  const sink = new LogSink(stdout.out, 1_000_000);
  for (let n = 0; n < 5; n++) sink.write(line(n));
  await tick();
  expect(stdout.written).toHaveLength(1);
  await stdout.release();
  expect(stdout.lines().map((l) => JSON.parse(l).n)).toEqual([0, 1, 2, 3, 4]);
  expect(await sink.flushWithin(1000)).toBe(true);
  expect(sink.dropped).toBe(0);
});

test('a reader that stops reading: past the limit the oldest lines waiting are dropped and counted; the newest go out once it reads again, after a line saying how many are missing', async () => {
  const stdout = stalledOut();
  const drops: number[] = [];
  const gaps: number[] = [];
  const sink = new LogSink(stdout.out, 10 * LINE, { onDrop: (n) => drops.push(n), onGap: (n) => gaps.push(n) });
  sink.write(line(0));
  await tick(); // line 0 is in flight, and the reader has stopped
  for (let n = 1; n <= 100; n++) sink.write(line(n));
  expect(sink.dropped).toBe(90);
  expect(drops.reduce((a, b) => a + b, 0)).toBe(90);
  expect(sink.pending).toBe(11); // 10 waiting, 1 in flight
  expect(await sink.flushWithin(20)).toBe(false); // stuck: flushing gives up, and says so

  await stdout.release();
  expect(stdout.lines().map((l) => JSON.parse(l).n)).toEqual([0, ...Array.from({ length: 10 }, (_, i) => 91 + i)]);
  expect(gaps).toEqual([90]);
  expect(sink.pending).toBe(0);
});

test('with pino: a logger that logs through a stalled sink keeps only the newest lines', async () => {
  const stdout = stalledOut();
  const sink = new LogSink(stdout.out, 4096);
  const logger = createLogger('info', sink);
  for (let n = 0; n < 1000; n++) logger.info({ n }, 'request completed');
  await tick();
  logger.info({ n: 1000 }, 'request completed');
  expect(sink.dropped).toBeGreaterThan(900);
  await stdout.release();
  const seen = stdout.lines().map((l) => JSON.parse(l).n as number);
  expect(seen[seen.length - 1]).toBe(1000);
  expect(seen.length + sink.dropped).toBe(1001);
});

test('a failed write (EPIPE: the reader is gone) drops its lines, counted, and the server goes on', async () => {
  const out = new Writable({ write: (_chunk, _enc, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
  const sink = new LogSink(out, 1_000_000);
  sink.write(line(1));
  sink.write(line(2));
  await tick();
  await tick();
  expect(sink.dropped).toBe(2);
  expect(sink.pending).toBe(0);
  expect(await sink.flushWithin(1000)).toBe(true);
});

test('at exit, what waits is reported, never waited for, while a write is in flight', async () => {
  const stdout = stalledOut();
  const sink = new LogSink(Object.assign(stdout.out, { fd: 1 }), 1_000_000);
  sink.write(line(1));
  await tick();
  sink.write(line(2));
  expect(sink.writeOutAtExit()).toEqual({ dropped: 0, unwritten: 2 });
});
