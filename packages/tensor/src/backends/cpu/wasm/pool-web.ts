/**
 * The browser's side of the thread pool: Web Workers started from a Blob URL that runs `WORKER_BODY`, the init
 * data (the compiled module and the shared memory) arriving by postMessage. Offered only where it can work:
 * - the memory must be shared, so the context must be cross-origin isolated (COOP/COEP headers);
 * - the caller blocks in Atomics.wait while helpers run (pool.ts), which browsers forbid on a page's main thread,
 *   so the spawner exists inside a Web Worker only: run training in a worker (the playground does) for threads;
 * - a new Web Worker starts only once its parent turns its event loop, so helpers are started in the background
 *   (`asyncStart`) and kernels use them once they run; `await cpuThreadsReady()` waits for them.
 */
import { WORKER_BODY, type WorkerInit, type WorkerSpawner } from './pool.js';

interface WebWorkerLike {
  postMessage(m: unknown): void;
  terminate(): void;
  onerror: ((e: { message?: string }) => void) | null;
}

/** Why no Web Worker pool here (null where `webWorkerSpawner` gives one). */
export function webWorkersUnavailable(): string | null {
  const g = globalThis as { Worker?: unknown; Blob?: unknown; URL?: { createObjectURL?: unknown }; crossOriginIsolated?: boolean; document?: unknown; WorkerGlobalScope?: unknown };
  if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || typeof g.URL?.createObjectURL !== 'function') return 'no Web Workers in this context';
  if (g.crossOriginIsolated !== true) return 'not cross-origin isolated';
  if (g.document !== undefined || g.WorkerGlobalScope === undefined) return "a page's main thread cannot block on workers (Atomics.wait); run tensor code in a Web Worker for threads";
  return null;
}

/** A spawner of Web Workers, or null where `webWorkersUnavailable` says why not. */
export function webWorkerSpawner(): WorkerSpawner | null {
  if (webWorkersUnavailable() !== null) return null;
  const g = globalThis as unknown as { Worker: new (url: string) => WebWorkerLike; Blob: new (parts: string[], opts: { type: string }) => Blob; URL: { createObjectURL(b: Blob): string } };
  const source = `let initData = null;\nconst getInit = () => initData;\nself.onmessage = (e) => { self.onmessage = null; initData = e.data; run(); };\nfunction run() {\n${WORKER_BODY}\n}\n`;
  const url = g.URL.createObjectURL(new g.Blob([source], { type: 'text/javascript' }));
  return {
    // A Web Worker starts only once its parent returns to its event loop: never wait for one synchronously.
    asyncStart: true,
    spawn(init: WorkerInit) {
      const w = new g.Worker(url);
      w.onerror = (e) => console.error(`oclt cpu worker failed: ${e.message ?? 'unknown error'}`);
      w.postMessage(init);
      return { terminate: () => w.terminate() };
    },
  };
}
