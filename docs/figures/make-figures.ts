/**
 * Draws every figure of the docs chapters into docs/figures/*.png. Deterministic (fixed seeds); takes a few
 * seconds on one CPU core. Run from the repository root (name figures to draw only those):
 *
 *   node --conditions=source --import tsx docs/figures/make-figures.ts [toy-score-fields.png ...]
 *
 * Figures:
 * - schedules.png             (chapter 3) abar_t of the linear and cosine schedules
 * - ddpm-samples.png          (chapter 3) DDPM samples (50 steps) of the two-blob model, unconditional and per label
 * - toy-score-fields.png      (chapter 4) exact score of the Appendix J toy at t = 200 and 400, long-tailed vs
 *                             class-balanced weights, coloured by basin (which mode mean shift reaches)
 * - oc-expected-targets.png   (chapter 4) the expected target of baseline / T2H / H2T / Full, unconditional and
 *                             conditional, re-sampled batches, t = 500 (no training; ./oc-fields.ts)
 * - cross-class-transfer.png  (chapter 4) Eq. 8 T2H transfers (a tail row takes a head target) vs diffusion time,
 *                             shuffled vs re-sampled batches
 * - prop31-transfer-bound.png (chapter 4) Proposition 3.1: Monte-Carlo transfer strength vs its bound
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, randint, randn, tidy } from '@oclt/tensor';
import { Adam } from '@oclt/autograd';
import { DDPMScheduler, MLPDenoiser, NoiseSchedule, appendixJToy, composeGrid, gaussianMixtureDataset, lineChart, sample, scatterChart } from '@oclt/diffusion';
import { savePng } from '@oclt/diffusion/node';
import { attractor, classSplit, expectedTarget, fieldPanel, HEAD_COLOR, tailShare, TAIL_COLOR, type ClassSplit, type Field } from './oc-fields.js';
import { classFrequencies, countClasses, exactlyBalancedSampler, shuffledSampler, smoothedEmpiricalScore, transferDiagnostics, transferStrengthBound } from 'oclt';

const outDir = path.dirname(fileURLToPath(import.meta.url));
const written: string[] = [];
/** Figure names given on the command line (all when none): `... make-figures.ts toy-score-fields.png`. */
const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);
function save(name: string, canvas: Parameters<typeof savePng>[1]): void {
  savePng(path.join(outDir, name), canvas);
  written.push(name);
}

// --- Chapter 3: noise schedules ---------------------------------------------------------------------------
if (wanted('schedules.png')) {
  const linear = new NoiseSchedule({ betaSchedule: 'linear' });
  const cosine = new NoiseSchedule({ betaSchedule: 'cosine' });
  const ts = Array.from({ length: 100 }, (_, k) => k * 10);
  save(
    'schedules.png',
    lineChart(
      [
        { label: 'linear (DDPM)', x: ts, y: ts.map((t) => linear.alphasCumprod[t]!) },
        { label: 'cosine (Nichol-Dhariwal)', x: ts, y: ts.map((t) => cosine.alphasCumprod[t]!) },
      ],
      { title: 'SIGNAL LEFT: ABAR_T', xLabel: 'timestep t (T = 1000)', yLabel: 'abar_t', yRange: [0, 1] },
    ),
  );
}

// --- Chapter 3: samples of the two-blob model, trained as in the chapter (longer) -------------------------------
if (wanted('ddpm-samples.png')) {
  const ddpm = new DDPMScheduler({ numTrainTimesteps: 1000 });
  const gen = new Generator(0);
  const data = gaussianMixtureDataset([{ mean: [-1.5, 0], std: 0.4, count: 500 }, { mean: [1.5, 0], std: 0.4, count: 500 }], gen);
  const model = new MLPDenoiser({ dataDim: 2, hidden: 64, numLayers: 3, numClasses: 2, seed: 0 });
  const optimizer = new Adam(model.namedParameters(), { lr: 3e-3 });
  for (let step = 0; step < 1500; step++) {
    tidy(() => {
      const rows = randint(0, data.size, [128], gen).toTypedArray();
      const { x: x0, labels } = data.batch(rows);
      const t = randint(0, 1000, [128], gen);
      const eps = randn([128, 2], gen);
      const y = labels!.map((label) => (gen.random() < 0.1 ? model.nullLabel : label));
      const loss = model.forward(ddpm.addNoise(x0, eps, t), t, y).sub(eps).square().mean();
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    });
  }
  const draw = (label: number | null) =>
    (sample(model, ddpm, { numSamples: 400, sampleShape: [2], batchSize: 400, labels: label ?? undefined, numInferenceSteps: 50, seed: label ?? 9 }).toArray() as number[][]);
  const dataRows = data.batch(Int32Array.from({ length: data.size }, (_, i) => i)).x.toArray() as number[][];
  const scatter = (title: string, rows: number[][], label: string) =>
    scatterChart(
      [
        { label: 'training data', x: dataRows.map((r) => r[0]!), y: dataRows.map((r) => r[1]!), color: [170, 170, 170], radius: 1.5, alpha: 0.5 },
        { label, x: rows.map((r) => r[0]!), y: rows.map((r) => r[1]!), radius: 1.8, alpha: 0.7 },
      ],
      { title, xRange: [-3.5, 3.5], yRange: [-2.5, 2.5], width: 420, height: 340 },
    );
  save('ddpm-samples.png', composeGrid([scatter('UNCONDITIONAL', draw(null), 'DDPM samples'), scatter('LABEL 0', draw(0), 'samples, y = 0'), scatter('LABEL 1', draw(1), 'samples, y = 1')], 3));
}

// --- Chapter 4: the Appendix J toy --------------------------------------------------------------------------
const schedule = new NoiseSchedule();
const toy = appendixJToy(new Generator(0)); // head N((0, 4), 0.2 I) x 10,000, tail N((0, -4), 0.2 I) x 100
const points = Float64Array.from(toy.data);
const labels = toy.labels!;
const counts = countClasses(labels, 2);

/** Every other point of a cloud (x or y coordinate), at most `max` of them, for scatter overlays. */
function coordinate(axis: 0 | 1, rows: number[], max: number): number[] {
  const step = Math.max(1, Math.ceil(rows.length / max));
  return rows.filter((_, k) => k % step === 0).map((r) => points[2 * r + axis]!);
}
const headRows = [...labels.keys()].filter((r) => labels[r] === 0);
const tailRows = [...labels.keys()].filter((r) => labels[r] === 1);

// The exact score at two times, long-tailed vs class-balanced weights. Background: the basin of each point (which
// mode of p_t mean shift climbs to: blue the head's, orange the tail's); discs: the noised class means
// sqrt(abar) (0, +-4); dots: the clean points scaled by sqrt(abar), where x_t is centred.
if (wanted('toy-score-fields.png')) {
  // Balanced weights: each sample weighted 1 / n_class, so both classes carry the same total mass (what a
  // re-balanced training set would give).
  const balancedLogWeights = Array.from(labels, (y) => -Math.log(counts[y]!));
  const xRange = [-4, 4] as const;
  const yRange = [-5.5, 5.5] as const;
  const panels = [];
  for (const t of [200, 400]) {
    const abar = schedule.alphasCumprod[t]!;
    const root = Math.sqrt(abar);
    for (const logWeights of [undefined, balancedLogWeights]) {
      const score = (x: number[]) => smoothedEmpiricalScore(x, points, abar, logWeights);
      const arrows: { x: number; y: number; u: number; v: number }[] = [];
      for (let x = -3.5; x <= 3.5 + 1e-9; x += 0.7) for (let y = -5; y <= 5 + 1e-9; y += 0.625) {
        const [u, v] = score([x, y]);
        arrows.push({ x, y, u: u!, v: v! });
      }
      // Basins on a coarse grid (the field is smooth): the sign of the mode's second coordinate.
      const basinCell = 0.25;
      const basin = new Map<string, number>();
      const key = (x: number, y: number) => `${Math.floor((x - xRange[0]) / basinCell)},${Math.floor((y - yRange[0]) / basinCell)}`;
      const panelTitle = `${logWeights ? 'BALANCED' : 'LONG-TAILED'}, T=${t}`;
      panels.push(
        fieldPanel({
          title: panelTitle, xRange, yRange, cell: basinCell, arrows,
          shade: (x, y) => {
            const k = key(x, y);
            if (!basin.has(k)) basin.set(k, attractor([x, y], score, abar)[1]! < 0 ? 1 : 0);
            return basin.get(k)!;
          },
          markers: [{ x: 0, y: 4 * root, color: HEAD_COLOR }, { x: 0, y: -4 * root, color: TAIL_COLOR }],
          clouds: [
            { x: coordinate(0, headRows, 400).map((v) => v * root), y: coordinate(1, headRows, 400).map((v) => v * root), color: HEAD_COLOR },
            { x: coordinate(0, tailRows, 100).map((v) => v * root), y: coordinate(1, tailRows, 100).map((v) => v * root), color: TAIL_COLOR },
          ],
        }),
      );
    }
  }
  save('toy-score-fields.png', composeGrid(panels, 4));
}

// What each gate does to the expected target (no training): re-sampled batches (w_j = 1 / n_class), t = 500.
// Rows: the unconditional field, the conditional field of the tail label, of the head label. Background: the tail's
// share c of the expected target (blue 0: all head, white 0.5, orange 1: all tail); arrows: the expected target as
// a score, -E[target] / sqrt(1 - abar), drawn where rows of that field land (density > 1e-3 of its maximum).
if (wanted('oc-expected-targets.png')) {
  const t = 500;
  const abar = schedule.alphasCumprod[t]!;
  const root = Math.sqrt(abar);
  const balancedLogWeights = Array.from(labels, (y) => -Math.log(counts[y]!));
  const isTail = Array.from(labels, (y) => y === 1);
  const xRange = [-3, 3] as const;
  const yRange = [-4, 4] as const;
  const cache = new Map<string, ClassSplit>();
  const splitAt = (x: number, y: number) => {
    const k = `${x.toFixed(4)},${y.toFixed(4)}`;
    if (!cache.has(k)) cache.set(k, classSplit([x, y], points, isTail, abar, balancedLogWeights));
    return cache.get(k)!;
  };
  const arrowPoints: [number, number][] = [];
  for (let x = -2.5; x <= 2.5 + 1e-9; x += 0.625) for (let y = -3.5; y <= 3.5 + 1e-9; y += 0.5) arrowPoints.push([x, y]);
  const logMass = (field: Field, s: ClassSplit) =>
    field === 'cond-tail' ? s.logMassTail : field === 'cond-head' ? s.logMassHead : Math.max(s.logMassHead, s.logMassTail) + Math.log1p(Math.exp(-Math.abs(s.logMassHead - s.logMassTail)));
  const panels = [];
  const fieldName: Record<Field, string> = { uncond: 'UNCOND', 'cond-tail': 'COND Y=TAIL', 'cond-head': 'COND Y=HEAD' };
  for (const field of ['uncond', 'cond-tail', 'cond-head'] as const) {
    const maxLogMass = Math.max(...arrowPoints.map(([x, y]) => logMass(field, splitAt(x, y))));
    for (const gate of ['baseline', 't2h', 'h2t', 'full'] as const) {
      const arrows = arrowPoints
        .filter(([x, y]) => logMass(field, splitAt(x, y)) > maxLogMass + Math.log(1e-3))
        .map(([x, y]) => {
          const e = expectedTarget(gate, field, splitAt(x, y));
          return { x, y, u: -e[0]! / Math.sqrt(1 - abar), v: -e[1]! / Math.sqrt(1 - abar) };
        });
      panels.push(
        fieldPanel({
          title: `${gate.toUpperCase()}: ${fieldName[field]}`, xRange, yRange, cell: 0.2, arrows, width: 300, height: 380,
          shade: (x, y) => tailShare(gate, field, splitAt(x, y).pTail),
          markers: [{ x: 0, y: 4 * root, color: HEAD_COLOR }, { x: 0, y: -4 * root, color: TAIL_COLOR }],
        }),
      );
    }
  }
  save('oc-expected-targets.png', composeGrid(panels, 4));
}

if (wanted('cross-class-transfer.png')) {
  const q = classFrequencies(counts);
  const batchSize = 64;
  const timesteps = Array.from({ length: 20 }, (_, k) => k * 50 + 25);
  const curves = { shuffled: { perRow: [] as number[], perBatch: [] as number[] }, resampled: { perRow: [] as number[], perBatch: [] as number[] } };
  for (const kind of ['shuffled', 'resampled'] as const) {
    const sampler = kind === 'shuffled' ? shuffledSampler(toy.size, batchSize, new Generator(1)) : exactlyBalancedSampler(labels, 2, batchSize, new Generator(1));
    for (const t of timesteps) {
      // One call per time, so the class-to-class matrix is per time. T2H gate: tail rows may take head targets.
      const d = transferDiagnostics({ data: points, sampleSize: 2, labels, numClasses: 2, classFrequencies: q, alphasCumprod: schedule.alphasCumprod, sampler, timesteps: [t], batchesPerTime: 40, gate: 't2h', gen: new Generator(t) });
      const tailToHead = d.classTransferMatrix[1]![0]!;
      const tailShare = d.rowsPerClass[1]! / (d.rowsPerClass[0]! + d.rowsPerClass[1]!);
      curves[kind].perRow.push(Number.isFinite(tailToHead) ? tailToHead : 0);
      curves[kind].perBatch.push(Number.isFinite(tailToHead) ? batchSize * tailShare * tailToHead : 0);
    }
  }
  const size = { width: 480, height: 360 };
  save(
    'cross-class-transfer.png',
    composeGrid(
      [
        lineChart(
          [
            { label: 'shuffled batches', x: timesteps, y: curves.shuffled.perRow },
            { label: 're-sampled batches', x: timesteps, y: curves.resampled.perRow },
          ],
          { ...size, title: 'T2H TRANSFERS PER TAIL ROW', xLabel: 'timestep t', yRange: [0, 1.3] },
        ),
        lineChart(
          [
            { label: 'shuffled batches', x: timesteps, y: curves.shuffled.perBatch },
            { label: 're-sampled batches', x: timesteps, y: curves.resampled.perBatch },
          ],
          { ...size, title: 'T2H TRANSFERS PER BATCH', xLabel: 'timestep t (batch of 64)', yRange: [0, 22] },
        ),
      ],
      2,
    ),
  );
}

// --- Chapter 4: Proposition 3.1 ----------------------------------------------------------------------------
if (wanted('prop31-transfer-bound.png')) {
  // Kernels N(m, s^2 I) in 2-D: own mean m_i = 0, other mean m_j = (d, 0), two more reference kernels elsewhere.
  const s = 1;
  const wOwn = 0.5;
  const wOther = 0.05;
  const extra = [
    { m: [0, 3], w: 0.3 },
    { m: [-2, -2], w: 0.15 },
  ];
  const gen = new Generator(7);
  const draws = 20_000;
  const distances = Array.from({ length: 17 }, (_, k) => k * 0.5);
  const monteCarlo: number[] = [];
  const bound: number[] = [];
  for (const d of distances) {
    const refs = [{ m: [0, 0], w: wOwn }, { m: [d, 0], w: wOther }, ...extra];
    let total = 0;
    for (let n = 0; n < draws; n++) {
      const x = [s * gen.normal(), s * gen.normal()];
      const k = refs.map((r) => r.w * Math.exp(-((x[0]! - r.m[0]!) ** 2 + (x[1]! - r.m[1]!) ** 2) / (2 * s * s)));
      total += k[1]! / k.reduce((a, b) => a + b, 0);
    }
    monteCarlo.push(total / draws);
    bound.push(transferStrengthBound(wOwn, wOther, d * d, s * s));
  }
  const series = (log: boolean) => [
    { label: 'Monte-Carlo E[w_j N_j / sum_k w_k N_k]', x: distances, y: monteCarlo.map((v) => (log ? Math.log10(v) : v)) },
    { label: 'bound 0.5 sqrt(w_j/w_i) exp(-d^2/8s^2)', x: distances, y: bound.map((v) => (log ? Math.log10(v) : v)) },
  ];
  const size = { width: 560, height: 400 };
  save(
    'prop31-transfer-bound.png',
    composeGrid(
      [
        lineChart(series(false), { ...size, title: 'PROPOSITION 3.1', xLabel: 'distance ||m_i - m_j|| / s', yLabel: 'transfer strength', yRange: [0, 0.2] }),
        lineChart(series(true), { ...size, title: 'THE SAME, LOG10', xLabel: 'distance ||m_i - m_j|| / s', yLabel: 'log10 transfer strength' }),
      ],
      2,
    ),
  );
}

console.log(`wrote ${written.map((w) => path.join('docs/figures', w)).join(', ')}`);
