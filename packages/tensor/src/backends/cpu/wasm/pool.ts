/**
 * The thread pool of the fast cpu kernels, written against a small worker interface so that Node's
 * worker_threads (pool-node.ts) and, later, a browser's Web Workers can carry it.
 *
 * Every worker instantiates the same compiled WebAssembly.Module on the same shared WebAssembly.Memory. A job is
 * a set of independent call lists (calls of exported functions with i32 arguments), written to a board in shared
 * memory. Lists are claimed, not assigned: the calling thread and the woken helpers take the next unclaimed list
 * until none is left, and the caller returns when all are done. A helper that wakes late (an idle vCPU on a VM
 * can take milliseconds to come back) then costs nothing: the caller has already run its lists. The results do
 * not depend on who runs a list, only on how the kernel cut the work.
 */

/** Board layout (Int32 indices): the header, then list offsets, then the calls (fn, nargs, args...). */
const WAKE = 0; // bumped to wake helpers
const CLAIM = 1; // job sequence << IDX_BITS | next unclaimed list
const DONE = 2; // lists finished
const ERROR = 3; // set when a list failed in a helper
const NLISTS = 4;
const READY = 5; // helpers started
/** Set in a call's argument-count word: append the running thread's scratch address (Call.scratch). */
const SCRATCH_FLAG = 1 << 16;
/** Where a worker announces that it runs (for a spawner that stands in for one, in tests). */
export const BOARD_READY_INDEX = READY;
const OFFSETS = 16;
const IDX_BITS = 12;
const IDX_MASK = (1 << IDX_BITS) - 1;
/** Lists in one job (the claim word holds the index in IDX_BITS bits). */
export const MAX_LISTS = IDX_MASK;
/** How long a new worker may take to start before the pool gives up on threads. */
const START_TIMEOUT_MS = 20_000;
export const BOARD_BYTES = 65536;
const BOARD_INTS = BOARD_BYTES / 4;

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte offset of the board. */
  board: number;
  /** Byte address of this worker's scratch area. */
  scratch: number;
  /** Export names, indexed by the function numbers written on the board. */
  names: string[];
}

/** What a platform must provide: start a worker that runs `WORKER_SOURCE` with `init` as its data. */
export interface WorkerSpawner {
  spawn(init: WorkerInit): { terminate(): void };
  /**
   * Workers start only while the spawning thread returns to its event loop (Web Workers): the pool then never
   * waits for one synchronously (it would wait forever); `startHelpers` starts them, and until they run, jobs run
   * on the calling thread (same results).
   */
  asyncStart?: boolean;
}

/**
 * The worker's program as source text (a platform wraps it: worker_threads `eval`, or a Blob URL). It receives
 * `init` through `getInit()`, provided by the wrapper. A claim is a compare-exchange on the claim word, so a
 * helper still looking at a finished job fails it (the job sequence changed) and claims nothing.
 */
export const WORKER_BODY = `
const init = getInit();
const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
const fns = init.names.map((n) => instance.exports[n]);
const ctrl = new Int32Array(init.memory.buffer, init.board, ${BOARD_INTS});
Atomics.add(ctrl, ${READY}, 1);
Atomics.notify(ctrl, ${READY});
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, ${WAKE}, seen);
  seen = Atomics.load(ctrl, ${WAKE});
  for (;;) {
    const c = Atomics.load(ctrl, ${CLAIM});
    const n = Atomics.load(ctrl, ${NLISTS});
    const list = c & ${IDX_MASK};
    if (list >= n) break;
    if (Atomics.compareExchange(ctrl, ${CLAIM}, c, c + 1) !== c) continue;
    try {
      const end = ctrl[${OFFSETS} + list + 1];
      for (let p = ctrl[${OFFSETS} + list]; p < end; ) {
        const f = ctrl[p++];
        const word = ctrl[p++];
        const nargs = word & ${SCRATCH_FLAG - 1};
        const args = [];
        for (let a = 0; a < nargs; a++) args.push(ctrl[p++]);
        if (word & ${SCRATCH_FLAG}) args.push(init.scratch);
        fns[f](...args);
      }
    } catch (e) {
      Atomics.store(ctrl, ${ERROR}, 1);
    }
    if (Atomics.add(ctrl, ${DONE}, 1) + 1 === n) Atomics.notify(ctrl, ${DONE});
  }
}
`;

export interface Call {
  fn: string;
  args: number[];
  /**
   * Append the scratch address of the thread that runs the call (a GEMM's packing buffers): lists are claimed
   * by whichever thread is free, so a call cannot name its thread's scratch itself.
   */
  scratch?: boolean;
}

/**
 * How many claimable pieces to cut work into for `threads` threads, `perThread` each (one piece on one thread):
 * with more pieces than threads, a thread that wakes late or runs slower ends up with fewer of them.
 */
export const claimablePieces = (threads: number, perThread: number) => (threads > 1 ? threads * perThread : 1);

/** The arguments a call runs with on the thread whose scratch area is at `scratch`. */
export const argsOf = (c: Call, scratch: number): number[] => (c.scratch ? [...c.args, scratch] : c.args);

export class ThreadPool {
  private readonly workers: { terminate(): void }[] = [];
  private readonly fnIndex: Map<string, number>;
  private readonly ctrl: Int32Array;
  private seq = 0;

  /**
   * @param boardBase byte offset of the board (BOARD_BYTES) in `memory`
   */
  constructor(
    private readonly spawner: WorkerSpawner,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly exportsByName: Record<string, (...args: number[]) => unknown>,
    private readonly boardBase: number,
    readonly maxHelpers: number,
    /** Scratch address of thread t (0: the calling thread, t >= 1: helper t). */
    private readonly scratchOf: (t: number) => number,
  ) {
    this.fnIndex = new Map(Object.keys(exportsByName).map((n, i) => [n, i]));
    this.ctrl = new Int32Array(memory.buffer, boardBase, BOARD_INTS);
    this.ctrl.fill(0);
  }

  /** How many helper workers are running (the calling thread is not one). */
  get helpers(): number {
    return this.workers.length;
  }

  /**
   * Starts helpers up to `n` (at most `maxHelpers`) and resolves when they run, waiting between checks on the
   * event loop (for a spawner whose workers start only then). Rejects if one does not start in time.
   */
  async startHelpers(n: number): Promise<void> {
    const names = [...this.fnIndex.keys()];
    while (this.workers.length < Math.min(n, this.maxHelpers)) {
      const before = this.workers.length;
      const worker = this.spawner.spawn({ module: this.module, memory: this.memory, board: this.boardBase, scratch: this.scratchOf(before + 1), names });
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Atomics.load(this.ctrl, READY) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      if (Atomics.load(this.ctrl, READY) === before) {
        worker.terminate();
        throw new Error('ThreadPool: a worker thread did not start');
      }
      this.workers.push(worker);
    }
  }

  private ensureHelpers(n: number): void {
    if (this.spawner.asyncStart) return; // started by startHelpers; jobs use those that run
    const names = [...this.fnIndex.keys()];
    while (this.workers.length < Math.min(n, this.maxHelpers)) {
      const before = this.workers.length;
      const worker = this.spawner.spawn({ module: this.module, memory: this.memory, board: this.boardBase, scratch: this.scratchOf(before + 1), names });
      // Wait for the worker to say it runs: one that failed to start would otherwise never answer.
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Atomics.load(this.ctrl, READY) === before && Date.now() < deadline) Atomics.wait(this.ctrl, READY, before, 50);
      if (Atomics.load(this.ctrl, READY) === before) {
        worker.terminate();
        throw new Error('ThreadPool: a worker thread did not start');
      }
      this.workers.push(worker);
    }
  }

  /**
   * Runs the independent call lists `lists` on this thread and up to `helpers` helper threads (at most
   * `maxHelpers`; by default one per list beyond the first), and returns when
   * all are done. Each list runs in order on one thread. Lists too long for the board run in several rounds,
   * each list keeping its order.
   */
  run(lists: readonly (readonly Call[])[], helpers = lists.length - 1): void {
    if (lists.length > MAX_LISTS) throw new Error(`ThreadPool: at most ${MAX_LISTS} call lists in one run, got ${lists.length}`);
    this.ensureHelpers(Math.min(helpers, lists.length - 1));
    const size = (c: Call) => 2 + c.args.length;
    const total = lists.reduce((a, l) => a + l.reduce((b, c) => b + size(c), 0), 0);
    if (OFFSETS + lists.length + 1 + total <= BOARD_INTS) return this.job(lists, helpers);
    // Rounds: from each list, the next calls that fit its share of the board.
    const share = Math.floor((BOARD_INTS - OFFSETS - lists.length - 1) / lists.length);
    const next = lists.map(() => 0);
    while (next.some((p, t) => p < lists[t]!.length)) {
      const round: Call[][] = [];
      lists.forEach((l, t) => {
        const part: Call[] = [];
        for (let used = 0; next[t]! < l.length && (part.length === 0 || used + size(l[next[t]!]!) <= share); next[t]!++) {
          if (size(l[next[t]!]!) > share) throw new Error(`ThreadPool: a call with ${l[next[t]!]!.args.length} arguments does not fit the board`);
          used += size(l[next[t]!]!);
          part.push(l[next[t]!]!);
        }
        if (part.length) round.push(part);
      });
      this.job(round, helpers);
    }
  }

  /** One job: writes the lists to the board, wakes helpers, claims lists here too, waits for the rest. */
  private job(lists: readonly (readonly Call[])[], helpers: number): void {
    const ctrl = this.ctrl;
    const n = lists.length;
    let p = OFFSETS + n + 1;
    for (let l = 0; l < n; l++) {
      ctrl[OFFSETS + l] = p;
      for (const c of lists[l]!) {
        const f = this.fnIndex.get(c.fn);
        if (f === undefined) throw new Error(`ThreadPool: no export '${c.fn}'`);
        ctrl[p++] = f;
        ctrl[p++] = c.args.length | (c.scratch ? SCRATCH_FLAG : 0);
        for (const a of c.args) ctrl[p++] = a;
      }
    }
    ctrl[OFFSETS + n] = p;
    Atomics.store(ctrl, NLISTS, n);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, ERROR, 0);
    // Publishing the claim word makes the board visible to helpers (the atomics order the plain writes above).
    this.seq = (this.seq + 1) & ((1 << (31 - IDX_BITS)) - 1);
    Atomics.store(ctrl, CLAIM, this.seq << IDX_BITS);
    const wake = Math.min(helpers, this.workers.length, n - 1);
    if (wake > 0) {
      Atomics.add(ctrl, WAKE, 1);
      Atomics.notify(ctrl, WAKE, wake);
    }
    let failure: unknown = null;
    for (;;) {
      const c = Atomics.load(ctrl, CLAIM);
      const list = c & IDX_MASK;
      if (list >= n) break;
      if (Atomics.compareExchange(ctrl, CLAIM, c, c + 1) !== c) continue;
      try {
        for (const call of lists[list]!) this.exportsByName[call.fn]!(...argsOf(call, this.scratchOf(0)));
      } catch (e) {
        failure ??= e;
      }
      Atomics.add(ctrl, DONE, 1);
    }
    for (let d = Atomics.load(ctrl, DONE); d < n; d = Atomics.load(ctrl, DONE)) Atomics.wait(ctrl, DONE, d);
    if (failure) throw failure;
    if (Atomics.load(ctrl, ERROR)) throw new Error('ThreadPool: a kernel failed in a worker thread');
  }

  terminate(): void {
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
