/**
 * The fast cpu kernels: WebAssembly SIMD128 emitted at run time (see emitter.ts), with worker threads.
 * They override the reference kernels of the cpu backend through the kernel registry; the reference kernels stay
 * the oracle and the fallback (float64 and integer tensors, and whatever has no fast kernel).
 *
 * Switches:
 * - env `OCLT_CPU_HEAP_MB` (or `cpuResultLimit(bytes)`) bounds the tensor results kept in the kernels' memory:
 *   a positive number of MiB up to 2048 (the WebAssembly memory's 2 GiB), checked at the first fast op.
 * - An op that does not fit in the kernels' memory (operands, result and scratch; a 1e9-element sum, say) runs
 *   on the reference kernels instead, with the same result: checked in O(1) before it starts, and if the memory
 *   still runs out during the op (fragmentation), its scratch is released and the reference kernel runs.
 * - env `OCLT_CPU=reference` (or `setCpuKernels('reference')`) runs the plain-TypeScript reference kernels only.
 * - `cpuThreads(n)` sets the thread count (default: all processors); results are bitwise the same for any n.
 * - relaxed-SIMD fused multiply-add in the GEMM (so conv2d) and in exp's polynomial (so sigmoid, silu, softmax):
 *   +23-85% on GEMMs in the kernels bench (2026-11-27). By default (`'auto'`) it is used where the engine
 *   accepted relaxed SIMD before this module set any flag: Node >= 22 and current Chromium do, Node 20 only behind
 *   V8's `--experimental-wasm-relaxed-simd` (a flag Node 24 no longer knows). Env `OCLT_RELAXED_SIMD=1` (or
 *   `setCpuKernels('fast', { relaxedSimd: true })`) also sets that flag at run time with `v8.setFlagsFromString`,
 *   a use Node's documentation calls unsupported, hence only on request; `OCLT_RELAXED_SIMD=0` (or
 *   `relaxedSimd: false`) keeps mul + add everywhere. FMA rounds once instead of twice, so results differ in the
 *   last bits between the two paths (never between thread counts).
 * - Threads: worker_threads in Node (pool-node.ts), Web Workers in a cross-origin isolated browser context that may
 *   block, i.e. inside a Web Worker (pool-web.ts; a page's main thread runs one thread and `info()` says why).
 * - The memory is shared where the engine allows it (Node; a cross-origin isolated page). A browser page without
 *   cross-origin isolation has no SharedArrayBuffer: the kernels then run on one thread over an ordinary memory of
 *   fixed size (runtime.ts), `info()` says so and why, and a one-time console message says how to get threads
 *   (the COOP/COEP headers). `setCpuKernels('fast', { sharedMemory: false })` (env `OCLT_CPU_SHARED_MEMORY=0`)
 *   chooses that memory anywhere, to test it in Node. Results are bitwise the same as a shared memory's on one thread.
 */
import { getBackend, registerKernels, type KernelFn, type KernelTable } from '../../../backend.js';
import type { KernelName } from '../../../kernel-names.js';
import type { Tensor } from '../../../tensor.js';
import { referenceKernels, setCpuStorageAllocator } from '../index.js';
import { isHeapArray } from './heap.js';
import { wasmConvKernels } from './conv.js';
import { wasmMatmul } from './gemm.js';
import { availableCores, enableRelaxedSimdFlag, nodeCollector, nodeWorkerSpawner } from './pool-node.js';
import { webWorkersUnavailable, webWorkerSpawner } from './pool-web.js';
import { DEFAULT_STORAGE_LIMIT, KernelMemoryFull, MAX_MEMORY_BYTES, MAX_THREADS, relaxedSimdSupported, sharedMemoryUnavailable, simdSupported, unsharedMemoryBytes, WasmRuntime } from './runtime.js';
import { smallOpLimits, wasmVectorKernels } from './vector.js';

export type CpuKernelMode = 'fast' | 'reference';

export interface CpuKernelOptions {
  /**
   * Relaxed-SIMD FMA in the GEMM and exp's polynomial: 'auto' (the default) where the engine accepted it before
   * any flag was set (Node >= 22), true also turning on V8's flag for it where needed (Node 20), false never.
   */
  relaxedSimd?: boolean | 'auto';
  /**
   * The kernels' memory: 'auto' (the default) shared where the engine allows it (needed for threads), false an
   * ordinary memory of fixed size on one thread (what a page without cross-origin isolation gets).
   */
  sharedMemory?: false | 'auto';
}

const env = (name: string): string | undefined => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

/** One runtime per SIMD flavour and memory kind, made on first use and kept (switching back and forth is then cheap). */
const runtimes = new Map<string, WasmRuntime>();
let mode: CpuKernelMode = 'reference';
const relaxedEnv = env('OCLT_RELAXED_SIMD');
let wantRelaxed: boolean | 'auto' = relaxedEnv === '1' ? true : relaxedEnv === '0' ? false : 'auto';
let wantShared: false | 'auto' = env('OCLT_CPU_SHARED_MEMORY') === '0' ? false : 'auto';

/** Why the kernels run on an ordinary memory (one thread), or null when the memory is shared. */
function unsharedReason(): string | null {
  if (wantShared === false) return 'sharedMemory: false';
  return sharedMemoryUnavailable();
}

/** Why a shared memory still runs one thread: no way to start workers here (null where there is one). */
let noSpawnerReason: string | null = null;

let toldThreads = false;
const threadsHint =
  'oclt cpu kernels: WebAssembly SIMD on one thread, because this page is not cross-origin isolated (no SharedArrayBuffer). ' +
  'For worker threads serve it with the headers "Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" (npm run playground does).';
let wantThreads: number | null = null;

/** The bound on results in force; null until asked (then env OCLT_CPU_HEAP_MB, validated, or the default). */
let resultLimit: number | null = null;

/** OCLT_CPU_HEAP_MB in bytes: a plain decimal number of MiB in (0, 2048]; anything else is an error naming it. */
export function parseHeapMb(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_STORAGE_LIMIT;
  const mb = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
  if (!(mb > 0 && mb * 2 ** 20 <= MAX_MEMORY_BYTES)) {
    throw new RangeError(`OCLT_CPU_HEAP_MB: expected a number of MiB greater than 0 and at most ${MAX_MEMORY_BYTES / 2 ** 20} (the fast kernels' WebAssembly memory holds 2 GiB), got ${JSON.stringify(raw)}`);
  }
  return Math.floor(mb * 2 ** 20);
}

function resultLimitInForce(): number {
  return (resultLimit ??= parseHeapMb(env('OCLT_CPU_HEAP_MB')));
}
/** Relaxed SIMD as the engine had it at first ask, and after turning on V8's flag for it (null: not asked yet). */
let nativeRelaxed: boolean | null = null;
let flaggedRelaxed: boolean | null = null;
let cores: number | null = null;

/**
 * Whether the GEMM uses relaxed SIMD. 'auto' follows what the engine accepted before this module touched any V8
 * flag (asked once), so it means the same all through a process; true turns the flag on first where needed.
 */
function relaxedInUse(): boolean {
  if (wantRelaxed === false) return false;
  nativeRelaxed ??= relaxedSimdSupported();
  if (wantRelaxed === 'auto' || nativeRelaxed) return nativeRelaxed;
  if (flaggedRelaxed === null) {
    enableRelaxedSimdFlag();
    flaggedRelaxed = relaxedSimdSupported();
  }
  return flaggedRelaxed;
}

function getRuntime(): WasmRuntime {
  const relaxed = relaxedInUse();
  const unshared = unsharedReason();
  cores ??= availableCores();
  const key = `${relaxed}/${unshared === null}`;
  let rt = runtimes.get(key);
  if (!rt) {
    const spawner = unshared === null ? (nodeWorkerSpawner() ?? webWorkerSpawner()) : null;
    noSpawnerReason = unshared === null && !spawner ? (webWorkersUnavailable() ?? 'no worker spawner for this platform') : null;
    const maxThreads = spawner ? Math.min(MAX_THREADS, Math.max(cores, wantThreads ?? 1)) : 1;
    const limit = resultLimitInForce();
    rt = new WasmRuntime(relaxed, maxThreads, spawner, unshared === null ? { shared: true } : { shared: false, bytes: unsharedMemoryBytes(0, limit) });
    rt.storageLimit = limit;
    if (heapCeiling !== null) rt.heapCeiling = heapCeiling;
    runtimes.set(key, rt);
    if (unshared === 'page not cross-origin isolated' && !toldThreads) {
      toldThreads = true;
      console.info(threadsHint);
    }
  }
  rt.threads = Math.min(rt.maxThreads, wantThreads ?? cores);
  return rt;
}

/** The fast kernels by name, each falling back to `referenceKernels` where it cannot help. */
function fastKernels(): Partial<KernelTable> {
  const fast: Partial<KernelTable> = {
    matmul: wasmMatmul(getRuntime, referenceKernels.matmul),
    ...wasmConvKernels(getRuntime),
    ...wasmVectorKernels(getRuntime),
  };
  return Object.fromEntries((Object.entries(fast) as [KernelName, KernelFn][]).map(([name, fn]) => [name, fitting(fn, referenceKernels[name])]));
}

/** The kernels the fast cpu kernels implement (the others stay the reference ones); builds nothing that runs. */
export function fastKernelNames(): KernelName[] {
  return Object.keys(fastKernels()) as KernelName[];
}

/** How many ops `fitting` sent to the reference kernels, by reason (read by tests: which path ran). */
export const fallbackCounts = { estimate: 0, backstop: 0 };

/** Elements of a tensor that an op would copy into the kernels' memory (none where it lies there already). */
const copiedIn = (t: Tensor) => (t.storage.data && isHeapArray(t.storage.data) ? 0 : t.size);

/**
 * `fast`, or `reference` where the op does not fit in the kernels' memory: the operands it would copy in plus a
 * result the size of its largest operand or of `attrs.shape` (an O(1) estimate made before anything is copied,
 * so a 1e9-element sum never grows the memory for nothing), and, as a backstop, wherever the memory runs out
 * during the op (scratch and pending results are released first). Typed as any kernel: `fast` and `reference`
 * are the two kernels of one name, which take the same attributes.
 */
function fitting(fast: KernelFn, reference: KernelFn): KernelFn {
  return (inputs, attrs) => {
    let elements = 0;
    let largest = 0;
    for (const t of inputs) {
      elements += copiedIn(t);
      largest = Math.max(largest, t.size);
    }
    const shape = (attrs as { shape?: unknown } | null)?.shape;
    let out = largest;
    if (Array.isArray(shape)) {
      out = 1;
      for (const d of shape) out *= d as number;
    }
    const rt = getRuntime();
    if (!rt.mayFit(4 * (elements + out))) {
      fallbackCounts.estimate++;
      return reference(inputs, attrs);
    }
    try {
      const out = fast(inputs, attrs);
      if (rt.storageBytes > rt.storageLimit * 0.75 || rt.storageBytes < rt.storageLimit * 0.5) collectionHint(rt);
      return out;
    } catch (e) {
      if (!(e instanceof KernelMemoryFull)) throw e;
      rt.reset();
      fallbackCounts.backstop++;
      return reference(inputs, attrs);
    }
  };
}

/**
 * Results of tensors the program has dropped are freed by the runtime's FinalizationRegistry, but only once V8 has
 * found them dead, which for storage objects that lived long enough to be promoted takes a major collection that
 * nothing prompts: the kernels' memory is invisible to V8's heuristics and the objects are small. Measured (bench
 * plain-loop): after a 300-step loop without tidy, 1 GiB of results stayed held after the loop and a turn of the
 * event loop, and all of it went back after one full collection. So when live results pass 3/4 of their bound,
 * one full collection is asked for at the next turn of the event loop (a timer; never inside the program's
 * synchronous code, and it keeps no process alive), whose finalizers then free what was dropped; asked again only
 * after results have fallen below half the bound (so live results that legitimately fill it cost one collection).
 * `collectionHints.enabled = false` turns it off (benchmarks); `collector` is replaced by tests.
 */
export const collectionHints: { enabled: boolean; asked: number; collector: (() => void) | null | undefined } = { enabled: true, asked: 0, collector: undefined };
let hintArmed = true;
let hintPending = false;
function collectionHint(rt: WasmRuntime): void {
  if (rt.storageBytes < rt.storageLimit * 0.5) {
    hintArmed = true;
    return;
  }
  if (!hintArmed || hintPending || !collectionHints.enabled) return;
  if (collectionHints.collector === undefined) collectionHints.collector = nodeCollector();
  const collect = collectionHints.collector;
  if (!collect) return;
  hintArmed = false;
  hintPending = true;
  collectionHints.asked++;
  const timer = setTimeout(() => {
    hintPending = false;
    collect();
  }, 0) as unknown as { unref?: () => void };
  timer.unref?.();
}

/** Lowers the bytes the kernels' heap may span (null: the whole 2 GiB memory), to test ops beyond it cheaply. */
let heapCeiling: number | null = null;
export function setKernelHeapCeilingForTests(bytes: number | null): void {
  heapCeiling = bytes;
  for (const rt of runtimes.values()) rt.heapCeiling = bytes ?? MAX_MEMORY_BYTES;
}

/** Chooses between the fast WebAssembly kernels and the plain-TypeScript reference kernels on the cpu backend. */
export function setCpuKernels(m: CpuKernelMode, opts: CpuKernelOptions = {}): void {
  if (m !== 'fast' && m !== 'reference') throw new Error(`setCpuKernels: mode must be 'fast' or 'reference', got ${JSON.stringify(m)}`);
  if (opts.sharedMemory !== undefined) {
    if (opts.sharedMemory !== false && opts.sharedMemory !== 'auto') throw new Error(`setCpuKernels: sharedMemory must be false or 'auto', got ${JSON.stringify(opts.sharedMemory)}`);
    wantShared = opts.sharedMemory;
  }
  if (opts.relaxedSimd !== undefined) {
    if (opts.relaxedSimd !== true && opts.relaxedSimd !== false && opts.relaxedSimd !== 'auto') throw new Error(`setCpuKernels: relaxedSimd must be true, false or 'auto', got ${JSON.stringify(opts.relaxedSimd)}`);
    wantRelaxed = opts.relaxedSimd;
  }
  registerKernels('cpu', referenceKernels);
  mode = m === 'fast' && simdSupported() ? 'fast' : 'reference';
  if (mode === 'fast') registerKernels('cpu', fastKernels());
  // Float32 tensors big enough for the fast kernels are made in their memory, so no op has to copy them in.
  setCpuStorageAllocator(mode === 'fast' ? (dtype, n) => (dtype === 'float32' && n >= smallOpLimits.memoryBound ? getRuntime().allocStorage(n) : null) : null);
  (getBackend('cpu') as { info: () => string }).info = cpuKernelsInfo;
}

/** Sets the number of threads the fast kernels use (the calling thread included); returns the count in force. */
export function cpuThreads(n?: number): number {
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new Error(`cpuThreads: expected an integer in 1..${MAX_THREADS}, got ${n}`);
    wantThreads = n;
    for (const [key, rt] of runtimes) {
      // A runtime sized for fewer threads is replaced (its scratch areas are laid out per thread); one on an
      // unshared memory has one thread whatever is asked.
      if (n > rt.maxThreads && rt.shared) {
        rt.terminate();
        runtimes.delete(key);
      }
    }
  }
  if (mode === 'reference') return 1;
  return getRuntime().threads;
}

/**
 * Resolves when the fast kernels' helper threads run (the count in force, the calling thread included). Node starts
 * its worker threads on first use anyway; a browser's Web Workers start only while their parent turns its event
 * loop, so a Web Worker that trains should await this once first (until then kernels run on fewer threads, with the
 * same results).
 */
export async function cpuThreadsReady(): Promise<number> {
  if (mode === 'reference') return 1;
  const rt = getRuntime();
  await rt.startHelpers();
  return Math.min(rt.threads, 1 + rt.runningHelpers);
}

/**
 * Sets how many bytes of tensor results the fast kernels may keep in their WebAssembly memory (default 1 GiB, or
 * env OCLT_CPU_HEAP_MB in MiB): a positive integer up to 2 GiB, the size of that memory. Beyond it results go to
 * ordinary arrays (one copy each). Returns the bound in force.
 */
export function cpuResultLimit(bytes?: number): number {
  if (bytes !== undefined) {
    if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes <= 0 || bytes > MAX_MEMORY_BYTES) {
      throw new RangeError(`cpuResultLimit: expected a whole number of bytes greater than 0 and at most ${MAX_MEMORY_BYTES} (2 GiB, the fast kernels' WebAssembly memory), got ${typeof bytes === 'string' ? JSON.stringify(bytes) : String(bytes)}`);
    }
    resultLimit = bytes;
    for (const rt of runtimes.values()) rt.storageLimit = bytes;
  }
  return resultLimitInForce();
}

/**
 * Memory of the fast kernels: bytes of live tensor results in it (and the most there have been), their bound, and
 * the memory's whole size.
 */
export function cpuMemoryInfo(): { resultBytes: number; peakResultBytes: number; resultLimit: number; memoryBytes: number } {
  if (mode === 'reference') return { resultBytes: 0, peakResultBytes: 0, resultLimit: resultLimitInForce(), memoryBytes: 0 };
  const rt = getRuntime();
  return { resultBytes: rt.storageBytes, peakResultBytes: rt.peakStorageBytes, resultLimit: resultLimitInForce(), memoryBytes: rt.memory.buffer.byteLength };
}

/**
 * What runs on the cpu backend, e.g. `cpu:wasm-simd x2 threads`, `cpu:reference (plain TypeScript)`, or, on a page
 * without cross-origin isolation, `cpu:wasm-simd x1 thread (unshared memory: page not cross-origin isolated; ...)`.
 */
export function cpuKernelsInfo(): string {
  if (mode === 'reference') return `cpu:reference (plain TypeScript${simdSupported() ? '' : '; this engine has no WebAssembly SIMD'})`;
  const r = getRuntime();
  const base = `cpu:wasm-simd${r.relaxed ? '(relaxed)' : ''} x${r.threads} thread${r.threads === 1 ? '' : 's'}`;
  if (!r.shared) {
    const why = unsharedReason() ?? 'unshared memory';
    const hint = why === 'sharedMemory: false' ? '' : '; serve the page with COOP/COEP headers for threads';
    return `${base} (unshared memory: ${why}${hint})`;
  }
  if (noSpawnerReason && r.threads === 1) return `${base} (${noSpawnerReason})`;
  if (r.helpersStartAsync && r.threads > 1 && r.runningHelpers < r.threads - 1) return `${base} (${r.runningHelpers + 1} running so far: workers still starting, or unavailable)`;
  return base;
}

/** Installs the kernels the environment asks for: fast unless OCLT_CPU=reference. */
export function initCpuKernels(): void {
  setCpuKernels(env('OCLT_CPU') === 'reference' ? 'reference' : 'fast');
}
