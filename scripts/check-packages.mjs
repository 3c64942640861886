#!/usr/bin/env node
/**
 * The packages as a user gets them: packs the five publishable packages (`npm pack`, from their built dist/),
 * installs the tarballs into an empty consumer project in a temporary folder, then runs there
 *   1. a plain Node ESM script (no tsx, no `source` condition) that uses every package and the `oclt` binary,
 *   2. a strict `tsc --noEmit` over a TypeScript consumer file (the consumer's own TypeScript, no @types/node
 *      installed by hand: whatever the packages' declarations need must come with them).
 * Prints the install time, the installed size and package count, and the tarball sizes. Exit code 0 when all passes.
 *
 *   npm run build && npm run check:packages [-- --keep]     (--keep leaves the consumer folder for a look)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packages = ['tensor', 'autograd', 'metrics', 'diffusion', 'oclt'];
const keep = process.argv.includes('--keep');
const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function run(cmd, args, cwd, opts = {}) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
function fail(message) {
  console.error(`check-packages: ${message}`);
  process.exit(1);
}
function dirSize(dir) {
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += dirSize(p);
    else if (entry.isFile()) bytes += fs.statSync(p).size;
  }
  return bytes;
}

for (const p of packages) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'packages', p, 'package.json'), 'utf8'));
  if (!fs.existsSync(path.join(root, 'packages', p, 'dist'))) fail(`packages/${p}/dist is missing: run \`npm run build\` first`);
  const missing = ['description', 'repository', 'keywords', 'engines', 'license'].filter((k) => pkg[k] === undefined);
  for (const f of ['README.md', 'LICENSE']) if (!fs.existsSync(path.join(root, 'packages', p, f))) missing.push(f);
  if (missing.length) fail(`${pkg.name} lacks ${missing.join(', ')}`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-consumer-'));
const packs = path.join(work, 'packs');
const app = path.join(work, 'app');
fs.mkdirSync(packs);
fs.mkdirSync(app);
try {
  const tarballs = [];
  for (const p of packages) {
    const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packs], path.join(root, 'packages', p)));
    for (const t of out) {
      if (t.files.some((f) => /\.test\.ts$|(^|\/)fixtures\//.test(f.path))) fail(`${t.name} packs test files: ${t.files.find((f) => /\.test\.ts$|fixtures\//.test(f.path)).path}`);
      tarballs.push({ name: t.name, file: path.join(packs, t.filename), size: t.size, unpacked: t.unpackedSize, entries: t.entryCount });
    }
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'oclt-consumer', private: true, type: 'module' }, null, 2));
  // The consumer's own TypeScript, the version this repository builds with.
  const tsVersion = rootPkg.devDependencies.typescript;
  const t0 = performance.now();
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs.map((t) => t.file)], app, { stdio: ['ignore', 'pipe', 'inherit'] });
  const installSeconds = (performance.now() - t0) / 1000;
  const installedBytes = dirSize(path.join(app, 'node_modules'));
  const installedPackages = JSON.parse(run('npm', ['ls', '--all', '--json', '--parseable'], app, { stdio: ['ignore', 'pipe', 'ignore'] }) || '{}');
  const count = (function countDeps(node) {
    let n = 0;
    for (const d of Object.values(node.dependencies ?? {})) n += 1 + countDeps(d);
    return n;
  })(installedPackages);
  for (const banned of ['gpu.js', 'gl', 'webgpu']) if (fs.existsSync(path.join(app, 'node_modules', banned))) fail(`installing the packages pulled ${banned}: the gpu.js backend must be opt-in`);

  // 1. Plain Node ESM, the published entry points only.
  fs.writeFileSync(
    path.join(app, 'consumer.mjs'),
    `import { tensor, randn, conv2d, Generator, getBackend } from '@oclt/tensor';
import { Linear, Adam } from '@oclt/autograd';
import { DDPMScheduler, MLPDenoiser } from '@oclt/diffusion';
import { loadFashionMnist } from '@oclt/diffusion/node';
import { FEATURE_DIM, extractFeatures } from '@oclt/metrics';
import { loadFeatureNet } from '@oclt/metrics/node';
import { selectTargets, longTailedClassCounts } from 'oclt';
const gen = new Generator(0);
// The shipped feature network, found in the installed package's assets/ and checked against its SHA-256.
const { net, info } = await loadFeatureNet();
const feats = extractFeatures(net, randn([3, 1, 16, 16], gen).clamp(-1, 1));
if (info.name !== 'fmnist-features-v1' || feats.features.length !== 3 * FEATURE_DIM) throw new Error('feature network: ' + info.name + ', ' + feats.features.length);
const w = randn([2, 1, 3, 3], gen).requiresGrad_();
conv2d(randn([1, 1, 5, 5], gen), w, null, { padding: 1 }).square().mean().backward();
if (w.grad.shape.join() !== '2,1,3,3') throw new Error('conv2d gradient shape ' + w.grad.shape);
const lin = new Linear(3, 2, { generator: gen });
const opt = new Adam(lin.namedParameters(), { lr: 1e-2 });
lin.forward(tensor([[1, 2, 3]])).sum().backward();
opt.step();
const s = new DDPMScheduler();
if (s.numTrainTimesteps !== 1000) throw new Error('DDPMScheduler: ' + s.numTrainTimesteps);
new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1 });
if (typeof loadFashionMnist !== 'function' || typeof selectTargets !== 'function') throw new Error('missing exports');
const counts = longTailedClassCounts(6000, 10, 0.01);
if (counts.join() !== '6000,3596,2156,1292,774,464,278,166,100,60') throw new Error('longTailCounts ' + counts);
console.log('consumer.mjs ok:', getBackend().info());
`,
  );
  const esm = run(process.execPath, ['consumer.mjs'], app);
  if (!/consumer\.mjs ok/.test(esm)) fail(`consumer.mjs printed: ${esm}`);
  const help = run(path.join(app, 'node_modules', '.bin', 'oclt'), ['--help'], app);
  if (!/usage: oclt <command>/.test(help)) fail(`the oclt binary printed: ${help}`);

  // 2. A strict TypeScript consumer, every entry point (the /node ones declare Node types).
  fs.writeFileSync(
    path.join(app, 'consumer.ts'),
    `import { tensor, type Tensor } from '@oclt/tensor';
import { initGpujs } from '@oclt/tensor/gpujs';
import { Linear } from '@oclt/autograd';
import { loadSafetensorsSync } from '@oclt/autograd/node';
import { UNet2D, smallUNetConfig } from '@oclt/diffusion';
import { runTraining } from '@oclt/diffusion/node';
import { fid, type FeatureMatrix } from '@oclt/metrics';
import { loadFeatureNet } from '@oclt/metrics/node';
import { selectTargets } from 'oclt';
const t: Tensor = tensor([1, 2, 3]).mul(2);
const n: number = t.sum().item();
const m: FeatureMatrix | null = null;
export const used = [n, m, initGpujs, Linear, loadSafetensorsSync, UNet2D, smallUNetConfig, runTraining, fid, loadFeatureNet, selectTargets];
`,
  );
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: false, noUncheckedIndexedAccess: true }, files: ['consumer.ts'] }, null, 2),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `typescript@${tsVersion}`], app);
  try {
    run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], app);
  } catch (err) {
    fail(`strict tsc over consumer.ts failed:\n${err.stdout}${err.stderr}`);
  }

  console.log('| tarball | packed | unpacked | files |\n| --- | ---: | ---: | ---: |');
  for (const t of tarballs) console.log(`| ${t.name} | ${(t.size / 1024).toFixed(0)} KiB | ${(t.unpacked / 1024).toFixed(0)} KiB | ${t.entries} |`);
  console.log(`\nconsumer install: ${installSeconds.toFixed(1)} s, ${(installedBytes / 1048576).toFixed(1)} MiB in node_modules, ${count} packages (before typescript was added)`);
  console.log('plain ESM script: ok; oclt --help: ok; strict tsc: ok');
} finally {
  if (keep) console.log(`consumer kept in ${app}`);
  else fs.rmSync(work, { recursive: true, force: true });
}
