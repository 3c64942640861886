/**
 * The thread pool of the fast cpu kernels, written against a small worker interface so that Node's
 * worker_threads (pool-node.ts) and, later, a browser's Web Workers can carry it.
 *
 * Every worker instantiates the same compiled WebAssembly.Module on the same shared WebAssembly.Memory. Work is
 * a list of calls of exported functions with i32 arguments per thread, written into the worker's control slot
 * in shared memory; the worker is woken with Atomics.notify and signals completion the same way. The calling
 * thread runs list 0 itself, so `threads` counts it.
 */

/** Control slot layout (Int32 indices): sequence number, done sequence, error flag, call count, ready, calls... */
const SEQ = 0;
const DONE = 1;
const ERROR = 2;
const COUNT = 3;
const READY = 4;
const CALLS = 5;
/** How long a new worker may take to start before the pool gives up on threads. */
const START_TIMEOUT_MS = 20_000;
export const SLOT_BYTES = 4096;
const SLOT_INTS = SLOT_BYTES / 4;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offset of this worker's control slot. */
  slot: number;
  /** Export names, indexed by the function numbers written into the slot. */
  names: string[];
}

/** What a platform must provide: start a worker that runs `WORKER_SOURCE` with `init` as its data. */
export interface WorkerSpawner {
  spawn(init: WorkerInit): { terminate(): void };
}

/**
 * The worker's program as source text (a platform wraps it: worker_threads `eval`, or a Blob URL). It receives
 * `init` through `getInit()`, provided by the wrapper.
 */
export const WORKER_BODY = `
const init = getInit();
const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
const fns = init.names.map((n) => instance.exports[n]);
const ctrl = new Int32Array(init.memory.buffer, init.slot, ${SLOT_INTS});
Atomics.store(ctrl, ${READY}, 1);
Atomics.notify(ctrl, ${READY});
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${SEQ}, seen);
  seen = Atomics.load(ctrl, ${SEQ});
  let err = 0;
  try {
    const n = ctrl[${COUNT}];
    let p = ${CALLS};
    for (let c = 0; c < n; c++) {
      const f = ctrl[p++];
      const nargs = ctrl[p++];
      const args = [];
      for (let a = 0; a < nargs; a++) args.push(ctrl[p++]);
      fns[f](...args);
    }
  } catch (e) {
    err = 1;
  }
  ctrl[${ERROR}] = err;
  Atomics.store(ctrl, ${DONE}, seen);
  Atomics.notify(ctrl, ${DONE});
}
`;

export interface Call {
  fn: string;
  args: number[];
}

export class ThreadPool {
  private readonly workers: { terminate(): void }[] = [];
  private readonly slots: Int32Array[] = [];
  private readonly fnIndex: Map<string, number>;

  /**
   * @param slotBase byte offset of `helpers` consecutive control slots in `memory`
   */
  constructor(
    private readonly spawner: WorkerSpawner,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly exportsByName: Record<string, (...args: number[]) => unknown>,
    private readonly slotBase: number,
    readonly maxHelpers: number,
  ) {
    this.fnIndex = new Map(Object.keys(exportsByName).map((n, i) => [n, i]));
  }

  /** How many helper workers are running (the calling thread is not one). */
  get helpers(): number {
    return this.workers.length;
  }

  private ensureHelpers(n: number): void {
    const names = [...this.fnIndex.keys()];
    while (this.workers.length < n) {
      if (this.workers.length >= this.maxHelpers) throw new Error(`ThreadPool: at most ${this.maxHelpers} helper threads`);
      const slot = this.slotBase + this.workers.length * SLOT_BYTES;
      const ctrl = new Int32Array(this.memory.buffer, slot, SLOT_INTS);
      ctrl.fill(0);
      const worker = this.spawner.spawn({ module: this.module, memory: this.memory, slot, names });
      // Wait for the worker to say it runs: one that failed to start would otherwise never answer.
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Atomics.load(ctrl, READY) === 0 && Date.now() < deadline) Atomics.wait(ctrl, READY, 0, 50);
      if (Atomics.load(ctrl, READY) === 0) {
        worker.terminate();
        throw new Error('ThreadPool: a worker thread did not start');
      }
      this.workers.push(worker);
      this.slots.push(ctrl);
    }
  }

  /**
   * Runs `perThread[0]` here and `perThread[t]` on helper t, and returns when all are done. Lists longer than a
   * control slot holds run in several rounds; each list keeps its order.
   */
  run(perThread: readonly (readonly Call[])[]): void {
    this.ensureHelpers(perThread.length - 1);
    const next = perThread.map(() => 0);
    while (next.some((p, t) => p < perThread[t]!.length)) this.round(perThread, next);
  }

  /** Runs from each list the calls that fit one slot, starting at next[t], and advances next[t]. */
  private round(perThread: readonly (readonly Call[])[], next: number[]): void {
    const started: number[] = [];
    let maxCount = 0;
    for (let t = 1; t < perThread.length; t++) {
      const calls = perThread[t]!;
      if (next[t]! >= calls.length) continue;
      const ctrl = this.slots[t - 1]!;
      let p = CALLS;
      let count = 0;
      for (; next[t]! < calls.length; next[t]!++, count++) {
        const c = calls[next[t]!]!;
        const f = this.fnIndex.get(c.fn);
        if (f === undefined) throw new Error(`ThreadPool: no export '${c.fn}'`);
        if (p + 2 + c.args.length > SLOT_INTS) break;
        ctrl[p++] = f;
        ctrl[p++] = c.args.length;
        for (const a of c.args) ctrl[p++] = a;
      }
      ctrl[COUNT] = count;
      maxCount = Math.max(maxCount, count);
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
      started.push(t - 1);
    }
    let failure: unknown = null;
    try {
      // The calling thread runs as many calls as the fullest helper got this round (all, if none started).
      const own = perThread[0] ?? [];
      const take = started.length === 0 ? own.length : maxCount;
      for (let i = 0; i < take && next[0]! < own.length; i++, next[0]!++) {
        const c = own[next[0]!]!;
        this.exportsByName[c.fn]!(...c.args);
      }
    } catch (e) {
      failure = e;
    }
    let workerFailed = false;
    for (const w of started) {
      const ctrl = this.slots[w]!;
      const seq = Atomics.load(ctrl, SEQ);
      for (;;) {
        const done = Atomics.load(ctrl, DONE);
        if (done === seq) break;
        Atomics.wait(ctrl, DONE, done);
      }
      if (ctrl[ERROR]) workerFailed = true;
    }
    if (failure) throw failure;
    if (workerFailed) throw new Error('ThreadPool: a kernel failed in a worker thread');
  }

  terminate(): void {
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
    this.slots.length = 0;
  }
}
