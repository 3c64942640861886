/**
 * `npm run demo`: the paper's toy example (Appendix J) end to end, in a few minutes on two CPU cores.
 *
 * A long-tailed 2-D Gaussian mixture (head class N((0, 4), 0.2 I) x 10,000, tail class N((0, -4), 0.2 I) x 100) is
 * learned by a small MLP denoiser, unconditionally, with four recipes: the plain baseline, and OC-LT's T2H, H2T
 * and Full gates with batch re-sampling (paper Sec. 3-4). Each model is sampled with DDIM and compared with the
 * BALANCED target (both classes equally likely): the share of samples near each class and the sliced Wasserstein
 * distance to a balanced ground-truth sample. Figures (exact and learned score fields, as in the paper's Fig. 4,
 * and the samples of each method) and a JSON + Markdown report are written to runs/<timestamp>/.
 *
 * Options: --steps N (training steps per method), --samples N, --out DIR, --seed N, --quick.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Generator, noGrad, tensor, getBackend } from '@oclt/tensor';
import '@oclt/autograd';
import {
  appendixJToy,
  DDIMScheduler,
  DDPMScheduler,
  MLPDenoiser,
  Trainer,
  sample,
  withEmaWeights,
  withEvalMode,
  quiverChart,
  scatterChart,
  composeGrid,
  type Canvas,
} from '@oclt/diffusion';
import { ProgressBar, savePng } from '@oclt/diffusion/node';
import { recipeTrainerHooks, smoothedEmpiricalScore } from 'oclt';
import { nearestMeanShares, slicedWasserstein } from './toy/distances.js';
import { markdownTable, machineInfo, round, type BenchRow } from './harness.js';

const HEAD_MEAN = [0, 4] as const;
const TAIL_MEAN = [0, -4] as const;
const VARIANCE = 0.2;
const METHODS = [
  { name: 'baseline', recipe: 'baseline+uncond' },
  { name: 'T2H + resample', recipe: 't2h+resample+uncond' },
  { name: 'H2T + resample', recipe: 'h2t+resample+uncond' },
  { name: 'Full + resample', recipe: 'full+resample+uncond' },
] as const;
/** The timestep at which score fields are drawn: noisy enough that both modes shape the field. */
const FIELD_T = 200;

interface DemoOptions {
  steps: number;
  samples: number;
  batch: number;
  seed: number;
  out: string;
}

function parseOptions(argv: string[]): DemoOptions {
  const quick = argv.includes('--quick');
  const opts: DemoOptions = { steps: quick ? 300 : 2000, samples: quick ? 500 : 2000, batch: 256, seed: 0, out: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') continue;
    const key = a.replace(/^--/, '') as keyof DemoOptions;
    const value = argv[++i];
    if (!['steps', 'samples', 'batch', 'seed', 'out'].includes(key) || value === undefined) {
      throw new Error(`demo: unknown or incomplete option '${a}' (options: --steps N, --samples N, --batch N, --seed N, --out DIR, --quick)`);
    }
    if (key === 'out') opts.out = value;
    else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (key === 'seed' ? 0 : 1)) throw new Error(`demo: --${key} must be a ${key === 'seed' ? 'non-negative' : 'positive'} integer, got '${value}'`);
      opts[key] = n;
    }
  }
  if (!opts.out) opts.out = path.join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
  return opts;
}

/** n points of an isotropic Gaussian, row-major [n, 2]. */
function gaussianCloud(n: number, mean: readonly number[], gen: Generator): Float64Array {
  const out = new Float64Array(2 * n);
  const std = Math.sqrt(VARIANCE);
  for (let i = 0; i < n; i++) {
    out[2 * i] = mean[0]! + std * gen.normal();
    out[2 * i + 1] = mean[1]! + std * gen.normal();
  }
  return out;
}

function concatClouds(...clouds: Float64Array[]): Float64Array {
  const out = new Float64Array(clouds.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of clouds) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function fieldGrid(): { x: number; y: number }[] {
  const pts: { x: number; y: number }[] = [];
  for (let i = 0; i <= 14; i++) for (let j = 0; j <= 16; j++) pts.push({ x: -6 + (12 * i) / 14, y: -8 + (16 * j) / 16 });
  return pts;
}

/** The learned score -eps_theta(x, t) / sqrt(1 - abar_t) on the grid (EMA weights, eval mode, no grad). */
function learnedField(model: MLPDenoiser, trainer: Trainer, abar: number, grid: { x: number; y: number }[]) {
  const x = tensor(grid.flatMap((p) => [p.x, p.y])).reshape(grid.length, 2);
  const eps = trainer.ema
    ? withEmaWeights(trainer.ema, model, () => withEvalMode(model, () => noGrad(() => model.forward(x, FIELD_T))))
    : withEvalMode(model, () => noGrad(() => model.forward(x, FIELD_T)));
  const e = eps.toTypedArray();
  const s = -1 / Math.sqrt(1 - abar);
  return grid.map((p, i) => ({ ...p, u: s * e[2 * i]!, v: s * e[2 * i + 1]! }));
}

function fmtPct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  fs.mkdirSync(opts.out, { recursive: true });
  const started = performance.now();
  console.log(`oclt demo: the paper's Appendix J toy on ${getBackend().info()}`);
  console.log(`  ${METHODS.length} methods x ${opts.steps} steps (batch ${opts.batch}), ${opts.samples} samples each; output in ${opts.out}/\n`);

  const gen = new Generator(opts.seed);
  const data = appendixJToy(gen.spawn(), { headMean: HEAD_MEAN, tailMean: TAIL_MEAN, variance: VARIANCE });
  const trainPoints = Float64Array.from(data.data);
  const balancedTruth = concatClouds(gaussianCloud(opts.samples / 2, HEAD_MEAN, gen), gaussianCloud(opts.samples / 2, TAIL_MEAN, gen));
  const balancedTruth2 = concatClouds(gaussianCloud(opts.samples / 2, HEAD_MEAN, gen), gaussianCloud(opts.samples / 2, TAIL_MEAN, gen));
  const ddpm = new DDPMScheduler({ numTrainTimesteps: 1000 });
  const abar = ddpm.alphasCumprod[FIELD_T]!;
  const grid = fieldGrid();

  const ddimSteps = 100;
  const bar = new ProgressBar({ total: METHODS.length * (opts.steps + ddimSteps), label: 'demo' });
  bar.begin();
  let done = 0;

  const rows: BenchRow[] = [];
  const means = [HEAD_MEAN, TAIL_MEAN];
  const sharesOf = (pts: ArrayLike<number>) => nearestMeanShares(pts, 2, means);
  const reference = (name: string, pts: Float64Array) => {
    const shares = sharesOf(pts);
    rows.push({ case: name, impl: 'reference', median_ms: 0, head_share: round(shares[0]!, 4), tail_share: round(shares[1]!, 4), sw_to_balanced: round(slicedWasserstein(pts, balancedTruth, 2), 4) });
  };
  reference('training data (long-tailed)', trainPoints.subarray(0, 2 * opts.samples).length === 2 * opts.samples ? subsample(trainPoints, opts.samples, gen) : trainPoints);
  reference('balanced ground truth (2nd draw)', balancedTruth2);

  const panels: Canvas[] = [];
  const exactField = grid.map((p) => {
    const [u, v] = smoothedEmpiricalScore([p.x, p.y], trainPoints, abar);
    return { ...p, u: u!, v: v! };
  });
  panels.push(quiverChart(exactField, { title: `EXACT SCORE, T=${FIELD_T}`, points: [{ label: 'training data', x: everyOther(trainPoints, 0, 2000), y: everyOther(trainPoints, 1, 2000) }] }));
  const samplePanels: Canvas[] = [];
  const perMethod: Record<string, unknown>[] = [];

  for (const method of METHODS) {
    const model = new MLPDenoiser({ dataDim: 2, hidden: 64, numLayers: 3, seed: opts.seed });
    const hooks = recipeTrainerHooks(method.recipe, { labels: data.labels!, numClasses: 2, batchSize: opts.batch, alphasCumprod: ddpm.alphasCumprod, gen: new Generator(opts.seed + 1) });
    const trainer = new Trainer({
      model,
      scheduler: ddpm,
      dataset: data,
      config: { batchSize: opts.batch, numSteps: opts.steps, lr: 2e-3, warmupSteps: 100, emaDecay: 0.995, labelDropProb: 0, seed: opts.seed },
      sampler: hooks.sampler,
      targetHook: hooks.targetHook,
      lossHook: hooks.lossHook,
    });
    const t0 = performance.now();
    let loss = 0;
    let transferRate = 0;
    for (let s = 0; s < opts.steps; s++) {
      const stats = trainer.step();
      loss = 0.98 * loss + 0.02 * stats.loss;
      transferRate = 0.98 * transferRate + 0.02 * (stats.diagnostics?.transferRate ?? 0);
      bar.update(++done, `${method.name}: loss ${loss.toFixed(3)}`);
    }
    const trainMs = performance.now() - t0;

    const ddim = new DDIMScheduler({ numTrainTimesteps: 1000 });
    const t1 = performance.now();
    const samples = withEmaWeights(trainer.ema!, model, () =>
      sample(model, ddim, { numSamples: opts.samples, sampleShape: [2], batchSize: opts.samples, numInferenceSteps: ddimSteps, eta: 1, seed: opts.seed + 7, onStep: () => bar.update(++done, `${method.name}: sampling`) }),
    );
    const pts = Float64Array.from(samples.toTypedArray());
    const sampleMs = performance.now() - t1;

    const shares = sharesOf(pts);
    const sw = slicedWasserstein(pts, balancedTruth, 2);
    rows.push({ case: method.name, impl: method.recipe, median_ms: round(trainMs / opts.steps, 3), head_share: round(shares[0]!, 4), tail_share: round(shares[1]!, 4), sw_to_balanced: round(sw, 4), transfer_rate: round(transferRate, 4), final_loss: round(loss, 4) });
    perMethod.push({ method: method.name, recipe: method.recipe, train_ms: round(trainMs, 1), sample_ms: round(sampleMs, 1), head_share: shares[0], tail_share: shares[1], sw_to_balanced: sw, transfer_rate: transferRate, final_loss: loss });
    panels.push(quiverChart(learnedField(model, trainer, abar, grid), { title: `LEARNED: ${method.name}`.toUpperCase() }));
    samplePanels.push(scatterChart([{ label: 'generated', x: everyOther(pts, 0, 2000), y: everyOther(pts, 1, 2000), radius: 1.5 }], { title: `${method.name}: TAIL ${fmtPct(shares[1]!)}`.toUpperCase(), xRange: [-6, 6], yRange: [-8, 8] }));
  }
  bar.end();

  savePng(path.join(opts.out, 'score-fields.png'), composeGrid(panels, 3));
  savePng(path.join(opts.out, 'samples.png'), composeGrid(samplePanels, 2));
  const machine = machineInfo();
  const report = {
    experiment: "Appendix J toy: long-tailed 2-D Gaussian mixture, unconditional, compared with the balanced target",
    config: { ...opts, headCount: 10_000, tailCount: 100, headMean: HEAD_MEAN, tailMean: TAIL_MEAN, variance: VARIANCE, model: 'MLPDenoiser(hidden 64, 3 residual layers)', schedule: 'linear betas, T = 1000', sampler: `DDIM ${ddimSteps} steps, eta 1`, fieldTimestep: FIELD_T },
    machine,
    backend: getBackend().info(),
    rows,
    methods: perMethod,
    seconds: round((performance.now() - started) / 1000, 1),
  };
  const table = markdownTable(rows);
  const md = [
    '# oclt demo: the Appendix J toy',
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores; ${report.backend}; ${machine.date}. Total ${report.seconds} s.`,
    '',
    'Long-tailed training data (head 10,000, tail 100, imbalance 0.01), unconditional MLP denoisers; samples are',
    'compared with the balanced target (tail share 50%). `sw_to_balanced` is the sliced Wasserstein distance to a balanced',
    'ground-truth sample (lower is better; the balanced second draw shows the noise floor). `median_ms` is the mean',
    'training step time.',
    '',
    table,
    '',
    '![score fields](score-fields.png)',
    '',
    '![samples](samples.png)',
    '',
  ].join('\n');
  writeAtomic(path.join(opts.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeAtomic(path.join(opts.out, 'report.md'), md);
  console.log('\n' + table + '\n');
  console.log(`wrote ${opts.out}/report.md, report.json, score-fields.png, samples.png (${report.seconds} s)`);
}

function subsample(points: Float64Array, n: number, gen: Generator): Float64Array {
  const count = points.length / 2;
  const perm = gen.permutation(count);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = points[2 * perm[i]!]!;
    out[2 * i + 1] = points[2 * perm[i]! + 1]!;
  }
  return out;
}

/** Coordinate `axis` of at most `max` points, evenly strided (for plotting). */
function everyOther(points: ArrayLike<number>, axis: number, max: number): number[] {
  const n = points.length / 2;
  const stride = Math.max(1, Math.floor(n / max));
  const out: number[] = [];
  for (let i = 0; i < n; i += stride) out.push(points[2 * i + axis]!);
  return out;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  },
);
