/**
 * Writes the docs' screenshot of the playground (docs/figures/playground.png): builds the page, serves it with the
 * COOP/COEP headers, trains the baseline, T2H and H2T (both with re-sampling) one after another (the history chart compares them), and
 * captures the page. Run: node --import tsx playground/test/make-screenshot.ts [steps] [out.png]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { launchChromium, serve } from './harness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const steps = Number(process.argv[2] ?? 800);
const out = path.resolve(process.argv[3] ?? path.join(root, '..', 'docs', 'figures', 'playground.png'));
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-playground-shot-'));
await build({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: dir, emptyOutDir: true } });
const files: Record<string, [string, Buffer]> = {};
const walk = (d: string, prefix: string) => {
  for (const n of fs.readdirSync(d)) {
    const p = path.join(d, n);
    if (fs.statSync(p).isDirectory()) walk(p, `${prefix}${n}/`);
    else files[`${prefix}${n}`] = [TYPES[path.extname(n)] ?? 'application/octet-stream', fs.readFileSync(p)];
  }
};
walk(dir, '/');
const server = await serve(files, true);
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1640, height: 820 } });
page.on('console', (m) => (m.type() === 'error' ? console.error(`page: ${m.text()}`) : undefined));
await page.goto(`${server.url}?steps=${steps}&batch=256`);
for (const [method, resample] of [
  ['baseline', false],
  ['t2h', true],
  ['h2t', true],
] as const) {
  await page.check(`input[name=method][value=${method}]`);
  await page.setChecked('#resample', resample);
  const before = await page.evaluate(() => (globalThis as any).__playground.runs.length);
  await page.click('#start');
  await page.waitForFunction(
    (n) => {
      const p = (globalThis as any).__playground;
      return p.runs.length > n && p.last?.run === p.ready.run && p.last.done === true;
    },
    before,
    { timeout: 1_200_000 },
  );
  const s = await page.evaluate(() => {
    const p = (globalThis as any).__playground;
    return { recipe: p.ready.recipe, tail: p.last.tailShare, sw: p.last.sw, backend: p.ready.backend, ms: p.last.stepMs };
  });
  console.log(JSON.stringify(s));
}
fs.mkdirSync(path.dirname(out), { recursive: true });
await page.screenshot({ path: out, fullPage: true });
console.log(`wrote ${out}`);
await browser.close();
await server.close();
fs.rmSync(dir, { recursive: true, force: true });
