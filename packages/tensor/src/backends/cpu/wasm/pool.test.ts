/**
 * The thread pool on a tiny emitted module: every list runs exactly once and in order, more lists than threads,
 * jobs too large for the board (rounds), failures in any thread, and a helper that never wakes up (the calling
 * thread must then claim and run every list itself instead of waiting).
 */
import { describe, expect, it } from 'vitest';
import { ModuleBuilder } from './emitter.js';
import { BOARD_BYTES, BOARD_READY_INDEX, ThreadPool, type Call, type WorkerSpawner } from './pool.js';
import { nodeWorkerSpawner } from './pool-node.js';

/**
 * step(addr, k): mem[addr] = mem[addr] == k ? k + 1 : -1 (so a list of steps 0..n-1 leaves n iff it ran in
 * order). put(addr, v): mem[addr] = v. fail(): traps.
 */
function testModule() {
  const memory = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
  const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initialPages: 4, maximumPages: 4, shared: true });
  const step = m.func('step', ['i32', 'i32']);
  const [addr, k] = [step.param(0), step.param(1)];
  step.ifThen(() => step.get(addr).op('i32.load').get(k).op('i32.eq'), () => {
    step.get(addr).get(k).i32(1).op('i32.add').op('i32.store');
  }, () => {
    step.get(addr).i32(-1).op('i32.store');
  });
  m.export(step);
  const put = m.func('put', ['i32', 'i32']);
  put.get(put.param(0)).get(put.param(1)).op('i32.store');
  m.export(put);
  const fail = m.func('fail', []);
  fail.op('unreachable');
  m.export(fail);
  const module = new WebAssembly.Module(m.encode());
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Record<string, (...a: number[]) => unknown>;
  return { memory, module, exports, ints: new Int32Array(memory.buffer) };
}

const DATA = BOARD_BYTES; // counters live after the board
/** Stand-in scratch addresses: thread t's is 1000 + t. */
const scratchOf = (t: number) => 1000 + t;
/** `lists` lists of `len` in-order steps, list l on the counter at DATA + 4 l. */
const stepLists = (lists: number, len: number): Call[][] => Array.from({ length: lists }, (_, l) => Array.from({ length: len }, (_, k) => ({ fn: 'step', args: [DATA + 4 * l, k] })));

describe('ThreadPool', () => {
  const spawner = nodeWorkerSpawner()!;
  /** Runs `body` with a fresh module and a pool of up to `helpers` worker threads, terminated afterwards. */
  const withPool = (helpers: number, body: (t: ReturnType<typeof testModule>, pool: ThreadPool) => void) => {
    const t = testModule();
    const pool = new ThreadPool(spawner, t.module, t.memory, t.exports, 0, helpers, scratchOf);
    try {
      body(t, pool);
    } finally {
      pool.terminate();
    }
  };

  it('runs every list once, in order, with more lists than threads and in rounds past the board', () => {
    withPool(3, (t, pool) => {
      for (const [lists, len] of [[2, 1], [40, 3], [4, 2000], [200, 50]] as const) {
        t.ints.fill(0, DATA / 4, DATA / 4 + lists);
        // 4 x 2000 calls of 4 ints and 200 x 50 of them do not fit the 16K-int board: they run in rounds.
        pool.run(stepLists(lists, len), 3);
        expect([...t.ints.subarray(DATA / 4, DATA / 4 + lists)]).toEqual(new Array(lists).fill(len));
      }
      expect(pool.helpers).toBe(3);
    });
  });

  it("hands each call that asks for it the scratch address of the thread running it", () => {
    withPool(1, (t, pool) => {
      const lists = Array.from({ length: 64 }, (_, l) => [{ fn: 'put', args: [DATA + 4 * l], scratch: true }]);
      t.ints.fill(0, DATA / 4, DATA / 4 + 64);
      pool.run(lists);
      const seen = new Set(t.ints.subarray(DATA / 4, DATA / 4 + 64));
      expect([...seen].every((v) => v === 1000 || v === 1001)).toBe(true);
    });
  });

  it('reports a failure wherever the failing list ran, and keeps working', () => {
    withPool(1, (t, pool) => {
      for (let i = 0; i < 20; i++) expect(() => pool.run([[{ fn: 'fail', args: [] }], [{ fn: 'fail', args: [] }]])).toThrow();
      expect(() => pool.run([[{ fn: 'nope', args: [] }]])).toThrow(/no export 'nope'/);
      t.ints.fill(0, DATA / 4, DATA / 4 + 8);
      pool.run(stepLists(8, 5));
      expect([...t.ints.subarray(DATA / 4, DATA / 4 + 8)]).toEqual(new Array(8).fill(5));
    });
  });

  it('does not wait for a helper that never wakes: the calling thread claims every list', () => {
    const t = testModule();
    // A "helper" that says it started and then never looks at the board.
    const asleep: WorkerSpawner = {
      spawn(init) {
        Atomics.add(new Int32Array(init.memory.buffer, init.board, 64), BOARD_READY_INDEX, 1);
        return { terminate() {} };
      },
    };
    const pool = new ThreadPool(asleep, t.module, t.memory, t.exports, 0, 1, scratchOf);
    pool.run(stepLists(6, 10));
    expect([...t.ints.subarray(DATA / 4, DATA / 4 + 6)]).toEqual(new Array(6).fill(10));
    pool.run([[{ fn: 'put', args: [DATA], scratch: true }], [{ fn: 'put', args: [DATA + 4], scratch: true }]]);
    expect([t.ints[DATA / 4], t.ints[DATA / 4 + 1]]).toEqual([1000, 1000]);
  });
});
