/**
 * The tensor engine in headless Chromium, on a page served without and with cross-origin isolation: the backend
 * it reports (fast WebAssembly SIMD kernels either way; an ordinary memory on the plain page), the one-time
 * console hint about COOP/COEP, and a representative part of the tensor suite (src/probe.ts): every result within
 * float32 rounding of the reference kernels, and bit for bit the bytes Node computes at the same thread count and
 * SIMD flavour, on one thread (page) and on two (a Web Worker pool inside a Web Worker).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeResult } from '../src/probe.js';
import { bundle, chromiumPath, launchChromium, modulePage, noChromiumReason, serve } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const haveChromium = chromiumPath() !== null;
if (!haveChromium) console.warn(`tensor.browser.test: skipped: ${noChromiumReason}`);

function nodeProbe(relaxed: boolean, threads = 1): ProbeResult {
  const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(here, 'probe-node.ts')], {
    env: { ...process.env, R: relaxed ? '1' : '0', THREADS: String(threads), OCLT_CPU: '' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as ProbeResult;
}

interface PageRun {
  probe: { plain: ProbeResult; relaxed: ProbeResult };
  console: { type: string; text: string }[];
}

describe.skipIf(!haveChromium)('tensor ops in headless Chromium', () => {
  let browser: Browser;
  let js: string;
  let workerPageJs: string;
  let workerJs: string;
  let nodePlain: ProbeResult;
  let nodeRelaxed: ProbeResult;
  let nodeRelaxed2: ProbeResult;
  beforeAll(async () => {
    js = await bundle(path.join(here, 'probe-page.ts'));
    workerPageJs = await bundle(path.join(here, 'probe-worker-page.ts'));
    workerJs = await bundle(path.join(here, 'probe-worker.ts'));
    browser = await launchChromium();
    nodePlain = nodeProbe(false);
    nodeRelaxed = nodeProbe(true);
    nodeRelaxed2 = nodeProbe(true, 2);
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function runPage(isolated: boolean, inWorker = false): Promise<PageRun> {
    const files: Record<string, [string, string]> = { '/index.html': ['text/html', modulePage()], '/main.js': ['text/javascript', inWorker ? workerPageJs : js], '/worker.js': ['text/javascript', workerJs] };
    const server = await serve(files, isolated);
    const page = await browser.newPage();
    const messages: { type: string; text: string }[] = [];
    page.on('console', (m) => messages.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => messages.push({ type: 'pageerror', text: e.message }));
    page.on('worker', (wk) => wk.on('console', (m) => messages.push({ type: m.type(), text: `[worker] ${m.text()}` })));
    try {
      await page.goto(server.url);
      await page.waitForFunction(() => (globalThis as { __probe?: unknown; __probeError?: string }).__probe || (globalThis as { __probeError?: string }).__probeError, null, { timeout: 180_000 });
      const error = await page.evaluate(() => (globalThis as { __probeError?: string }).__probeError);
      if (error) throw new Error(`probe failed in Chromium: ${error}`);
      const probe = (await page.evaluate(() => (globalThis as { __probe?: unknown }).__probe)) as PageRun['probe'];
      return { probe, console: messages };
    } finally {
      await page.close();
      await server.close();
    }
  }

  function expectSameAsNode(got: ProbeResult, want: ProbeResult): void {
    expect(got.cases.map((c) => c.name)).toEqual(want.cases.map((c) => c.name));
    for (let i = 0; i < got.cases.length; i++) {
      const g = got.cases[i]!;
      expect(g.relErr, `${g.name}: error against the reference kernels`).toBeLessThan(1e-5);
      expect(g.hash, `${g.name}: bytes (Chromium vs Node, ${got.info} vs ${want.info})`).toBe(want.cases[i]!.hash);
    }
  }

  it('a page without cross-origin isolation runs the SIMD kernels on one thread over an ordinary memory, bit for bit as Node', async () => {
    const run = await runPage(false);
    expect(run.probe.plain.crossOriginIsolated).toBe(false);
    expect(run.probe.plain.info).toBe('cpu:wasm-simd x1 thread (unshared memory: page not cross-origin isolated; serve the page with COOP/COEP headers for threads)');
    expect(run.probe.relaxed.info).toMatch(/^cpu:wasm-simd(\(relaxed\))? x1 thread \(unshared memory: page not cross-origin isolated;/);
    const hints = run.console.filter((m) => m.text.includes('Cross-Origin-Opener-Policy: same-origin') && m.text.includes('Cross-Origin-Embedder-Policy: require-corp'));
    expect(hints).toHaveLength(1);
    expect(run.console.filter((m) => m.type === 'error' || m.type === 'pageerror')).toEqual([]);
    expect(nodePlain.info).toBe('cpu:wasm-simd x1 thread');
    expectSameAsNode(run.probe.plain, nodePlain);
    // Chromium has relaxed SIMD without a flag; Node 20 gets it through V8's flag (R=1 in the child).
    expect(run.probe.relaxed.info).toContain('(relaxed)');
    expect(nodeRelaxed.info).toBe('cpu:wasm-simd(relaxed) x1 thread');
    expectSameAsNode(run.probe.relaxed, nodeRelaxed);
  });

  it('a cross-origin isolated page has a shared memory, says so, and gives the same bytes', async () => {
    const run = await runPage(true);
    expect(run.probe.plain.crossOriginIsolated).toBe(true);
    expect(run.probe.plain.info).not.toContain('unshared');
    expect(run.probe.plain.info).toMatch(/^cpu:wasm-simd x1 thread \(a page's main thread cannot block on workers/);
    expect(run.console.filter((m) => m.text.includes('Cross-Origin-Opener-Policy'))).toEqual([]);
    expect(run.console.filter((m) => m.type === 'error' || m.type === 'pageerror')).toEqual([]);
    expectSameAsNode(run.probe.plain, nodePlain);
    expectSameAsNode(run.probe.relaxed, nodeRelaxed);
  });

  it('a Web Worker of a cross-origin isolated page runs two threads (a Web Worker pool), bit for bit as Node on one and two', async () => {
    const run = await runPage(true, true);
    expect(run.probe.plain.crossOriginIsolated).toBe(true);
    expect((run.probe as unknown as { plainThreads: number }).plainThreads).toBe(2);
    expect(run.probe.plain.info).toBe('cpu:wasm-simd x2 threads');
    expect(run.probe.relaxed.info).toBe('cpu:wasm-simd(relaxed) x2 threads');
    expect(run.console.filter((m) => m.type === 'error' || m.type === 'pageerror' || m.type === 'warning')).toEqual([]);
    expect(nodeRelaxed2.info).toBe('cpu:wasm-simd(relaxed) x2 threads');
    expectSameAsNode(run.probe.plain, nodePlain);
    expectSameAsNode(run.probe.relaxed, nodeRelaxed);
    expectSameAsNode(run.probe.relaxed, nodeRelaxed2);
  });
});
