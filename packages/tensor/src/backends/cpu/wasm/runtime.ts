/**
 * The runtime of the fast cpu kernels: one emitted WebAssembly module, one shared memory, a bump allocator
 * (arena) reset by every kernel call, and the thread pool.
 *
 * Memory map (bytes): [0, 64 KiB) control slots of the helper threads; then one GEMM scratch area per thread;
 * then the arena, grown on demand. Addresses stay below 2 GiB so signed i32 comparisons in the kernels are safe.
 */
import { ModuleBuilder } from './emitter.js';
import { DEFAULT_BLOCKING, emitGemmFunctions, gemmScratchBytes } from './gemm-emit.js';

const GEMM_SCRATCH_BYTES = gemmScratchBytes(DEFAULT_BLOCKING);
import { emitConvFunctions } from './conv-emit.js';
import { emitVectorFunctions } from './vector-emit.js';
import { SLOT_BYTES, ThreadPool, type Call, type WorkerSpawner } from './pool.js';

const PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB
const CTRL_BYTES = 65536;
export const MAX_THREADS = Math.min(16, CTRL_BYTES / SLOT_BYTES);

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

/** True where the engine accepts fixed-width SIMD and shared memory (Node >= 16, current browsers). */
export function simdSupported(): boolean {
  const m = new ModuleBuilder();
  m.importMemory({ module: 'env', name: 'memory', initialPages: 1, maximumPages: 1, shared: true });
  const f = m.func('t', ['i32'], ['v128']);
  f.get(f.param(0)).op('v128.load');
  m.export(f);
  return typeof SharedArrayBuffer !== 'undefined' && WebAssembly.validate(m.encode());
}

const align64 = (n: number) => (n + 63) & ~63;

export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly exports: WasmExports;
  private readonly arenaBase: number;
  private arenaTop: number;
  /** Views of the whole memory, remade when it grows (memory.buffer is a fresh object each time we ask). */
  private bytesSeen = 0;
  private f32All: Float32Array = new Float32Array(0);
  private f64All: Float64Array = new Float64Array(0);
  private pool: ThreadPool | null = null;
  /** Threads used by kernels, the calling one included. */
  threads = 1;

  constructor(
    readonly relaxed: boolean,
    readonly maxThreads: number,
    private spawner: WorkerSpawner | null,
  ) {
    const scratchBytes = align64(GEMM_SCRATCH_BYTES);
    this.arenaBase = CTRL_BYTES + maxThreads * scratchBytes;
    const initialPages = Math.ceil((this.arenaBase + 16 * 2 ** 20) / PAGE);
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    const mb = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initialPages, maximumPages: MAX_PAGES, shared: true });
    emitGemmFunctions(mb, relaxed);
    emitConvFunctions(mb);
    emitVectorFunctions(mb);
    this.module = new WebAssembly.Module(mb.encode());
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as WasmExports;
    this.arenaTop = this.arenaBase;
    this.refreshViews();
  }

  /** GEMM scratch of thread t. */
  scratch(t: number): number {
    return CTRL_BYTES + t * align64(GEMM_SCRATCH_BYTES);
  }

  /** Frees everything the arena handed out (call at the start of every kernel). */
  reset(): void {
    this.arenaTop = this.arenaBase;
  }

  /** `bytes` of arena memory, 64-byte aligned, growing the memory when needed. Returns the byte address. */
  alloc(bytes: number): number {
    const p = this.arenaTop;
    const top = p + align64(Math.max(bytes, 0));
    if (top > MAX_PAGES * PAGE) throw new Error(`cpu wasm kernels: need ${top} bytes of memory, more than the 2 GiB limit`);
    if (top > this.bytesSeen) this.refreshViews();
    if (top > this.bytesSeen) {
      this.memory.grow(Math.ceil((top - this.bytesSeen) / PAGE));
      this.refreshViews();
    }
    this.arenaTop = top;
    return p;
  }

  private refreshViews(): void {
    const buffer = this.memory.buffer;
    this.bytesSeen = buffer.byteLength;
    this.f32All = new Float32Array(buffer);
    this.f64All = new Float64Array(buffer);
  }

  /** Copies float32 values into fresh arena memory. */
  put(values: ArrayLike<number>): number {
    const p = this.alloc(values.length * 4);
    this.f32All.set(values, p >> 2);
    return p;
  }

  /** A float32 view of memory at byte address p (valid until the memory grows). */
  f32(p: number, n: number): Float32Array {
    return this.f32All.subarray(p >> 2, (p >> 2) + n);
  }

  /** A copy of n float32 at byte address p, in an ordinary (unshared) array. */
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
   * Runs per-thread call lists; list 0 runs on the calling thread. Without worker support (or if a worker
   * fails to start) the lists run one after another here: they are independent, so the results are the same.
   */
  run(perThread: readonly (readonly Call[])[]): void {
    const lists = perThread.filter((l, i) => i === 0 || l.length > 0);
    if (lists.length > 1 && this.spawner) {
      try {
        this.pool ??= new ThreadPool(this.spawner, this.module, this.memory, this.exports, 0, this.maxThreads - 1);
        this.pool.run(lists);
        return;
      } catch (e) {
        if (!(e instanceof Error && e.message.includes('did not start'))) throw e;
        console.warn(`oclt cpu kernels: worker threads unavailable (${e.message}); running on one thread`);
        this.pool?.terminate();
        this.pool = null;
        this.spawner = null;
      }
    }
    for (const list of lists) for (const c of list) this.exports[c.fn]!(...c.args);
  }

  terminate(): void {
    this.pool?.terminate();
    this.pool = null;
  }
}
