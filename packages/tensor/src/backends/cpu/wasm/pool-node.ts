/**
 * Node's side of the thread pool: worker_threads, reached through `process.getBuiltinModule` so that this file
 * has no static import of a Node built-in and a browser bundle can include the core without it (a browser
 * passes a Web Worker spawner instead). Workers are unref'ed: an idle pool never keeps the process alive.
 */
import { WORKER_BODY, type WorkerInit, type WorkerSpawner } from './pool.js';

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error', cb: (e: Error) => void): void;
}

/** A spawner for Node (>= 20.16, which has process.getBuiltinModule), or null elsewhere. */
export function nodeWorkerSpawner(): WorkerSpawner | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) return null;
  const wt = proc.getBuiltinModule('node:worker_threads') as { Worker: new (src: string, opts: object) => NodeWorker } | undefined;
  if (!wt) return null;
  return {
    spawn(init: WorkerInit) {
      // getBuiltinModule works whether Node runs the eval'd source as a script or as a module; the worker gets
      // no execArgv of ours (loaders, --input-type) since it runs plain JavaScript.
      const source = `const getInit = () => process.getBuiltinModule('node:worker_threads').workerData;\n${WORKER_BODY}`;
      const w = new wt.Worker(source, { eval: true, workerData: init, execArgv: [] });
      w.on('error', (e) => console.error(`oclt cpu worker failed: ${e.message}`));
      w.unref();
      return { terminate: () => void w.terminate() };
    },
  };
}

/** The number of processors Node reports (1 where unknown). */
export function availableCores(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number; cpus(): unknown[] } | undefined;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, os?.availableParallelism?.() ?? os?.cpus().length ?? nav?.hardwareConcurrency ?? 1);
}

/** Turns on V8's relaxed-SIMD flag (Node 20 ships it behind a flag). Returns false where that is impossible. */
export function enableRelaxedSimdFlag(): boolean {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = proc?.getBuiltinModule?.('node:v8') as { setFlagsFromString(s: string): void } | undefined;
  if (!v8) return false;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return true;
}

/**
 * A full garbage collection for Node: V8's `gc`, taken from globalThis where the process was started with
 * --expose-gc, else exposed at run time (V8's flag, read by the new context that hands it over); null elsewhere.
 */
export function nodeCollector(): (() => void) | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as () => void;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = proc?.getBuiltinModule?.('node:v8') as { setFlagsFromString(s: string): void } | undefined;
  const vm = proc?.getBuiltinModule?.('node:vm') as { runInNewContext(code: string): unknown } | undefined;
  if (!v8 || !vm) return null;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
