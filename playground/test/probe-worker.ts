/** The Web Worker side of tensor.browser.test.ts: the probe on two threads (a Web Worker pool when isolated). */
import { cpuThreads, cpuThreadsReady, setCpuKernels } from '@oclt/tensor';
import { runProbe } from '../src/probe.js';

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const [name, relaxedSimd] of [
    ['plain', false],
    ['relaxed', 'auto'],
  ] as const) {
    setCpuKernels('fast', { relaxedSimd });
    cpuThreads(2);
    out[`${name}Threads`] = await cpuThreadsReady(); // the helper Web Workers start while this one awaits
    out[name] = runProbe({ relaxedSimd, threads: 2 });
  }
  postMessage(out);
}
main().catch((e: unknown) => postMessage({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }));
