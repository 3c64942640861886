/**
 * The runtime of the fast cpu kernels: one emitted WebAssembly module, one shared memory, its allocator, and the
 * thread pool.
 *
 * Memory map (bytes): [0, 64 KiB) the thread pool's board (pool.ts); then one GEMM scratch area per thread;
 * then the heap (heap.ts), grown on demand. Addresses stay below 2 GiB so signed i32 comparisons in the kernels
 * are safe.
 *
 * The memory is shared (a SharedArrayBuffer: what worker threads need) wherever the engine allows it. A browser
 * page that is not cross-origin isolated has no SharedArrayBuffer; there the kernels run on one thread over an
 * ordinary memory of a fixed size (`unsharedMemoryBytes`), reserved once and never grown: growing an ordinary
 * memory detaches its buffer, which would leave every tensor stored in it (and every view a kernel holds) empty.
 * An op that does not fit runs on the reference kernels, as it does beyond 2 GiB in a shared memory. The kernels
 * are the same bytes either way, so results are bitwise the same as on a shared memory with one thread.
 *
 * The heap holds two kinds of blocks. Scratch (`alloc`, `put`) lives until the next kernel call's `reset`.
 * Results (`output` + `result`) become tensor storage: the next op reads them in place (`put` of a heap array
 * copies nothing), and they are freed when the storage is released (`tidy`, `dispose`) or, as a backstop, when
 * the garbage collector finds the storage unreachable. Results take at most `storageLimit` bytes; beyond it a
 * result is copied out to ordinary memory as before, so a program that never releases anything still runs (and is
 * told once, by a console warning, how to keep its results in the fast memory: tidy or dispose).
 *
 * An op whose operands and scratch do not fit in the memory at all throws `KernelMemoryFull` from `alloc`; the
 * kernel registry (index.ts) then runs the reference kernel instead, so large tensors give the right answer.
 */
import { ModuleBuilder } from './emitter.js';
import { DEFAULT_BLOCKING, emitGemmFunctions, gemmScratchBytes } from './gemm-emit.js';

const GEMM_SCRATCH_BYTES = gemmScratchBytes(DEFAULT_BLOCKING);
import { emitConvFunctions } from './conv-emit.js';
import { emitVectorFunctions } from './vector-emit.js';
import { argsOf, BOARD_BYTES, ThreadPool, type Call, type WorkerSpawner } from './pool.js';
import { HeapAllocator, heapBuffers, sizeClass } from './heap.js';
import type { Storage } from '../../../backend.js';
import type { Shape } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { fromStorage, fromTypedArray } from '../../../kernel-util.js';

/** Default bound on the bytes of results kept in the heap (env OCLT_CPU_HEAP_MB overrides; see `cpuHeapLimit`). */
export const DEFAULT_STORAGE_LIMIT = 1024 * 2 ** 20;

interface Block {
  p: number;
  bytes: number;
  freed: boolean;
}

const PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB
/** The least the memory grows by when it has to (see `ensure`). */
const GROW_MIN_BYTES = 16 * 2 ** 20;
/** `ahead: false` grows the memory by just what is needed (the former policy; for before/after benchmarks). */
export const memoryGrowth = { ahead: true };
/** The most bytes the kernels' memory can have (WebAssembly memory of 32-bit addresses, signed comparisons). */
export const MAX_MEMORY_BYTES = MAX_PAGES * PAGE;

/** An op needs more of the kernels' memory than there is: the caller falls back to the reference kernels. */
export class KernelMemoryFull extends Error {
  constructor(
    readonly bytes: number,
    inUse: number,
  ) {
    super(`cpu wasm kernels: need ${bytes} more bytes of memory, beyond the kernels' memory limit (${inUse} bytes in use)`);
    this.name = 'KernelMemoryFull';
  }
}

/** Whether the "results fill the kernels' memory" warning was given (once per process). */
let warnedFull = false;
/** Lets the warning be given again (for tests). */
export function rearmResultsFullWarning(): void {
  warnedFull = false;
}
export const resultsFullWarning =
  "oclt cpu kernels: tensor results fill the fast kernels' memory (cpuResultLimit / OCLT_CPU_HEAP_MB); later results are copied to ordinary arrays, which is slower. " +
  'Release what you no longer need: run each step inside tidy(() => { ... }), or dispose() tensors. Results no longer referenced are also freed by the garbage collector, ' +
  'but only between turns of the event loop (an await of a timer, say), never inside one synchronous loop.';
const CTRL_BYTES = BOARD_BYTES;
export const MAX_THREADS = 16;

export type WasmExports = Record<string, (...args: number[]) => number | void>;

/** True where the engine accepts relaxed SIMD (f32x4.relaxed_madd). */
export function relaxedSimdSupported(): boolean {
  const m = new ModuleBuilder();
  const f = m.func('t', ['v128', 'v128', 'v128'], ['v128']);
  f.get(f.param(0)).get(f.param(1)).get(f.param(2)).op('f32x4.relaxed_madd');
  m.export(f);
  try {
    return WebAssembly.validate(m.encode());
  } catch {
    return false;
  }
}

function simdProbe(shared: boolean): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  m.importMemory({ module: 'env', name: 'memory', initialPages: 1, maximumPages: 1, shared });
  const f = m.func('t', ['i32'], ['v128']);
  f.get(f.param(0)).op('v128.load');
  m.export(f);
  return m.encode();
}

/** True where the engine accepts fixed-width SIMD on an ordinary (unshared) memory (Node >= 16, current browsers). */
export function simdSupported(): boolean {
  try {
    return typeof WebAssembly !== 'undefined' && WebAssembly.validate(simdProbe(false));
  } catch {
    return false;
  }
}

/**
 * Why the kernels cannot have a shared memory here, or null where they can: a shared WebAssembly.Memory needs
 * SharedArrayBuffer, which browsers give only to cross-origin isolated pages (COOP/COEP headers).
 */
export function sharedMemoryUnavailable(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (g.crossOriginIsolated === false) return 'page not cross-origin isolated';
  if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer';
  try {
    if (!WebAssembly.validate(simdProbe(true))) return 'engine rejects shared memory';
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return `shared memory failed (${e instanceof Error ? e.message : String(e)})`;
  }
  return null;
}

/**
 * The fixed size of an ordinary (unshared) kernels' memory: room for the board, the scratch areas, `results`
 * bytes of results and 256 MiB of scratch, at most 2 GiB, in whole pages.
 */
export function unsharedMemoryBytes(heapBase: number, results: number): number {
  const want = Math.min(MAX_MEMORY_BYTES, heapBase + results + 256 * 2 ** 20);
  return Math.ceil(want / PAGE) * PAGE;
}

const align64 = (n: number) => (n + 63) & ~63;

export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly exports: WasmExports;
  private readonly heap: HeapAllocator;
  /** Scratch blocks of the current kernel call, freed by the next `reset`. */
  private scratchBlocks: number[] = [];
  /** Result blocks handed out by `output` and not yet wrapped by `result`. */
  private readonly pending = new Map<number, Block>();
  private readonly ownBuffers = new WeakSet<ArrayBufferLike>();
  private readonly backstop = new FinalizationRegistry<Block>((b) => this.freeResult(b));
  /** Bytes of live result blocks, and their bound. */
  storageBytes = 0;
  storageLimit = DEFAULT_STORAGE_LIMIT;
  /** The most `storageBytes` has been. */
  peakStorageBytes = 0;
  /** Views of the whole memory, remade when it grows (memory.buffer is a fresh object each time we ask). */
  private bytesSeen = 0;
  private f32All: Float32Array = new Float32Array(0);
  private f64All: Float64Array = new Float64Array(0);
  private pool: ThreadPool | null = null;
  /** Threads used by kernels, the calling one included. */
  threads = 1;
  /** The most threads this runtime can use (1 on an unshared memory). */
  readonly maxThreads: number;
  /** Whether the memory is a shared one (worker threads possible). */
  readonly shared: boolean;

  /** Bytes the memory may span: 2 GiB when shared (grown on demand), its fixed size when not. */
  readonly memoryLimit: number;

  /**
   * @param memory `shared: false` for an ordinary memory (one thread; a page without cross-origin isolation) of
   *   `bytes` (default `unsharedMemoryBytes(.., DEFAULT_STORAGE_LIMIT)`; halved down to 32 MiB while the engine
   *   refuses to reserve it)
   */
  constructor(
    readonly relaxed: boolean,
    maxThreads: number,
    private spawner: WorkerSpawner | null,
    memory: { shared: boolean; bytes?: number } = { shared: true },
  ) {
    this.shared = memory.shared;
    if (!this.shared) {
      maxThreads = 1;
      this.spawner = null;
    }
    this.maxThreads = maxThreads;
    const scratchBytes = align64(GEMM_SCRATCH_BYTES);
    const heapBase = CTRL_BYTES + maxThreads * scratchBytes;
    let initialPages = Math.ceil((heapBase + 16 * 2 ** 20) / PAGE);
    let maximumPages = MAX_PAGES;
    if (this.shared) {
      this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    } else {
      let pages = Math.ceil((memory.bytes ?? unsharedMemoryBytes(heapBase, DEFAULT_STORAGE_LIMIT)) / PAGE);
      pages = Math.max(Math.ceil((heapBase + 2 ** 20) / PAGE), Math.min(MAX_PAGES, pages));
      let made: WebAssembly.Memory | null = null;
      for (;;) {
        try {
          made = new WebAssembly.Memory({ initial: pages, maximum: pages });
          break;
        } catch (e) {
          const floor = Math.ceil((heapBase + 32 * 2 ** 20) / PAGE);
          if (pages <= floor) throw e;
          pages = Math.max(floor, Math.floor(pages / 2));
        }
      }
      this.memory = made!;
      initialPages = maximumPages = pages;
    }
    this.memoryLimit = maximumPages * PAGE;
    const mb = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initialPages, maximumPages, shared: this.shared });
    emitGemmFunctions(mb, relaxed);
    emitConvFunctions(mb);
    emitVectorFunctions(mb, relaxed);
    this.module = new WebAssembly.Module(mb.encode());
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as WasmExports;
    this.refreshViews();
    this.heap = new HeapAllocator(heapBase, this.memoryLimit, (top) => this.ensure(top));
  }

  /** GEMM scratch of thread t. */
  scratch(t: number): number {
    return CTRL_BYTES + t * align64(GEMM_SCRATCH_BYTES);
  }

  /** Frees the scratch of the previous kernel call (call at the start of every kernel). */
  reset(): void {
    for (const p of this.scratchBlocks) this.heap.free(p);
    this.scratchBlocks = [];
    for (const b of this.pending.values()) this.freeResult(b); // a kernel that failed before wrapping its result
    this.pending.clear();
  }

  /** `bytes` of scratch memory, 64-byte aligned, until the next `reset`. Returns the byte address. */
  alloc(bytes: number): number {
    const p = bytes <= this.heap.limit ? this.heap.alloc(bytes) : null;
    if (p === null) throw new KernelMemoryFull(bytes, this.heap.used);
    this.scratchBlocks.push(p);
    return p;
  }

  /**
   * Whether `bytes` more could fit in the memory, counting free blocks as usable (O(1); optimistic where free
   * memory is fragmented, which `alloc` then reports with KernelMemoryFull).
   */
  mayFit(bytes: number): boolean {
    return bytes <= this.heap.limit - this.heap.base - this.heap.used;
  }

  /** Bytes the heap may span (default: up to the 2 GiB of the memory); tests lower it to reach it cheaply. */
  get heapCeiling(): number {
    return this.heap.limit - this.heap.base;
  }
  set heapCeiling(bytes: number) {
    this.heap.limit = this.heap.base + Math.min(bytes, this.memoryLimit - this.heap.base);
  }

  /**
   * Memory for a kernel's float32 result of n elements: a heap block that `result` turns into tensor storage
   * without copying, or scratch (copied out by `result`) when results already fill `storageLimit`.
   */
  output(n: number): number {
    const block = this.resultBlock(n);
    if (!block) return this.alloc(n * 4);
    this.pending.set(block.p, block);
    return block.p;
  }

  /** The tensor of `shape` over a result from `output` (wrapped in place when it is a heap block). */
  result(p: number, shape: Shape): Tensor {
    let n = 1;
    for (const d of shape) n *= d;
    const block = this.pending.get(p);
    if (!block) return fromTypedArray(this.copyOut(p, n), shape);
    this.pending.delete(p);
    return fromStorage(this.storageOf(block, n), shape);
  }

  /** New float32 tensor storage of n elements in the heap (contents undefined), or null beyond `storageLimit`. */
  allocStorage(n: number): Storage | null {
    const block = this.resultBlock(n);
    return block && this.storageOf(block, n);
  }

  private resultBlock(n: number): Block | null {
    const bytes = sizeClass(n * 4);
    if (n === 0) return null;
    if (this.storageBytes + bytes > this.storageLimit) {
      this.warnFull(bytes);
      return null;
    }
    const p = bytes <= this.heap.limit ? this.heap.alloc(bytes) : null;
    if (p === null) {
      this.warnFull(bytes);
      return null;
    }
    this.storageBytes += bytes;
    this.peakStorageBytes = Math.max(this.peakStorageBytes, this.storageBytes);
    return { p, bytes, freed: false };
  }

  /** Warns once when live results (not one huge result) are what fills the memory: the symptom of a loop without tidy. */
  private warnFull(bytes: number): void {
    if (warnedFull || this.storageBytes < Math.min(this.storageLimit, this.heapCeiling) / 2 || bytes > this.storageBytes) return;
    warnedFull = true;
    console.warn(resultsFullWarning);
  }

  private storageOf(block: Block, n: number): Storage {
    const storage: Storage = { backend: 'cpu', dtype: 'float32', length: n, data: this.f32(block.p, n), free: () => this.freeResult(block) };
    this.backstop.register(storage, block, block);
    return storage;
  }

  private freeResult(block: Block): void {
    if (block.freed) return;
    block.freed = true;
    this.backstop.unregister(block);
    this.heap.free(block.p);
    this.storageBytes -= block.bytes;
  }

  /**
   * Makes the memory at least `top` bytes long. It grows by at least an eighth of its size (and 16 MiB), not by just
   * what `top` needs: a loop that keeps its results (no tidy) moves the top at almost every result, and each grow
   * of a shared memory costs milliseconds (every thread's instance is told of it): measured 34 grows per step and
   * 28% of the step time in them (bench plain-loop). Pages grown but not yet used are address space, not RAM.
   */
  private ensure(top: number): void {
    if (top > this.bytesSeen) this.refreshViews();
    if (top > this.bytesSeen) {
      const need = Math.ceil((top - this.bytesSeen) / PAGE);
      const ahead = memoryGrowth.ahead ? Math.ceil(Math.max(this.bytesSeen / 8, GROW_MIN_BYTES) / PAGE) : 0;
      this.memory.grow(Math.max(need, Math.min(ahead, MAX_PAGES - this.bytesSeen / PAGE)));
      this.refreshViews();
    }
  }

  private refreshViews(): void {
    const buffer = this.memory.buffer;
    heapBuffers.add(buffer);
    this.ownBuffers.add(buffer);
    this.bytesSeen = buffer.byteLength;
    this.f32All = new Float32Array(buffer);
    this.f64All = new Float64Array(buffer);
  }

  /** The byte address of float32 values in memory: where they are, for a heap array, else a scratch copy. */
  put(values: Float32Array | ArrayLike<number>): number {
    if (values instanceof Float32Array && this.ownBuffers.has(values.buffer)) return values.byteOffset;
    const p = this.alloc(values.length * 4);
    this.f32All.set(values, p >> 2);
    return p;
  }

  /** A float32 view of memory at byte address p (valid until the memory grows). */
  f32(p: number, n: number): Float32Array {
    return this.f32All.subarray(p >> 2, (p >> 2) + n);
  }

  /** A copy of n float32 at byte address p, in an ordinary array outside the kernels' memory. */
  copyOut(p: number, n: number): Float32Array {
    // A fresh array filled by set() copies faster here than slice() of the shared memory (measured ~20%).
    const out = new Float32Array(n);
    out.set(this.f32All.subarray(p >> 2, (p >> 2) + n));
    return out;
  }

  /** A float64 view of memory at byte address p (8-byte aligned; valid until the memory grows). */
  f64(p: number, n: number): Float64Array {
    return this.f64All.subarray(p >> 3, (p >> 3) + n);
  }

  /**
   * Runs independent call lists on `threads` threads, the calling one included (pool.ts). Without worker
   * support (or if a worker fails to start) the lists run one after another here: the results are the same.
   */
  run(lists: readonly (readonly Call[])[]): void {
    const work = lists.filter((l) => l.length > 0);
    if (work.length > 1 && this.threads > 1 && this.spawner?.asyncStart) {
      // Web Workers: start them in the background (they run once this thread turns its event loop); until then,
      // and with fewer helpers than asked, the lists run on the helpers that are running, or here.
      void this.startHelpers();
      const helpers = Math.min(this.threads - 1, this.pool?.helpers ?? 0);
      if (helpers > 0) {
        this.pool!.run(work, helpers);
        return;
      }
    } else if (work.length > 1 && this.threads > 1 && this.spawner) {
      try {
        this.pool ??= new ThreadPool(this.spawner, this.module, this.memory, this.exports, 0, this.maxThreads - 1, (t) => this.scratch(t));
        this.pool.run(work, this.threads - 1);
        return;
      } catch (e) {
        if (!(e instanceof Error && e.message.includes('did not start'))) throw e;
        console.warn(`oclt cpu kernels: worker threads unavailable (${e.message}); running on one thread`);
        this.pool?.terminate();
        this.pool = null;
        this.spawner = null;
      }
    }
    for (const list of work) for (const c of list) this.exports[c.fn]!(...argsOf(c, this.scratch(0)));
  }

  private starting: Promise<void> | null = null;

  /**
   * Starts the helper threads now (up to `threads - 1`) and resolves when they run (at once where none are
   * needed, or where workers start synchronously, as in Node). With Web Workers, await this once before timing
   * work: until the helpers run, kernels run on the calling thread.
   */
  startHelpers(): Promise<void> {
    const spawner = this.spawner;
    if (!spawner || this.threads <= 1) return Promise.resolve();
    if (this.pool && this.pool.helpers >= this.threads - 1) return Promise.resolve();
    if (this.starting) return this.starting;
    this.pool ??= new ThreadPool(spawner, this.module, this.memory, this.exports, 0, this.maxThreads - 1, (t) => this.scratch(t));
    const pool = this.pool;
    this.starting = pool.startHelpers(this.threads - 1).then(
      () => {
        this.starting = null;
      },
      (e: unknown) => {
        this.starting = null;
        console.warn(`oclt cpu kernels: worker threads unavailable (${e instanceof Error ? e.message : String(e)}); running on one thread`);
        pool.terminate();
        if (this.pool === pool) this.pool = null;
        this.spawner = null;
      },
    );
    return this.starting;
  }

  /** Whether helpers start in the background (Web Workers), so fewer may run than `threads - 1` for a while. */
  get helpersStartAsync(): boolean {
    return this.spawner?.asyncStart === true;
  }

  /** Helper threads running now (the calling thread is not one). */
  get runningHelpers(): number {
    return this.pool?.helpers ?? 0;
  }

  terminate(): void {
    this.pool?.terminate();
    this.pool = null;
  }
}
