/**
 * The playground page in headless Chromium, built with Vite and served with the COOP/COEP headers (as
 * `npm run playground` serves it): the page loads, H2T with re-sampling trains a short run in its Web Worker, the
 * learned-score and samples canvases change, the backend the worker reports is the fast kernels, the main thread
 * stays responsive, and no console error appears. A screenshot goes to playground/screenshots/ (PLAYGROUND_SHOT
 * names another file, e.g. docs/figures/playground.png).
 */
import fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, noChromiumReason, serve } from './harness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const haveChromium = chromiumPath() !== null;
if (!haveChromium) console.warn(`playground.browser.test: skipped: ${noChromiumReason}`);

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png' };

function filesOf(dir: string, prefix = '/'): Record<string, [string, Buffer]> {
  const out: Record<string, [string, Buffer]> = {};
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) Object.assign(out, filesOf(p, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = [TYPES[path.extname(name)] ?? 'application/octet-stream', readFileSync(p)];
  }
  return out;
}

describe.skipIf(!haveChromium)('the playground page in headless Chromium', () => {
  let browser: Browser;
  let outDir: string;
  beforeAll(async () => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'oclt-playground-'));
    await build({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('trains H2T + re-sampling live in a worker, redraws the canvases, reports the fast kernels, logs no errors', async () => {
    const server = await serve(filesOf(outDir), true);
    const page = await browser.newPage({ viewport: { width: 1640, height: 820 } });
    const messages: { type: string; text: string }[] = [];
    page.on('console', (m) => messages.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => messages.push({ type: 'pageerror', text: e.message }));
    page.on('worker', (w) => w.on('console', (m) => messages.push({ type: m.type(), text: `[worker] ${m.text()}` })));
    try {
      const steps = 200;
      await page.goto(`${server.url}?method=h2t&resample&steps=${steps}&batch=128`);
      expect(await page.title()).toContain('oclt playground');
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      const canvas = (id: string) => page.evaluate((i) => (document.getElementById(i) as HTMLCanvasElement).toDataURL(), id);
      const blankLearned = await canvas('learned');
      await page.click('#start');
      await page.waitForFunction(() => (globalThis as any).__playground.frames >= 1, null, { timeout: 120_000 });
      const firstLearned = await canvas('learned');
      const firstSamples = await canvas('samples');
      // The main thread answers while the worker trains.
      const t0 = Date.now();
      await page.evaluate(() => 1 + 1);
      const evalMs = Date.now() - t0;
      await page.waitForFunction(() => (globalThis as any).__playground.last?.done === true || (globalThis as any).__playground.errors.length > 0, null, { timeout: 200_000 });
      const state = await page.evaluate(() => {
        const s = (globalThis as any).__playground;
        return { frames: s.frames, step: s.last.step, backend: s.ready.backend, recipe: s.ready.recipe, errors: s.errors, tail: s.last.tailShare, sw: s.last.sw, runs: s.runs.length };
      });
      expect(state.errors).toEqual([]);
      expect(state.step).toBe(steps);
      expect(state.recipe).toBe('h2t+resample+uncond');
      expect(state.backend).toMatch(/^cpu:wasm-simd(\(relaxed\))? x\d+ threads?/);
      expect(state.backend).not.toContain('unshared');
      expect(state.tail).toBeGreaterThanOrEqual(0);
      expect(state.tail).toBeLessThanOrEqual(1);
      expect(Number.isFinite(state.sw)).toBe(true);
      expect(firstLearned).not.toBe(blankLearned);
      expect(await canvas('learned')).not.toBe(firstLearned);
      expect(await canvas('samples')).not.toBe(firstSamples);
      expect(await page.textContent('#backend')).toContain('cpu:wasm-simd');
      expect(evalMs).toBeGreaterThanOrEqual(0); // recorded, not timed: the call returned while training ran
      expect(messages.filter((m) => m.type === 'error' || m.type === 'pageerror')).toEqual([]);
      const shot = process.env.PLAYGROUND_SHOT ?? path.join(root, 'screenshots', 'playground.png');
      fs.mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await page.close();
      await server.close();
    }
  });
});
