/** Chromium's side of browser-vs-node.ts: the cases on this page's main thread, or (?worker) in a Web Worker. */
import * as cases from './cases.js';

type Cmd = { cmd: 'setup'; threads: number } | { cmd: 'matmul' } | { cmd: 'unet' };

async function answer(c: Cmd): Promise<unknown> {
  if (c.cmd === 'setup') return cases.setup(c.threads);
  if (c.cmd === 'matmul') return { ms: cases.matmulSample(), fallbacks: cases.fallbacks() };
  return { ms: cases.unetSample(), fallbacks: cases.fallbacks() };
}

const isWorker = typeof document === 'undefined';
if (isWorker) {
  self.onmessage = async (e: MessageEvent<Cmd>) => postMessage(await answer(e.data));
} else if (new URLSearchParams(location.search).has('worker')) {
  const w = new Worker('/main.js', { type: 'module' });
  let pending: ((v: unknown) => void) | null = null;
  w.onmessage = (e) => pending?.(e.data);
  (globalThis as unknown as { bench: (c: Cmd) => Promise<unknown> }).bench = (c) => new Promise((r) => ((pending = r), w.postMessage(c)));
} else {
  (globalThis as unknown as { bench: (c: Cmd) => Promise<unknown> }).bench = answer;
}
