/** The process-wide zlib job limiter: at most `limit` jobs in flight, started in arrival order. */
import { Limiter, sharedLimiter } from '../../../lib/extensions/zlib-limiter';

/** Jobs that record their start and wait for the test to finish them. */
function harness(limit: number) {
  const limiter = new Limiter(limit);
  const started: number[] = [];
  const finishers = new Map<number, () => void>();
  let running = 0;
  let maxRunning = 0;
  const add = (id: number): void =>
    limiter.add((done) => {
      started.push(id);
      running++;
      maxRunning = Math.max(maxRunning, running);
      finishers.set(id, () => {
        running--;
        done();
      });
    });
  const finish = (id: number): void => {
    const f = finishers.get(id);
    if (f === undefined) throw new Error(`job ${id} has not started`);
    finishers.delete(id);
    f();
  };
  return { limiter, started, add, finish, get running() { return running; }, get maxRunning() { return maxRunning; } };
}

describe('Limiter', () => {
  test('at most `limit` jobs run at once; waiting ones start in arrival order as others finish', () => {
    const h = harness(2);
    for (let id = 1; id <= 6; id++) h.add(id);
    expect(h.started).toEqual([1, 2]);
    h.finish(2);
    expect(h.started).toEqual([1, 2, 3]);
    h.finish(1);
    expect(h.started).toEqual([1, 2, 3, 4]);
    h.finish(4);
    h.finish(3);
    expect(h.started).toEqual([1, 2, 3, 4, 5, 6]);
    h.finish(5);
    h.finish(6);
    expect(h.maxRunning).toBe(2);
    expect(h.running).toBe(0);
  });

  test('a limit of 1 runs jobs strictly one after another', () => {
    const h = harness(1);
    for (let id = 1; id <= 4; id++) h.add(id);
    for (let id = 1; id <= 4; id++) {
      expect(h.started).toEqual(Array.from({ length: id }, (_, i) => i + 1));
      h.finish(id);
    }
    expect(h.maxRunning).toBe(1);
  });

  test('calling done twice frees only one slot', () => {
    const limiter = new Limiter(1);
    const started: number[] = [];
    let firstDone: () => void = () => undefined;
    limiter.add((done) => {
      started.push(1);
      firstDone = done;
    });
    limiter.add(() => started.push(2));
    limiter.add(() => started.push(3));
    firstDone();
    firstDone();
    // Job 2 never calls done: job 3 must still wait.
    expect(started).toEqual([1, 2]);
  });

  test('jobs that finish synchronously let the queue drain in order', () => {
    const limiter = new Limiter(2);
    const order: number[] = [];
    for (let id = 1; id <= 50; id++) {
      limiter.add((done) => {
        order.push(id);
        done();
      });
    }
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('jobs finishing asynchronously keep the bound and the order', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from(
        { length: 30 },
        (_, id) =>
          new Promise<void>((resolve) =>
            limiter.add((done) => {
              order.push(id);
              running++;
              maxRunning = Math.max(maxRunning, running);
              setTimeout(() => {
                running--;
                done();
                resolve();
              }, (id * 7) % 5);
            }),
          ),
      ),
    );
    expect(maxRunning).toBe(3);
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  test('raising the limit takes effect for jobs started after the change', () => {
    const h = harness(1);
    for (let id = 1; id <= 4; id++) h.add(id);
    h.limiter.limit = 3;
    h.finish(1);
    expect(h.started).toEqual([1, 2, 3, 4]);
  });
});

describe('sharedLimiter', () => {
  test('one instance for the process; a positive limit updates it, others are ignored', () => {
    const a = sharedLimiter();
    expect(a.limit).toBe(10);
    expect(sharedLimiter(4)).toBe(a);
    expect(a.limit).toBe(4);
    sharedLimiter(0);
    sharedLimiter(-1);
    sharedLimiter();
    expect(a.limit).toBe(4);
  });
});
