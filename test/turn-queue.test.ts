import { AdmitResult, QueueLimits, TurnQueue } from '../src/chat/turn-queue';

/** Lets every settled promise's callbacks run (admissions resolve asynchronously). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const never = () => new AbortController().signal;

async function admitted(result: Promise<AdmitResult>): Promise<() => void> {
  const r = await result;
  if (!r.ok) throw new Error(`expected admission, got ${r.reason}`);
  return r.release;
}

/** A queued turn whose outcome and reported positions the test can watch. */
function queued(queue: TurnQueue, userId: number, label = `u${userId}`) {
  const controller = new AbortController();
  const positions: number[] = [];
  const turn = {
    label,
    controller,
    positions,
    result: undefined as AdmitResult | undefined,
    settled: queue.admit(userId, {
      signal: controller.signal,
      // Every call is kept, so a report after admission or abort shows up in the exact-match checks.
      onPosition: (n) => positions.push(n),
    }),
  };
  void turn.settled.then((r) => (turn.result = r));
  return turn;
}

function limits(partial: Partial<QueueLimits>): QueueLimits {
  return { perUser: 3, global: 16, maxWaiting: 100, ...partial };
}

/** Runs the queue dry one slot at a time (global = 1), returning labels in admission order. */
async function serveOneByOne(holder: () => void, turns: ReturnType<typeof queued>[]): Promise<string[]> {
  const order: string[] = [];
  let release = holder;
  for (let i = 0; i < turns.length; i++) {
    release();
    await flush();
    const next = turns.filter((t) => t.result?.ok && !order.includes(t.label));
    expect(next).toHaveLength(1);
    order.push(next[0].label);
    release = (next[0].result as { release: () => void }).release;
  }
  release();
  return order;
}

describe('TurnQueue', () => {
  test('per-user cap — a turn beyond it is refused at once, not queued, and other users are unaffected', async () => {
    const queue = new TurnQueue(limits({ perUser: 2, global: 1 }));
    const first = await admitted(queue.admit(1, { signal: never() }));
    const second = queued(queue, 1);
    const onPosition = jest.fn();

    await expect(queue.admit(1, { signal: never(), onPosition })).resolves.toEqual({ ok: false, reason: 'per_user' });
    expect(onPosition).not.toHaveBeenCalled();
    expect(queue.stats()).toEqual({ running: 1, waiting: 1, users: 1 });

    const other = queued(queue, 2);
    expect(other.positions).toEqual([2]);

    first();
    await flush();
    expect(second.result?.ok).toBe(true);
    // Running and waiting both count: user 1 now has one running turn, so one more fits.
    const third = queued(queue, 1);
    expect(third.positions).toEqual([2]);
    await expect(queue.admit(1, { signal: never() })).resolves.toEqual({ ok: false, reason: 'per_user' });
  });

  test('global cap — 50 concurrent admits from 5 users never run more than `global` at once, and all finish', async () => {
    const global = 4;
    const queue = new TurnQueue({ perUser: 10, global, maxWaiting: 50 });
    let running = 0;
    let maxRunning = 0;
    let seed = 7;
    const nextYields = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 5;

    async function turn(userId: number): Promise<void> {
      const release = await admitted(queue.admit(userId, { signal: never() }));
      running++;
      maxRunning = Math.max(maxRunning, running);
      expect(queue.stats().running).toBeLessThanOrEqual(global);
      for (let i = nextYields(); i >= 0; i--) await flush(); // the upstream call
      running--;
      release();
    }

    await Promise.all(Array.from({ length: 50 }, (_, i) => turn((i % 5) + 1)));

    expect(maxRunning).toBe(global);
    expect(queue.stats()).toEqual({ running: 0, waiting: 0, users: 0 });
  });

  test('round-robin — waiting users take one turn each per round', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    const holder = await admitted(queue.admit(9, { signal: never() }));
    const turns = [
      queued(queue, 1, 'a1'),
      queued(queue, 1, 'a2'),
      queued(queue, 1, 'a3'),
      queued(queue, 2, 'b1'),
      queued(queue, 3, 'c1'),
      queued(queue, 3, 'c2'),
    ];

    expect(await serveOneByOne(holder, turns)).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
    expect(queue.stats()).toEqual({ running: 0, waiting: 0, users: 0 });
  });

  test('FIFO within a user — one user\'s turns are served in the order they arrived', async () => {
    const queue = new TurnQueue(limits({ perUser: 4, global: 1 }));
    const holder = await admitted(queue.admit(1, { signal: never() }));
    const turns = [queued(queue, 1, 'first'), queued(queue, 1, 'second'), queued(queue, 1, 'third')];

    expect(turns.map((t) => t.positions)).toEqual([[1], [2], [3]]);
    expect(await serveOneByOne(holder, turns)).toEqual(['first', 'second', 'third']);
  });

  test('positions — reported before waiting, decreasing to admission, never after it', async () => {
    const queue = new TurnQueue(limits({ global: 2 }));
    const holders = [await admitted(queue.admit(1, { signal: never() })), await admitted(queue.admit(2, { signal: never() }))];
    const [x, y, z] = [queued(queue, 3), queued(queue, 4), queued(queue, 5)];
    expect([x.positions, y.positions, z.positions]).toEqual([[1], [2], [3]]);

    holders[0]();
    await flush();
    expect(x.result?.ok).toBe(true);
    expect([y.positions, z.positions]).toEqual([[2, 1], [3, 2]]);

    holders[1]();
    await flush();
    expect(y.result?.ok).toBe(true);
    expect(z.positions).toEqual([3, 2, 1]);

    (x.result as { release: () => void }).release();
    await flush();
    expect(z.result?.ok).toBe(true);
    expect([x.positions, y.positions, z.positions]).toEqual([[1], [2, 1], [3, 2, 1]]);
  });

  test('positions — a newcomer joins the current round, so a user\'s later turn moves back one', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    await admitted(queue.admit(9, { signal: never() }));
    const [a1, a2] = [queued(queue, 1), queued(queue, 1)];
    const b1 = queued(queue, 2);
    expect([a1.positions, a2.positions, b1.positions]).toEqual([[1], [2, 3], [2]]);
  });

  test('positions — a callback that aborts another turn leaves everyone with their true place', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    const holder = await admitted(queue.admit(9, { signal: never() }));
    queued(queue, 4);
    void queue.admit(1, { signal: never(), onPosition: (n) => n === 1 && victim.controller.abort() });
    const victim = queued(queue, 2);
    const last = queued(queue, 3);

    holder(); // the first waiter is admitted; `reacting` moves to 1 and aborts `victim` mid-broadcast
    await flush();

    expect(victim.result).toEqual({ ok: false, reason: 'aborted' });
    expect(victim.positions).toEqual([3]);
    expect(last.positions).toEqual([4, 2]);
    expect(queue.stats()).toEqual({ running: 1, waiting: 2, users: 3 });
  });

  test('positions — a turn admitted at once is never told a position', async () => {
    const queue = new TurnQueue(limits({}));
    const onPosition = jest.fn();
    await admitted(queue.admit(1, { signal: never(), onPosition }));
    expect(onPosition).not.toHaveBeenCalled();
  });

  test('abort while waiting — the turn leaves at once, those behind move up, it is never admitted', async () => {
    const queue = new TurnQueue(limits({ perUser: 1, global: 1 }));
    const holder = await admitted(queue.admit(1, { signal: never() }));
    const [a, b, c] = [queued(queue, 2), queued(queue, 3), queued(queue, 4)];

    b.controller.abort();
    await expect(b.settled).resolves.toEqual({ ok: false, reason: 'aborted' });
    expect(c.positions).toEqual([3, 2]);
    expect(a.positions).toEqual([1]);
    expect(queue.stats()).toEqual({ running: 1, waiting: 2, users: 3 });

    // The aborted turn no longer counts against its user's cap.
    const again = queued(queue, 3);
    expect(again.positions).toEqual([3]);

    expect(await serveOneByOne(holder, [a, c, again])).toEqual(['u2', 'u4', 'u3']);
    expect(b.positions).toEqual([2]);
    expect(queue.stats()).toEqual({ running: 0, waiting: 0, users: 0 });
  });

  test('abort after admission — the slot stays taken until release()', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    const controller = new AbortController();
    const release = await admitted(queue.admit(1, { signal: controller.signal }));
    controller.abort();
    expect(queue.stats().running).toBe(1);
    release();
    expect(queue.stats().running).toBe(0);
  });

  test('release — calling it twice frees one slot, not two', async () => {
    const queue = new TurnQueue(limits({ global: 2 }));
    const first = await admitted(queue.admit(1, { signal: never() }));
    await admitted(queue.admit(2, { signal: never() }));
    const [c, d] = [queued(queue, 3), queued(queue, 4)];

    first();
    first();
    await flush();

    expect(c.result?.ok).toBe(true);
    expect(d.result).toBeUndefined();
    expect(queue.stats()).toEqual({ running: 2, waiting: 1, users: 3 });
  });

  test('release — a double release with nobody waiting does not make room for an extra turn', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    const release = await admitted(queue.admit(1, { signal: never() }));
    release();
    release();
    await admitted(queue.admit(2, { signal: never() }));
    const third = queued(queue, 3);
    expect(third.positions).toEqual([1]);
    expect(queue.stats()).toEqual({ running: 1, waiting: 1, users: 2 });
  });

  test('queue_full — beyond maxWaiting a turn is refused at once; room reopens when one leaves', async () => {
    const queue = new TurnQueue(limits({ global: 1, maxWaiting: 2 }));
    await admitted(queue.admit(1, { signal: never() }));
    const [a] = [queued(queue, 2), queued(queue, 3)];
    const onPosition = jest.fn();

    await expect(queue.admit(4, { signal: never(), onPosition })).resolves.toEqual({ ok: false, reason: 'queue_full' });
    expect(onPosition).not.toHaveBeenCalled();
    expect(queue.stats()).toEqual({ running: 1, waiting: 2, users: 3 });

    a.controller.abort();
    const late = queued(queue, 4);
    expect(late.positions).toEqual([2]);
  });

  test('already-aborted signal — refused as aborted without taking a slot or a place', async () => {
    const queue = new TurnQueue(limits({ global: 1 }));
    const onPosition = jest.fn();

    await expect(queue.admit(1, { signal: AbortSignal.abort(), onPosition })).resolves.toEqual({ ok: false, reason: 'aborted' });
    expect(queue.stats()).toEqual({ running: 0, waiting: 0, users: 0 });

    await admitted(queue.admit(2, { signal: never() }));
    await expect(queue.admit(3, { signal: AbortSignal.abort(), onPosition })).resolves.toEqual({ ok: false, reason: 'aborted' });
    expect(onPosition).not.toHaveBeenCalled();
    expect(queue.stats()).toEqual({ running: 1, waiting: 0, users: 1 });
  });

  test('callbacks — a throwing onPosition is reported and does not stop others hearing theirs', async () => {
    const errors: unknown[] = [];
    const queue = new TurnQueue(limits({ global: 1 }), (error) => errors.push(error));
    const holder = await admitted(queue.admit(1, { signal: never() }));
    const broken = queue.admit(2, {
      signal: never(),
      onPosition: () => {
        throw new Error('display broke');
      },
    });
    const fine = queued(queue, 3);

    holder();
    await expect(broken).resolves.toMatchObject({ ok: true });
    expect(fine.positions).toEqual([2, 1]);
    expect(errors).toEqual([new Error('display broke')]);
  });

  test('limits — nonsense limits are rejected when the queue is built', () => {
    expect(() => new TurnQueue({ perUser: 0, global: 1, maxWaiting: 1 })).toThrow(RangeError);
    expect(() => new TurnQueue({ perUser: 1, global: Number.NaN, maxWaiting: 1 })).toThrow(RangeError);
    expect(() => new TurnQueue({ perUser: 1, global: 1, maxWaiting: -1 })).toThrow(RangeError);
  });
});
