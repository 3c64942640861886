import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStudyDesign } from './design.js';
import { compareArms, summarizeArms, summarizeFamilies, summarizeSeparation, summarizeSweeps, writeStudyReport, type EvalSummary, type UnitRecord } from './report.js';

const design = parseStudyDesign({
  kind: 'oclt-study-design',
  name: 'r',
  data: { dataset: 'synthetic', imageSize: 8, imbalance: 0.1, ltSeed: 0 },
  model: { kind: 'mlp', hidden: 16, layers: 1, channels: 16, seed: 0, prediction: 'epsilon' },
  train: { batchSize: 10, lr: 0.001, warmup: 2, emaDecay: 0.9, labelDrop: 0.1, checkpointEvery: 2 },
  protocol: { kind: 'scratch', steps: 2 },
  seeds: [1, 2, 3],
  sampling: { numSamples: 20, steps: 2, guidance: 1.5, sweep: { weights: [0, 1, 2], numSamples: 20, steps: 2 } },
  featureNet: 'random-untrained',
  arms: [
    { id: 'C-base', recipe: 'baseline' },
    { id: 'C-T2H', recipe: 't2h' },
    { id: 'C-new', recipe: 'h2t' },
    { id: 'U-base', recipe: 'baseline+uncond' },
    { id: 'C-coral-low', recipe: 'coral', coral: { weight: 0.05, temperature: 0.1, timeScale: 0.3 } },
  ],
  compare: { baseline: { conditional: 'C-base' } },
  families: [{ id: 'toy', title: 'FID against a toy parameter', parameter: 'p', points: [{ arm: 'C-new', x: 2 }, { arm: 'C-base', x: 0 }, { arm: 'C-T2H', x: 1 }], against: 'C-base' }],
});

function evaluation(fid: number, tail: number | null = fid + 5): EvalSummary {
  return {
    fid,
    kid_mean: fid / 1000,
    kid_std: 0.0001,
    is_mean: 2,
    precision: 0.5,
    recall: 0.4,
    per_class_fid: tail === null ? null : { per_class: [], mean: fid + 1, groups: { head: fid - 1, medium: fid, tail } },
    predictedClassCounts: [],
    labelSource: 'conditioning',
  };
}
const unit = (arm: string, seed: number, e: EvalSummary, sweep?: number[]): UnitRecord => ({
  id: `${arm}@${seed}`,
  unitKind: 'arm',
  arm,
  seed,
  setting: arm.startsWith('C') ? 'conditional' : 'unconditional',
  status: 'done',
  trainSeconds: 10 * seed,
  evaluation: e,
  ...(sweep ? { sweep: sweep.map((fid, k) => ({ guidance: [0, 1, 2][k]!, evaluation: evaluation(fid), seconds: 1 })) } : {}),
});

// t_{0.975, 2} = 4.302652729749464 (tables); for df = 2 the two-sided p of t is 1 - |t| / sqrt(t^2 + 2) exactly.
const T2 = 4.302652729749464;
const records: UnitRecord[] = [
  unit('C-base', 1, evaluation(10), [12, 11, 13]),
  unit('C-base', 2, evaluation(12), [14, 12, 15]),
  unit('C-base', 3, evaluation(14), [16, 13, 17]),
  unit('C-T2H', 1, evaluation(9), [12, 10, 9]),
  unit('C-T2H', 2, evaluation(10.5), [13, 11, 10]),
  unit('C-T2H', 3, evaluation(13, null), [14, 12, 11]),
  unit('C-new', 2, evaluation(11)),
  { ...unit('U-base', 1, evaluation(20)), status: 'trained', evaluation: undefined },
];

describe('study report', () => {
  it('gives each arm its mean and 95% t interval over seeds (values checked by hand)', () => {
    const arms = summarizeArms(design, records);
    const base = arms.find((a) => a.arm === 'C-base')!;
    // FID 10, 12, 14: mean 12, sd 2, half-width t * 2 / sqrt(3).
    expect(base.seeds).toEqual([1, 2, 3]);
    expect(base.metrics.fid!.mean).toBeCloseTo(12, 12);
    expect(base.metrics.fid!.halfWidth).toBeCloseTo((T2 * 2) / Math.sqrt(3), 9);
    expect(base.trainSeconds).toBeCloseTo(20, 12);
    // A seed without per-class FID leaves the tail interval on the other two (n shows it), never a guess.
    const t2h = arms.find((a) => a.arm === 'C-T2H')!;
    expect(t2h.metrics.tail!.n).toBe(2);
    expect(t2h.metrics.fid!.n).toBe(3);
    // One seed: a mean and no interval; an unfinished unit counts for nothing.
    expect(arms.find((a) => a.arm === 'C-new')!.metrics.fid!.n).toBe(1);
    expect(Number.isNaN(arms.find((a) => a.arm === 'C-new')!.metrics.fid!.halfWidth)).toBe(true);
    expect(arms.find((a) => a.arm === 'U-base')!.metrics.fid).toBeNull();
  });

  it('pairs differences seed by seed: interval, p-value and significance (closed form for df = 2)', () => {
    const rows = compareArms(design, records);
    const t2h = rows.find((r) => r.arm === 'C-T2H')!;
    // Differences -1, -1.5, -1: mean -7/6, sd sqrt(1/12), se 1/6, t = -7.
    const d = t2h.metrics.fid!;
    expect(d.mean).toBeCloseTo(-7 / 6, 12);
    expect(d.halfWidth).toBeCloseTo(T2 / 6, 9);
    expect(d.pValue).toBeCloseTo(1 - 7 / Math.sqrt(51), 9);
    expect(d.significant).toBe(true);
    // The tail pairs only where both seeds have it (seed 3 of T2H has none): differences -1, -1.5.
    expect(Array.from(t2h.metrics.tail!.differences)).toEqual([-1, -1.5]);
    // C-new shares one seed with the baseline: a difference, no interval, not significant.
    const single = rows.find((r) => r.arm === 'C-new')!;
    expect(single.seeds).toEqual([2]);
    expect(single.metrics.fid!.mean).toBe(-1);
    expect(single.metrics.fid!.significant).toBe(false);
    // Unconditional arms are not compared with a conditional baseline.
    expect(rows.some((r) => r.arm === 'U-base')).toBe(false);
  });

  it('finds each arm its best guidance weight by the mean over seeds', () => {
    const s = summarizeSweeps(design, records);
    expect(s.find((r) => r.arm === 'C-base')!.best!.guidance).toBe(1); // means 14, 12, 15
    expect(s.find((r) => r.arm === 'C-T2H')!.best!.guidance).toBe(2); // means 13, 11, 10
    expect(s.find((r) => r.arm === 'C-T2H')!.best!.fid.mean).toBeCloseTo(10, 12);
  });

  it('summarises the bottleneck separation per arm, timestep and label feed over the seeds that recorded it', () => {
    const sep = (t: number, labels: 'fed' | 'null', tail: number) => ({ timestep: t, labels, ratio: { head: 2, tail } });
    const withSep: UnitRecord[] = [
      { ...records[0]!, separation: [sep(100, 'fed', 3), sep(100, 'null', 1)] },
      { ...records[1]!, separation: [sep(100, 'fed', 5), sep(100, 'null', 2)] },
      records[2]!, // finished before the diagnostic: not counted
      { ...records[3]!, separation: [] }, // a model without a bottleneck
    ];
    const rows = summarizeSeparation(design, withSep);
    expect(rows.map((r) => `${r.arm} ${r.timestep} ${r.labels} ${r.seeds.join(',')}`)).toEqual(['C-base 100 fed 1,2', 'C-base 100 null 1,2']);
    // Tail 3 and 5: mean 4, sd sqrt(2), half-width t_{0.975,1} sqrt(2) / sqrt(2) = 12.706.
    expect(rows[0]!.ratio.tail!.mean).toBe(4);
    expect(rows[0]!.ratio.tail!.halfWidth).toBeCloseTo(12.706204736174703, 9);
    expect(rows[1]!.ratio.head!.values).toEqual([2, 2]);
  });

  it('reports a family against its parameter: sorted by x, intervals over seeds, paired differences to its reference (by hand)', () => {
    const [row] = summarizeFamilies(design, records);
    expect(row!.points.map((pt) => [pt.x, pt.arm, pt.seeds])).toEqual([[0, 'C-base', [1, 2, 3]], [1, 'C-T2H', [1, 2, 3]], [2, 'C-new', [2]]]);
    // C-base FIDs 10, 12, 14: mean 12, sd 2, half-width t(0.975, 2) * 2 / sqrt(3) = 4.303 * 1.1547 = 4.968.
    expect(row!.points[0]!.fid!.mean).toBeCloseTo(12, 12);
    expect(row!.points[0]!.fid!.halfWidth).toBeCloseTo(4.9683, 3);
    expect(row!.points[0]!.difference).toBeNull(); // the reference itself
    // C-T2H - C-base per seed: 9 - 10, 10.5 - 12, 13 - 14 = -1, -1.5, -1: mean -7/6.
    expect(row!.points[1]!.difference!.mean).toBeCloseTo(-7 / 6, 12);
    expect(Array.from(row!.points[1]!.difference!.differences)).toEqual([-1, -1.5, -1]);
    // C-new has seed 2 only: one pair, 11 - 12, no interval.
    expect(row!.points[2]!.difference!.n).toBe(1);
    expect(row!.points[2]!.difference!.mean).toBe(-1);
    // Tail FID is fid + 5 except C-T2H seed 3 (null): left out, two seeds.
    expect(row!.points[1]!.tail!.values).toEqual([14, 15.5]);
  });

  it('writes JSON and Markdown, marks significant differences, and keeps the notes below the marker', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-report-'));
    const prefix = path.join(dir, 'r');
    const rc = { classCounts: [3, 2, 1], groups: { head: [0], medium: [1], tail: [2] }, designFile: 'd.json', out: 'o' };
    writeStudyReport(design, records, prefix, rc);
    const md = fs.readFileSync(`${prefix}.md`, 'utf8');
    expect(md).toContain('| C-base | `baseline` | 3 | 12.00 ± 4.97 |');
    expect(md).toMatch(/\| C-T2H \| C-base \(baseline\) \| 3 \| -1\.17 \[-1\.88, -0\.45\] p=0\.020 \*\*sig\.\*\* \|/);
    expect(md).toContain('11.00 (1 seed)');
    // An arm's own settings follow its recipe (two CORAL arms at different weights read apart).
    expect(md).toContain('## FID against a toy parameter');
    expect(md).toMatch(/\| 1 \| C-T2H \| 3 \| 10\.83 ± [0-9.]+ \| [^|]+ \| [^|]+ \| -1\.17 \[/);
    expect(fs.existsSync(`${prefix}-family-toy.png`)).toBe(true);
    expect(md).toContain('| C-coral-low | `coral` weight 0.05, temperature 0.1, timeScale 0.3 | 0 |');
    fs.writeFileSync(`${prefix}.md`, md.replace('(to be written once the study has results)', 'my notes'));
    writeStudyReport(design, records, prefix, rc);
    expect(fs.readFileSync(`${prefix}.md`, 'utf8')).toContain('my notes');
    const json = JSON.parse(fs.readFileSync(`${prefix}.json`, 'utf8'));
    expect(json.arms.find((a: { arm: string }) => a.arm === 'C-base').metrics.fid.values).toEqual([10, 12, 14]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
