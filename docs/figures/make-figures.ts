/**
 * Draws every figure of the docs chapters into docs/figures/*.png. Deterministic (fixed seeds); takes a few
 * seconds on one CPU core. Run from the repository root:
 *
 *   node --conditions=source --import tsx docs/figures/make-figures.ts
 *
 * Figures:
 * - schedules.png             (chapter 3) abar_t of the linear and cosine schedules
 * - toy-score-fields.png      (chapter 4) exact score of the Appendix J toy, long-tailed vs class-balanced weights
 * - cross-class-transfer.png  (chapter 4) Eq. 8 tail-to-head transfer vs diffusion time, shuffled vs re-sampled batches
 * - prop31-transfer-bound.png (chapter 4) Proposition 3.1: Monte-Carlo transfer strength vs its bound
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '@oclt/tensor';
import { NoiseSchedule, appendixJToy, composeGrid, lineChart, quiverChart } from '@oclt/diffusion';
import { savePng } from '@oclt/diffusion/node';
import { classFrequencies, countClasses, exactlyBalancedSampler, shuffledSampler, smoothedEmpiricalScore, transferDiagnostics, transferStrengthBound } from 'oclt';

const outDir = path.dirname(fileURLToPath(import.meta.url));
const written: string[] = [];
function save(name: string, canvas: Parameters<typeof savePng>[1]): void {
  savePng(path.join(outDir, name), canvas);
  written.push(name);
}

// --- Chapter 3: noise schedules ---------------------------------------------------------------------------
{
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

{
  const t = 200;
  const abar = schedule.alphasCumprod[t]!;
  const grid: { x: number; y: number }[] = [];
  for (let i = 0; i <= 12; i++) for (let j = 0; j <= 16; j++) grid.push({ x: -6 + i, y: -8 + j });
  // Balanced weights: each sample weighted 1 / n_class, so both classes carry the same total mass (what a
  // re-balanced training set would give).
  const balancedLogWeights = Array.from(labels, (y) => -Math.log(counts[y]!));
  const field = (logWeights?: number[]) =>
    grid.map((p) => {
      const [u, v] = smoothedEmpiricalScore([p.x, p.y], points, abar, logWeights);
      return { ...p, u: u!, v: v! };
    });
  const overlay = [
    { label: 'head x 10000', x: coordinate(0, headRows, 1500), y: coordinate(1, headRows, 1500) },
    { label: 'tail x 100', x: coordinate(0, tailRows, 100), y: coordinate(1, tailRows, 100) },
  ];
  const opts = { xRange: [-6.5, 6.5] as const, yRange: [-8.5, 8.5] as const, points: overlay, width: 420, height: 480 };
  save(
    'toy-score-fields.png',
    composeGrid([quiverChart(field(), { ...opts, title: `LONG-TAILED, T=${t}` }), quiverChart(field(balancedLogWeights), { ...opts, title: `BALANCED WEIGHTS, T=${t}` })], 2),
  );
}

{
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
          { ...size, title: 'P(TAIL ROW TAKES HEAD TARGET)', xLabel: 'timestep t', yRange: [0, 1.3] },
        ),
        lineChart(
          [
            { label: 'shuffled batches', x: timesteps, y: curves.shuffled.perBatch },
            { label: 're-sampled batches', x: timesteps, y: curves.resampled.perBatch },
          ],
          { ...size, title: 'TAIL-TO-HEAD TRANSFERS PER BATCH', xLabel: 'timestep t (batch of 64)', yRange: [0, 22] },
        ),
      ],
      2,
    ),
  );
}

// --- Chapter 4: Proposition 3.1 ----------------------------------------------------------------------------
{
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
