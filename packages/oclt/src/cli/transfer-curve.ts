/**
 * `oclt transfer-curve`: the paper's Fig. 7 (left) for a long-tailed data set (Fashion-MNIST-LT by default), no training needed: the probability that
 * Eq. 8 moves the denoising target of a noisy sample to another sample of its reference batch, versus the
 * diffusion time t, for the ungated selection (Full) and the T2H / H2T gates. Writes a PNG line plot, a JSON with
 * the curves and the class-to-class transfer matrix, and a Markdown summary with the t range over which the
 * (Full) transfer probability rises from 0.1 to 0.9.
 */
import { Generator } from '@oclt/tensor';
import { DDPMScheduler, lineChart } from '@oclt/diffusion';
import { savePng } from '@oclt/diffusion/node';
import fs from 'node:fs';
import { classFrequencies } from '../long-tailed-dataset.js';
import { makeBatchSampler } from '../samplers.js';
import { transferDiagnostics, type TransferDiagnostics } from '../diagnostics.js';
import type { TransferGate } from '../target-selection.js';
import { helpText, parseArgs, type OptionSpecs } from './args.js';
import { DATA_OPTIONS, channelsOf, dataConfigFrom, dataSetTitle, loadLongTailedTrain, numClassesOf, provenance, round, writeJson, type DataConfig } from './common.js';

export const TRANSFER_OPTIONS = {
  out: { type: 'string', description: 'output prefix: writes <out>.json, <out>.png and <out>.md' },
  'batch-size': { type: 'integer', description: 'reference batch size (the paper: 128)', default: 128, min: 2, max: 65536 },
  't-step': { type: 'integer', description: 'evaluate every this many timesteps (0..T-1, plus T-1)', default: 10, min: 1, max: 1000 },
  batches: { type: 'integer', description: 'random batches (fresh noise each) per timestep', default: 8, min: 1, max: 100000 },
  sampler: { type: 'string', description: "reference batches: 'shuffled' (plain long-tailed mini-batches) or 'exactly-balanced' (Batch Re-sample)", default: 'shuffled', choices: ['shuffled', 'exactly-balanced'] },
  gates: { type: 'string', description: 'comma-separated gates to plot (full counts every z != i, as Fig. 7)', default: 'full,t2h,h2t' },
  seed: { type: 'integer', description: 'seed of batches and noise (every gate sees the same draws)', default: 0 },
  ...DATA_OPTIONS,
  'image-size': { type: 'integer', description: 'images are resized (bilinear) from 28x28 to this size (28: native)', default: 28, min: 8, max: 28 },
} as const satisfies OptionSpecs;

/** First t at which the curve reaches `level`, linearly interpolated between evaluated times; null if never. */
export function crossingTime(ts: readonly number[], p: readonly number[], level: number): number | null {
  for (let i = 0; i < ts.length; i++) {
    if (p[i]! >= level) {
      if (i === 0) return ts[0]!;
      const f = (level - p[i - 1]!) / (p[i]! - p[i - 1]!);
      return ts[i - 1]! + f * (ts[i]! - ts[i - 1]!);
    }
  }
  return null;
}

export async function transferCurveCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('transfer-curve', argv, TRANSFER_OPTIONS);
  const data = dataConfigFrom(o);
  const gates = o.gates.split(',').map((g) => g.trim()) as TransferGate[];
  for (const g of gates) if (!['full', 't2h', 'h2t'].includes(g)) throw new Error(`oclt transfer-curve: unknown gate '${g}' in --gates; expected full, t2h, h2t`);
  const lt = loadLongTailedTrain(data);
  const numClasses = numClassesOf(data);
  const q = classFrequencies(lt.classCounts);
  const T = 1000;
  const abar = new DDPMScheduler().alphasCumprod;
  const timesteps: number[] = [];
  for (let t = 0; t < T; t += o['t-step']) timesteps.push(t);
  if (timesteps[timesteps.length - 1] !== T - 1) timesteps.push(T - 1);
  const t0 = performance.now();
  const curves: Record<string, TransferDiagnostics> = {};
  for (const gate of gates) {
    // The same seeds for every gate: identical batches and noise, so the curves differ only by the gate.
    const sampler = makeBatchSampler(o.sampler as 'shuffled' | 'exactly-balanced', lt.train.labels, numClasses, o['batch-size'], new Generator(o.seed * 2 + 1));
    curves[gate] = transferDiagnostics({
      data: lt.train.pixels,
      sampleSize: channelsOf(data) * data.imageSize * data.imageSize,
      labels: lt.train.labels,
      numClasses,
      classFrequencies: q,
      alphasCumprod: abar,
      sampler,
      timesteps,
      batchesPerTime: o.batches,
      gate,
      gen: new Generator(o.seed * 2 + 2),
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const main = curves.full ?? curves[gates[0]!]!;
  const rise = { from: round(crossingTime(timesteps, main.transferProbability, 0.1), 4), to: round(crossingTime(timesteps, main.transferProbability, 0.9), 4), gate: curves.full ? 'full' : gates[0] };
  const chart = lineChart(
    gates.map((g) => ({ label: g === 'full' ? 'Full (any z != i)' : g.toUpperCase(), x: timesteps, y: curves[g]!.transferProbability })),
    { title: `P(transfer) vs t, ${dataSetTitle(data)} ${data.imageSize}px, B=${o['batch-size']}`, xLabel: 't (of 1000)', yLabel: 'transfer probability', yRange: [0, 1] },
  );
  savePng(`${o.out}.png`, chart);
  const config = { data, batchSize: o['batch-size'], tStep: o['t-step'], batchesPerTime: o.batches, sampler: o.sampler, gates, seed: o.seed, schedule: 'linear betas 1e-4..0.02, T = 1000' };
  const prov = provenance('transfer-curve', config);
  const result = {
    kind: 'oclt-transfer-curve',
    ...prov,
    classCounts: lt.classCounts,
    classNames: lt.classNames,
    rise0p1To0p9: rise,
    wallSeconds: seconds,
    timesteps,
    curves: Object.fromEntries(gates.map((g) => [g, { transferProbability: curves[g]!.transferProbability.map((p) => round(p, 5)), classTransferMatrix: curves[g]!.classTransferMatrix.map((r) => r.map((p) => round(p, 4))), rowsPerClass: curves[g]!.rowsPerClass }])),
  };
  writeJson(`${o.out}.json`, result);
  fs.writeFileSync(`${o.out}.md`, transferMarkdown({ ...result, config, gitCommit: String(prov.gitCommit), date: String(prov.date) }, `${o.out}.png`));
  console.log(`transfer probability (${rise.gate}) rises from 0.1 at t = ${rise.from?.toFixed(0)} to 0.9 at t = ${rise.to?.toFixed(0)} (${seconds.toFixed(1)} s) -> ${o.out}.{json,png,md}`);
  return 0;
}

function transferMarkdown(r: { timesteps: number[]; curves: Record<string, { transferProbability: (number | null)[]; classTransferMatrix: (number | null)[][] }>; rise0p1To0p9: { from: number | null; to: number | null; gate: string | undefined }; classCounts: number[]; classNames: readonly string[]; config: unknown; gitCommit: string; date: string; wallSeconds: number }, png: string): string {
  const gates = Object.keys(r.curves);
  const pick = [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999].filter((t) => r.timesteps.includes(t));
  const lines = [
    `# Target-transfer probability versus t (paper Fig. 7, left) on ${dataSetTitle((r.config as { data: DataConfig }).data)}`,
    '',
    `Generated by \`oclt transfer-curve\` on ${r.date} (commit ${r.gitCommit}); ${r.wallSeconds.toFixed(0)} s. Config: \`${JSON.stringify(r.config)}\`.`,
    '',
    `Class counts (class 0 the head): ${r.classCounts.join(', ')}.`,
    '',
    `**The ${r.rise0p1To0p9.gate} transfer probability rises from 0.1 at t = ${r.rise0p1To0p9.from?.toFixed(0) ?? 'never'} to 0.9 at t = ${r.rise0p1To0p9.to?.toFixed(0) ?? 'never'}** (of T = 1000, linear interpolation between evaluated times).`,
    '',
    `![transfer curve](${png.split('/').pop()})`,
    '',
    `| t | ${gates.join(' | ')} |`,
    `|---|${gates.map(() => '---').join('|')}|`,
    ...pick.map((t) => `| ${t} | ${gates.map((g) => r.curves[g]!.transferProbability[r.timesteps.indexOf(t)]?.toFixed(3)).join(' | ')} |`),
    '',
    'Per-class transfer probability, averaged over all evaluated t (row sums of the class transfer matrix):',
    '',
    `| class | n | ${gates.join(' | ')} |`,
    `|---|---|${gates.map(() => '---').join('|')}|`,
    ...r.classCounts.map((n, c) => `| ${c} ${r.classNames[c]} | ${n} | ${gates.map((g) => (r.curves[g]!.classTransferMatrix[c] ?? []).reduce<number>((a, b) => a + (b ?? 0), 0).toFixed(3)).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}

export const TRANSFER_HELP = helpText('transfer-curve', 'Probability of a target transfer (Eq. 8) versus diffusion time t on a long-tailed data set (Fashion-MNIST-LT by default; paper Fig. 7, left); no training needed.', TRANSFER_OPTIONS);
