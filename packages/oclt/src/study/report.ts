/**
 * The study's report: per arm, the mean over seeds of every metric with its 95% Student-t interval; per
 * comparison, the paired difference seed by seed (t interval, p-value, and whether it excludes 0); the guidance
 * sweep (each arm at the common w and at its own best w); the pre-training curve; the real-vs-real floors.
 * Written as JSON (everything, including the per-seed values) and Markdown (+ PNG charts). A partial study is
 * reported as far as it goes: each cell says how many seeds it rests on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lineChart } from '@oclt/diffusion';
import { meanInterval, pairedDifference, type MeanInterval, type PairedDifference } from '@oclt/metrics';
import { savePng, writeFileAtomic } from '@oclt/diffusion/node';
import { settingOf, studyUnits, type Setting, type StudyDesign, type StudyFamily } from './design.js';

/** The metrics a unit keeps of an evaluation. */
export interface EvalSummary {
  fid: number;
  kid_mean: number;
  /** KID's standard deviation over its subsets within one evaluation (sampling noise of KID, not seed noise). */
  kid_std: number;
  is_mean: number | null;
  precision: number;
  recall: number;
  per_class_fid: { per_class: number[]; mean: number; groups: Record<string, number> } | null;
  predictedClassCounts: number[];
  labelSource: 'conditioning' | 'feature-net';
}

/** The bottleneck separation of one unit's model at one timestep (see SEPARATION in cli/study.ts). */
export interface SeparationRecord {
  timestep: number;
  /** The labels the model saw: the true ones, the null label (conditional models) or none (unconditional). */
  labels: 'fed' | 'null' | 'none';
  /** featureSeparation's between/within distance ratio per group of classes. */
  ratio: Record<string, number>;
}

/** What a unit's folder records (unit.json). */
export interface UnitRecord {
  id: string;
  unitKind: 'baselines' | 'pretrain' | 'arm';
  arm?: string;
  seed?: number;
  setting?: Setting;
  status: 'pending' | 'trained' | 'sampled' | 'evaluated' | 'done';
  trainSeconds?: number;
  finalLoss?: number | null;
  sampleSeconds?: number;
  evalSeconds?: number;
  evaluation?: EvalSummary;
  sweep?: { guidance: number; evaluation: EvalSummary; seconds: number }[];
  curve?: { step: number; evaluation: EvalSummary | null; seconds: number }[];
  baselines?: Record<string, EvalSummary>;
  separation?: SeparationRecord[];
}

/** A metric of the table: its name and how to read it from an evaluation (null: not available). */
export const STUDY_METRICS: readonly { key: string; label: string; digits: number; get: (e: EvalSummary) => number | null; lowerIsBetter: boolean }[] = [
  { key: 'fid', label: 'FID', digits: 2, get: (e) => e.fid, lowerIsBetter: true },
  { key: 'kid', label: 'KID', digits: 3, get: (e) => e.kid_mean, lowerIsBetter: true },
  { key: 'is', label: 'IS', digits: 2, get: (e) => e.is_mean, lowerIsBetter: false },
  { key: 'precision', label: 'precision', digits: 3, get: (e) => e.precision, lowerIsBetter: false },
  { key: 'recall', label: 'recall', digits: 3, get: (e) => e.recall, lowerIsBetter: false },
  { key: 'pcfid', label: 'per-class FID', digits: 2, get: (e) => e.per_class_fid?.mean ?? null, lowerIsBetter: true },
  { key: 'head', label: 'head', digits: 2, get: (e) => e.per_class_fid?.groups.head ?? null, lowerIsBetter: true },
  { key: 'medium', label: 'medium', digits: 2, get: (e) => e.per_class_fid?.groups.medium ?? null, lowerIsBetter: true },
  { key: 'tail', label: 'tail', digits: 2, get: (e) => e.per_class_fid?.groups.tail ?? null, lowerIsBetter: true },
];

/** The metrics whose paired differences the report tabulates. */
const DIFFERENCE_METRICS = ['fid', 'kid', 'pcfid', 'head', 'tail', 'recall'];

export interface ArmSummary {
  arm: string;
  recipe: string;
  setting: Setting;
  tier: number;
  seeds: number[];
  metrics: Record<string, (MeanInterval & { values: number[] }) | null>;
  /** Mean within-evaluation KID std: KID's own sampling noise at this N. */
  kidStdWithin: number | null;
  trainSeconds: number | null;
  sampleSeconds: number | null;
  evalSeconds: number | null;
}

export interface ComparisonRow {
  label: string;
  arm: string;
  against: string;
  seeds: number[];
  metrics: Record<string, PairedDifference | null>;
}

export interface SweepRow {
  arm: string;
  /** Per guidance weight: FID over seeds. */
  byWeight: { guidance: number; fid: MeanInterval & { values: number[] } }[];
  best: { guidance: number; fid: MeanInterval } | null;
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

function interval(values: number[]): (MeanInterval & { values: number[] }) | null {
  if (values.length === 0) return null;
  return { ...meanInterval(values), values };
}

const armsDone = (records: UnitRecord[], arm: string) =>
  records.filter((r) => r.unitKind === 'arm' && r.arm === arm && r.evaluation && (r.status === 'evaluated' || r.status === 'done')).sort((a, b) => a.seed! - b.seed!);

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function summarizeArms(design: StudyDesign, records: UnitRecord[]): ArmSummary[] {
  return design.arms.map((arm) => {
    const done = armsDone(records, arm.id);
    const metrics: ArmSummary['metrics'] = {};
    for (const m of STUDY_METRICS) {
      const values = done.map((r) => m.get(r.evaluation!)).filter(finite);
      // A metric missing for some seed (per-class FID of an unconditional model that never drew a class) is
      // left out of the interval rather than guessed; the count shows it.
      metrics[m.key] = interval(values);
    }
    const secs = (f: (r: UnitRecord) => number | undefined) => mean(done.map(f).filter(finite));
    return {
      arm: arm.id,
      recipe: arm.recipe,
      setting: settingOf(arm.recipe),
      tier: arm.tier,
      seeds: done.map((r) => r.seed!),
      metrics,
      kidStdWithin: mean(done.map((r) => r.evaluation!.kid_std)),
      trainSeconds: secs((r) => r.trainSeconds),
      sampleSeconds: secs((r) => r.sampleSeconds),
      evalSeconds: secs((r) => r.evalSeconds),
    };
  });
}

/** Paired differences arm - comparator, over the seeds both have finished, per metric. */
export function compareArms(design: StudyDesign, records: UnitRecord[]): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const [label, bySetting] of Object.entries(design.compare)) {
    for (const [setting, against] of Object.entries(bySetting) as [Setting, string][]) {
      const base = new Map(armsDone(records, against).map((r) => [r.seed!, r.evaluation!]));
      for (const arm of design.arms) {
        if (arm.id === against || settingOf(arm.recipe) !== setting) continue;
        const mine = armsDone(records, arm.id).filter((r) => base.has(r.seed!));
        const metrics: ComparisonRow['metrics'] = {};
        for (const key of DIFFERENCE_METRICS) {
          const m = STUDY_METRICS.find((x) => x.key === key)!;
          const pairs = mine.map((r) => [m.get(r.evaluation!), m.get(base.get(r.seed!)!)] as const).filter(([a, b]) => finite(a) && finite(b)) as [number, number][];
          metrics[key] = pairs.length ? pairedDifference(pairs.map((p) => p[0]), pairs.map((p) => p[1])) : null;
        }
        rows.push({ label, arm: arm.id, against, seeds: mine.map((r) => r.seed!), metrics });
      }
    }
  }
  return rows;
}

export function summarizeSweeps(design: StudyDesign, records: UnitRecord[]): SweepRow[] {
  const weights = design.sampling.sweep?.weights ?? [];
  return design.arms
    .filter((a) => settingOf(a.recipe) === 'conditional')
    .map((arm) => {
      const units = records.filter((r) => r.unitKind === 'arm' && r.arm === arm.id && r.sweep?.length);
      const byWeight = weights
        .map((w) => ({ guidance: w, fid: interval(units.map((u) => u.sweep!.find((p) => p.guidance === w)?.evaluation.fid).filter(finite)) }))
        .filter((x): x is SweepRow['byWeight'][number] => x.fid !== null);
      // Best w by the mean over seeds, among the weights every finished seed has.
      const complete = byWeight.filter((x) => x.fid.n === Math.max(...byWeight.map((y) => y.fid.n)));
      const best = complete.length ? complete.reduce((a, b) => (b.fid.mean < a.fid.mean ? b : a)) : null;
      return { arm: arm.id, byWeight, best: best ? { guidance: best.guidance, fid: best.fid } : null };
    })
    .filter((r) => r.byWeight.length > 0);
}

export interface FamilyPoint {
  x: number;
  arm: string;
  seeds: number[];
  fid: (MeanInterval & { values: number[] }) | null;
  tail: (MeanInterval & { values: number[] }) | null;
  /** The arm's best FID of the guidance sweep (conditional arms with a sweep), and its w. */
  bestSweep: { guidance: number; fid: MeanInterval } | null;
  /** FID of this point minus the family's `against` arm, seed by seed (null without `against` or shared seeds). */
  difference: PairedDifference | null;
}

export interface FamilyRow {
  family: StudyFamily;
  /** In increasing x. */
  points: FamilyPoint[];
}

/** Each swept family as FID (and tail FID) against its parameter, with paired differences to its `against` arm. */
export function summarizeFamilies(design: StudyDesign, records: UnitRecord[]): FamilyRow[] {
  const sweeps = summarizeSweeps(design, records);
  const fidOf = (r: UnitRecord) => r.evaluation!.fid;
  return (design.families ?? []).map((family) => {
    const base = family.against ? new Map(armsDone(records, family.against).map((r) => [r.seed!, fidOf(r)])) : null;
    const points = [...family.points]
      .sort((a, b) => a.x - b.x)
      .map(({ arm, x }) => {
        const done = armsDone(records, arm);
        const paired = base ? done.filter((r) => base.has(r.seed!) && finite(fidOf(r)) && finite(base.get(r.seed!))) : [];
        return {
          x,
          arm,
          seeds: done.map((r) => r.seed!),
          fid: interval(done.map(fidOf).filter(finite)),
          tail: interval(done.map((r) => r.evaluation!.per_class_fid?.groups.tail).filter(finite)),
          bestSweep: sweeps.find((s) => s.arm === arm)?.best ?? null,
          difference: paired.length && arm !== family.against ? pairedDifference(paired.map(fidOf), paired.map((r) => base!.get(r.seed!)!)) : null,
        };
      });
    return { family, points };
  });
}

export interface SeparationRow {
  arm: string;
  timestep: number;
  labels: SeparationRecord['labels'];
  seeds: number[];
  /** Per group: the between/within ratio over seeds. */
  ratio: Record<string, (MeanInterval & { values: number[] }) | null>;
}

/** The bottleneck separation of every arm, per timestep and label feed, over the seeds that recorded it. */
export function summarizeSeparation(design: StudyDesign, records: UnitRecord[]): SeparationRow[] {
  const rows: SeparationRow[] = [];
  for (const arm of design.arms) {
    const units = records.filter((r) => r.unitKind === 'arm' && r.arm === arm.id && r.separation?.length).sort((a, b) => a.seed! - b.seed!);
    const keys = [...new Map(units.flatMap((u) => u.separation!.map((s) => [`${s.timestep}/${s.labels}`, s] as const))).values()];
    for (const { timestep, labels } of keys) {
      const at = units.map((u) => ({ seed: u.seed!, rec: u.separation!.find((s) => s.timestep === timestep && s.labels === labels) })).filter((x) => x.rec);
      const groups = [...new Set(at.flatMap((x) => Object.keys(x.rec!.ratio)))];
      rows.push({ arm: arm.id, timestep, labels, seeds: at.map((x) => x.seed), ratio: Object.fromEntries(groups.map((g) => [g, interval(at.map((x) => x.rec!.ratio[g]).filter(finite))])) });
    }
  }
  return rows;
}

const fmt = (x: number | null | undefined, d = 2) => (finite(x) ? x.toFixed(d) : '-');

/** `mean ± half-width (n)`; one seed has no interval. */
function cell(m: MeanInterval | null | undefined, d: number): string {
  if (!m) return '-';
  return m.n > 1 ? `${m.mean.toFixed(d)} ± ${m.halfWidth.toFixed(d)}` : `${m.mean.toFixed(d)} (1 seed)`;
}

function diffCell(p: PairedDifference | null | undefined, d: number): string {
  if (!p) return '-';
  if (p.n < 2) return `${signed(p.mean, d)} (1 seed)`;
  const star = p.significant ? ' **sig.**' : '';
  return `${signed(p.mean, d)} [${signed(p.low, d)}, ${signed(p.high, d)}] p=${p.pValue < 0.001 ? '<0.001' : p.pValue.toFixed(3)}${star}`;
}
const signed = (x: number, d: number) => (x >= 0 ? `+${x.toFixed(d)}` : x.toFixed(d));

const NOTES_MARKER = '<!-- notes: everything below this line is kept when the report is regenerated -->';

export interface ReportContext {
  classCounts: number[];
  groups: Record<string, number[]>;
  designFile: string;
  out: string;
}

/** Writes <prefix>.json, <prefix>.md and the charts; keeps the hand-written notes of an earlier report. */
export function writeStudyReport(design: StudyDesign, records: UnitRecord[], prefix: string, rc: ReportContext & { maxTier?: number }): void {
  const arms = summarizeArms(design, records);
  const comparisons = compareArms(design, records);
  const sweeps = summarizeSweeps(design, records);
  const separation = summarizeSeparation(design, records);
  const families = summarizeFamilies(design, records);
  const units = studyUnits(design, { maxTier: rc.maxTier });
  const done = records.filter((r) => r.status === 'done').length;
  const baselines = records.find((r) => r.unitKind === 'baselines')?.baselines ?? null;
  const pretrain = records.filter((r) => r.unitKind === 'pretrain');
  fs.mkdirSync(path.dirname(path.resolve(prefix)), { recursive: true });
  writeFileAtomic(`${prefix}.json`, JSON.stringify({ kind: 'oclt-study-report', design, updated: new Date().toISOString(), unitsDone: done, unitsTotal: units.length, arms, comparisons, sweeps, separation, families, baselines, units: records }, null, 2) + '\n');

  const charts: string[] = [];
  const curveSeries = pretrain
    .filter((r) => r.curve?.some((p) => p.evaluation))
    .map((r) => ({ label: r.id, x: r.curve!.filter((p) => p.evaluation).map((p) => p.step), y: r.curve!.filter((p) => p.evaluation).map((p) => p.evaluation!.fid) }));
  if (curveSeries.length) {
    const file = `${prefix}-pretrain-curve.png`;
    savePng(file, lineChart(curveSeries, { title: 'FID over pre-training (shared baseline)', xLabel: 'step', yLabel: `FID (N = ${design.protocol.kind === 'fine-tune' ? design.protocol.curveSamples : ''})`, width: 700, height: 380 }));
    charts.push(`![FID over pre-training](${path.basename(file)})`);
  }
  if (sweeps.length) {
    const file = `${prefix}-guidance.png`;
    savePng(file, lineChart(sweeps.map((s) => ({ label: s.arm, x: s.byWeight.map((b) => b.guidance), y: s.byWeight.map((b) => b.fid.mean) })), { title: 'FID against the guidance weight (mean over seeds)', xLabel: 'w', yLabel: `FID (N = ${design.sampling.sweep?.numSamples})`, width: 700, height: 380 }));
    charts.push(`![FID against guidance](${path.basename(file)})`);
  }

  const p = design.protocol;
  const protocolLine =
    p.kind === 'scratch'
      ? `from scratch, ${p.steps} steps per arm (the seed also draws the initial weights)`
      : `fine-tune: one shared plain-loss baseline per setting (${p.pretrainSteps} steps, seed ${p.pretrainSeed}), then ${p.steps} steps of each arm from its ${p.weights === 'ema' ? 'EMA' : 'raw'} weights (fresh Adam, warmup ${p.warmup})`;
  const metricHeader = STUDY_METRICS.map((m) => m.label);
  // An arm's own CBDM / CORAL settings follow its recipe, so two arms of one recipe read apart.
  const armSettings = (id: string): string => {
    const arm = design.arms.find((x) => x.id === id);
    const own = arm?.cbdm ?? arm?.coral;
    return own ? ` ${Object.entries(own).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
  };
  const armRows = arms.map((a) => `| ${a.arm} | \`${a.recipe}\`${armSettings(a.arm)} | ${a.seeds.length} | ${STUDY_METRICS.map((m) => cell(a.metrics[m.key], m.digits)).join(' | ')} | ${fmt(a.kidStdWithin, 3)} | ${fmt(a.trainSeconds, 0)} | ${fmt(a.sampleSeconds, 0)} |`);
  const baselineRows = Object.entries(baselines ?? {}).map(([name, e]) => `| real | ${name.replace(/_/g, ' ')} | - | ${STUDY_METRICS.map((m) => fmt(m.get(e), m.digits)).join(' | ')} | ${fmt(e.kid_std, 3)} | - | - |`);
  const diffHeader = DIFFERENCE_METRICS.map((k) => `Δ ${STUDY_METRICS.find((m) => m.key === k)!.label}`);
  const diffRows = comparisons.map((c) => `| ${c.arm} | ${c.against} (${c.label}) | ${c.seeds.length} | ${DIFFERENCE_METRICS.map((k) => diffCell(c.metrics[k], STUDY_METRICS.find((m) => m.key === k)!.digits)).join(' | ')} |`);
  const sig = comparisons.filter((c) => c.metrics.fid?.significant);
  const weights = design.sampling.sweep?.weights ?? [];
  const sweepRows = sweeps.map((s) => `| ${s.arm} | ${weights.map((w) => cell(s.byWeight.find((b) => b.guidance === w)?.fid, 2)).join(' | ')} | ${s.best ? `${s.best.guidance} (${cell(s.best.fid, 2)})` : '-'} |`);
  const familySections = families.flatMap(({ family, points }) => {
    const withData = points.filter((pt) => pt.fid);
    if (withData.length >= 2) {
      // The mean and the ends of its 95% interval, so the chart shows what the seeds allow (one seed: the mean only).
      const series = [{ label: 'FID (mean over seeds)', x: withData.map((pt) => pt.x), y: withData.map((pt) => pt.fid!.mean) }];
      const banded = withData.filter((pt) => pt.fid!.n > 1);
      if (banded.length >= 2) series.push({ label: '95% interval, low', x: banded.map((pt) => pt.x), y: banded.map((pt) => pt.fid!.low) }, { label: '95% interval, high', x: banded.map((pt) => pt.x), y: banded.map((pt) => pt.fid!.high) });
      const file = `${prefix}-family-${family.id}.png`;
      savePng(file, lineChart(series, { title: family.title, xLabel: family.parameter, yLabel: `FID (N = ${design.sampling.numSamples})`, width: 700, height: 380 }));
      charts.push(`![${family.title}](${path.basename(file)})`);
    }
    return [
      `## ${family.title}`,
      '',
      `${settingOf(design.arms.find((a) => a.id === family.points[0]!.arm)!.recipe) === 'conditional' ? `FID at the common w = ${design.sampling.guidance}` : 'FID (unconditional: no guidance)'} against ${family.parameter}, mean ± 95% t half-width over seeds${family.against ? `; Δ: paired difference to ${family.against}` : ''}.`,
      '',
      `| ${family.parameter} | arm | seeds | FID | tail FID | best sweep FID (w)${family.against ? ` | Δ FID vs ${family.against}` : ''} |`,
      `|---|---|---|---|---|---|${family.against ? '---|' : ''}`,
      ...points.map((pt) => `| ${pt.x} | ${pt.arm} | ${pt.seeds.length} | ${cell(pt.fid, 2)} | ${cell(pt.tail, 2)} | ${pt.bestSweep ? `${cell(pt.bestSweep.fid, 2)} (${pt.bestSweep.guidance})` : '-'}${family.against ? ` | ${pt.arm === family.against ? '(reference)' : diffCell(pt.difference, 2)}` : ''} |`),
      '',
    ];
  });
  const separationGroups = [...new Set(separation.flatMap((r) => Object.keys(r.ratio)))];
  const separationRows = separation.map((r) => `| ${r.arm} | ${r.timestep} | ${r.labels} | ${r.seeds.length} | ${separationGroups.map((g) => cell(r.ratio[g], 3)).join(' | ')} |`);
  const curveRows = pretrain.flatMap((r) => (r.curve ?? []).map((c) => `| ${r.id} | ${c.step} | ${fmt(c.evaluation?.fid)} | ${fmt(c.evaluation?.kid_mean, 3)} | ${fmt(c.evaluation?.per_class_fid?.groups.tail)} |`));
  const mdFile = `${prefix}.md`;
  const oldNotes = fs.existsSync(mdFile) ? fs.readFileSync(mdFile, 'utf8').split(NOTES_MARKER)[1] : undefined;
  const lines = [
    `# Study: ${design.name}`,
    '',
    design.description ?? '',
    '',
    `Generated by \`oclt study report --design ${rc.designFile}\` from ${rc.out} (${done} of ${units.length} units done, updated ${new Date().toISOString()}).`,
    '',
    `- Data: ${design.data.dataset}, ${design.data.imageSize}x${design.data.imageSize}, imbalance ${design.data.imbalance}; class counts (head first) ${rc.classCounts.join(', ')}; groups ${JSON.stringify(rc.groups)}.`,
    `- Model: ${JSON.stringify(design.model)}; batch ${design.train.batchSize}, Adam lr ${design.train.lr}, EMA ${design.train.emaDecay}, CFG label drop ${design.train.labelDrop}.`,
    `- Protocol: ${protocolLine}.`,
    `- Seeds: ${design.seeds.join(', ')} (the same for every arm: training streams${p.kind === 'scratch' ? ', initial weights' : ''} and sampling noise, so differences are paired).`,
    `- Sampling: ${design.sampling.numSamples} images per unit (conditional: class-balanced), DDIM ${design.sampling.steps} steps, eta 0, no x0 clipping (OC_LT's sampler), guidance w = ${design.sampling.guidance} (conditional).${design.sampling.sweep ? ` Sweep: w in {${design.sampling.sweep.weights.join(', ')}}, ${design.sampling.sweep.numSamples} images, DDIM ${design.sampling.sweep.steps} steps.` : ''}`,
    `- Metrics: feature network ${design.featureNet}, reference the balanced test set. Per-class FID: conditioning label (conditional) or the feature network's class (unconditional).`,
    '',
    '## Arms: mean ± 95% t half-width over seeds',
    '',
    `| arm | recipe | seeds | ${metricHeader.join(' | ')} | KID std within | train s | sample s |`,
    `|---|---|---|${metricHeader.map(() => '---|').join('')}---|---|---|`,
    ...armRows,
    ...baselineRows,
    '',
    "'KID std within' is KID's spread over its subsets inside one evaluation (its sampling noise at this N), not the seed-to-seed spread the ± shows.",
    '',
    '## Paired differences (arm − comparator, seed by seed; 95% t interval; **sig.** = the interval excludes 0)',
    '',
    'Negative is better for FID, KID and the FIDs; positive is better for recall.',
    '',
    `| arm | against | pairs | ${diffHeader.join(' | ')} |`,
    `|---|---|---|${diffHeader.map(() => '---|').join('')}`,
    ...diffRows,
    '',
    sig.length ? `FID differences whose interval excludes 0: ${sig.map((c) => `${c.arm} vs ${c.against} ${signed(c.metrics.fid!.mean, 2)}`).join('; ')}.` : 'No FID difference has an interval that excludes 0 (so far).',
    '',
    ...(sweeps.length
      ? ['## Guidance sweep (conditional arms; FID, mean ± half-width over seeds)', '', `| arm | ${weights.map((w) => `w = ${w}`).join(' | ')} | best w (FID) |`, `|---|${weights.map(() => '---|').join('')}---|`, ...sweepRows, '']
      : []),
    ...familySections,
    ...(separationRows.length
      ? [
          "## Bottleneck separation (CORAL's claim, measured on every arm)",
          '',
          "Between/within-class distance ratio of the UNet's pooled bottleneck features (higher: the group's classes stand further apart from the others), on the first 100 test images of each class noised to timestep t with one fixed noise draw; labels: fed (the true ones), null (the null label) or none (unconditional). Mean ± 95% t half-width over seeds.",
          '',
          `| arm | t | labels | seeds | ${separationGroups.join(' | ')} |`,
          `|---|---|---|---|${separationGroups.map(() => '---|').join('')}`,
          ...separationRows,
          '',
        ]
      : []),
    ...(curveRows.length ? ['## Pre-training curve (FID over steps, the paper\'s Fig. 6 protocol)', '', '| run | step | FID | KID | tail FID |', '|---|---|---|---|---|', ...curveRows, ''] : []),
    charts.join('\n\n'),
    '',
    NOTES_MARKER,
    oldNotes ?? '\n## Notes\n\n(to be written once the study has results)\n',
  ];
  writeFileAtomic(mdFile, lines.join('\n'));
}
