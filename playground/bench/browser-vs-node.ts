/**
 * matmul-512 and a small-UNet training step, in headless Chromium and in Node on this machine, interleaved: each
 * round takes one sample of every contender in turn (rotating the order), so slow phases of a shared machine fall
 * on all of them; reported are medians and the ratio Chromium / Node at the same thread count.
 *
 * Contenders: Node on 1 and 2 threads (worker_threads); Chromium on a plain page (no cross-origin isolation: the
 * kernels on an ordinary memory, the page's main thread, 1 thread), and in a Web Worker of a cross-origin isolated
 * page on 2 threads (the Web Worker pool). Relaxed SIMD everywhere (cases.ts).
 *
 * Run: node --conditions=source --import tsx playground/bench/browser-vs-node.ts [--rounds N] [--out bench/results/browser]
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { bundle, launchChromium, modulePage, serve } from '../test/harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1]! : dflt);
const rounds = Number(opt('rounds', '7'));
const out = opt('out', path.join(here, '..', '..', 'bench', 'results', 'browser'));

interface Contender {
  name: string;
  side: 'node' | 'chromium';
  threads: number;
  info?: string;
  call(cmd: string): Promise<{ ms: number; fallbacks: number; info?: string }>;
  close(): Promise<void>;
}

function nodeContender(threads: number): Contender {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(here, 'node-side.ts')], { env: { ...process.env, OCLT_CPU: '' } });
  child.stderr.on('data', (d) => process.stderr.write(`[node x${threads}] ${d}`));
  const lines = createInterface({ input: child.stdout });
  const waiting: ((v: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  return {
    name: `Node ${process.versions.node}, ${threads} thread${threads > 1 ? 's' : ''}`,
    side: 'node',
    threads,
    call: (cmd) =>
      new Promise((resolve) => {
        waiting.push((l) => resolve(JSON.parse(l)));
        child.stdin.write(cmd + '\n');
      }),
    close: async () => {
      child.stdin.end();
      child.kill();
    },
  };
}

function pageContender(name: string, page: Page, threads: number): Contender {
  return {
    name,
    side: 'chromium',
    threads,
    call: (cmd) => {
      const [c, a] = cmd.split(' ');
      return page.evaluate((m) => (globalThis as any).bench(m), c === 'setup' ? { cmd: 'setup', threads: Number(a) } : { cmd: c }) as Promise<{ ms: number; fallbacks: number }>;
    },
    close: () => page.close(),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const js = await bundle(path.join(here, 'page-side.ts'));
const files: Record<string, [string, string]> = { '/index.html': ['text/html', modulePage()], '/main.js': ['text/javascript', js] };
const plain = await serve(files, false);
const isolated = await serve(files, true);
const browser = await launchChromium();
const chromiumVersion = browser.version();
const plainPage = await browser.newPage();
await plainPage.goto(plain.url);
const workerPage = await browser.newPage();
await workerPage.goto(`${isolated.url}?worker`);
const workerPage1 = await browser.newPage();
await workerPage1.goto(`${isolated.url}?worker`);
for (const p of [plainPage, workerPage, workerPage1]) await p.waitForFunction(() => typeof (globalThis as any).bench === 'function');

const contenders: Contender[] = [
  nodeContender(1),
  pageContender(`Chromium ${chromiumVersion}, plain page (not isolated), 1 thread`, plainPage, 1),
  pageContender(`Chromium ${chromiumVersion}, Web Worker of an isolated page, 1 thread`, workerPage1, 1),
  nodeContender(2),
  pageContender(`Chromium ${chromiumVersion}, Web Worker of an isolated page, 2 threads`, workerPage, 2),
];
for (const c of contenders) {
  const r = (await c.call(`setup ${c.threads}`)) as unknown as { info: string };
  c.info = r.info;
  console.log(`${c.name}: ${c.info}`);
}

const samples: Record<string, Record<string, number[]>> = { matmul: {}, unet: {} };
let fallbacks = 0;
const started = new Date();
for (let r = 0; r < rounds; r++) {
  for (const work of ['matmul', 'unet'] as const) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + r) % contenders.length]!;
      const res = await c.call(work);
      fallbacks = Math.max(fallbacks, res.fallbacks);
      (samples[work]![c.name] ??= []).push(res.ms);
    }
  }
  console.log(`round ${r + 1}/${rounds}: ` + contenders.map((c) => `${c.name.split(',')[0]} x${c.threads} mm ${samples.matmul![c.name]!.at(-1)!.toFixed(2)} unet ${samples.unet![c.name]!.at(-1)!.toFixed(0)}`).join(' | '));
}
const load = os.loadavg();
for (const c of contenders) await c.close();
await browser.close();
await plain.close();
await isolated.close();

const flops = 2 * 512 ** 3;
const rows = contenders.map((c) => ({
  contender: c.name,
  backend: c.info!,
  threads: c.threads,
  matmul512_ms: median(samples.matmul![c.name]!),
  matmul512_gflops: flops / median(samples.matmul![c.name]!) / 1e6,
  unet_step_ms: median(samples.unet![c.name]!),
  matmul_samples: samples.matmul![c.name]!,
  unet_samples: samples.unet![c.name]!,
}));
// Each Chromium contender against Node at its thread count: the ratio of the medians, and the median of the
// per-round ratios (samples of one round were taken seconds apart, so a slow phase of the machine falls on both).
const nodeRow = (t: number) => rows.find((r) => contenders.find((c) => c.name === r.contender)!.side === 'node' && r.threads === t)!;
const ratios = rows
  .filter((r) => contenders.find((c) => c.name === r.contender)!.side === 'chromium')
  .map((r) => {
    const n = nodeRow(r.threads);
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
    return {
      contender: r.contender,
      threads: r.threads,
      matmul: r.matmul512_ms / n.matmul512_ms,
      unet: r.unet_step_ms / n.unet_step_ms,
      matmul_paired: paired(r.matmul_samples, n.matmul_samples),
      unet_paired: paired(r.unet_samples, n.unet_samples),
    };
  });
const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
const report = { date: started.toISOString(), machine: { cpu, cores: os.cpus().length, loadavg_after: load, node: process.versions.node, chromium: chromiumVersion }, rounds, fallbacks, rows, ratios };
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(`${out}.json`, JSON.stringify(report, null, 2) + '\n');
const f = (x: number, d = 2) => x.toFixed(d);
const md = [
  '# Chromium vs Node: matmul-512 and a UNet training step',
  '',
  `Measured ${started.toISOString().slice(0, 16)} UTC on ${cpu}, ${os.cpus().length} vCPUs (shared with other jobs: load average ${load.map((l) => l.toFixed(1)).join(', ')} at the end), `,
  `Node ${process.versions.node}, headless Chromium ${chromiumVersion} (Debian), both driven by \`playground/bench/browser-vs-node.ts\`.`,
  `${rounds} rounds; each round takes one sample of every contender in turn (order rotated per round); medians below.`,
  'matmul-512: one sample = the mean of 16 back-to-back 512x512 float32 products. UNet step: one `Trainer.step()` of the',
  'reference small UNet (28x28x1, ch 32, mult [1, 2, 2], attention at 7x7, 10 classes, batch 32: forward, MSE, backward,',
  'clipping, Adam). Same kernel bytes on both sides (relaxed SIMD on; Node 20 through V8\'s flag). Ops that fell back to',
  `the reference kernels for lack of kernel memory: ${fallbacks}.`,
  '',
  '| contender | backend (`info()`) | matmul-512 ms | GFLOP/s | UNet step ms |',
  '| --- | --- | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.contender} | \`${r.backend}\` | ${f(r.matmul512_ms)} | ${f(r.matmul512_gflops, 1)} | ${f(r.unet_step_ms, 0)} |`),
  '',
  'Chromium / Node time at the same thread count (ratio of the medians; in brackets the median of the per-round ratios):',
  '',
  '| Chromium contender | threads | matmul-512 | UNet step |',
  '| --- | ---: | ---: | ---: |',
  ...ratios.map((r) => `| ${r.contender.replace(/^Chromium [\d.]+, /, '')} | ${r.threads} | ${f(r.matmul)} (${f(r.matmul_paired)}) | ${f(r.unet)} (${f(r.unet_paired)}) |`),
  '',
  '(Above 1: Chromium slower.) "Plain page": no cross-origin isolation, so an unshared, fixed-size WebAssembly memory,',
  "on the page's main thread. \"Web Worker of an isolated page\": served with COOP/COEP, a shared memory, and on 2",
  'threads one helper Web Worker (the Web Worker pool). Raw samples: `browser.json`.',
  '',
].join('\n');
fs.writeFileSync(`${out}.md`, md);
console.log(md);
