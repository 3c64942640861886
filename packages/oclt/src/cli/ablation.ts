/**
 * `oclt ablation`: the paper's Table 1 at small scale on Fashion-MNIST-LT. Eleven methods (unconditional baseline,
 * + re-sample, + T2H, + Full, + H2T; conditional baseline, CBDM, T2H, H2T, Full, and conditional + re-sample alone
 * as the control that separates re-sampling from target transfer) are each trained, sampled and
 * evaluated (FID, KID, IS, precision/recall, per-class FID with head/tail averages) against the balanced test set,
 * next to real-vs-real baselines.
 *
 * Resumable at every level: each method trains in its own run directory with checkpoints (an interrupted method
 * continues from its newest checkpoint), its samples are saved before evaluation, and the results file is
 * rewritten atomically after each method; re-running the same command skips finished methods.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromTypedArray, indexSelect } from '@oclt/tensor';
import { barChart, composeGrid } from '@oclt/diffusion';
import { saveImageGrid, savePng } from '@oclt/diffusion/node';
import { parseRecipe } from '../recipes.js';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { DATA_OPTIONS, GRID_SCALE, dataSetTitle, MODEL_OPTIONS, NUM_CLASSES, SAMPLING_OPTIONS, channelsOf, dataConfigFrom, loadLongTailedTrain, modelConfigFrom, numClassesOf, provenance, readJson, round, samplingConfigFrom, schedulerNameOf, isDefaultSampling, writeJson, type SamplingConfig } from './common.js';
import { MetricsContext, loadSamples, type EvaluationResult } from './eval.js';
import { generateSamples, saveSamples, type GeneratedSamples } from './generate.js';
import { trainRun, type TrainConfig } from './train.js';

export interface AblationMethod {
  id: string;
  name: string;
  recipe: string;
  /** The paper's CIFAR10-LT FID for this row (Table 1, or Table 2 for CBDM), where the text extraction kept it. */
  paperFid: number | null;
}

/**
 * Table 1's rows as recipes. The conditional OC-LT rows use Batch Re-sample (the paper uses it with T2H to undo
 * the q(y_H) q(y_T) factor of Proposition 3.1); the column check marks of Table 1 were lost in the text
 * extraction, so only the rows whose identity is clear carry a paper FID.
 */
export const ABLATION_METHODS: readonly AblationMethod[] = [
  { id: 'U-base', name: 'uncond. baseline', recipe: 'baseline+uncond', paperFid: 25.31 },
  { id: 'U-resample', name: 'uncond. + re-sample', recipe: 'baseline+resample+uncond', paperFid: 16.92 },
  { id: 'U-T2H', name: 'uncond. + re-sample + T2H', recipe: 't2h+resample+uncond', paperFid: 16.85 },
  { id: 'U-Full', name: 'uncond. + re-sample + Full', recipe: 'full+resample+uncond', paperFid: 16.78 },
  { id: 'U-H2T', name: 'uncond. + re-sample + H2T', recipe: 'h2t+resample+uncond', paperFid: 16.09 },
  { id: 'C-base', name: 'cond. baseline', recipe: 'baseline', paperFid: 10.72 },
  { id: 'C-resample', name: 'cond. + re-sample', recipe: 'baseline+resample', paperFid: null },
  { id: 'C-CBDM', name: 'cond. CBDM', recipe: 'cbdm', paperFid: 7.27 },
  { id: 'C-T2H', name: 'cond. + re-sample + T2H', recipe: 't2h+resample', paperFid: 6.89 },
  { id: 'C-H2T', name: 'cond. + re-sample + H2T', recipe: 'h2t+resample', paperFid: null },
  { id: 'C-Full', name: 'cond. + re-sample + Full', recipe: 'full+resample', paperFid: null },
];

/** Run order: the two baselines and each setting's best method first, so a partial run is already informative. */
const RUN_ORDER = ['U-base', 'C-base', 'U-H2T', 'C-T2H', 'U-resample', 'C-CBDM', 'U-T2H', 'C-H2T', 'U-Full', 'C-Full', 'C-resample'];

export const ABLATION_OPTIONS = {
  out: { type: 'string', description: 'working directory: one run directory per method (checkpoints, samples)', default: 'runs/ablation-fmnist-lt' },
  results: { type: 'string', description: 'results prefix: writes <results>.json, <results>.md, <results>-per-class-fid.png, <results>-samples/', default: 'bench/results/ablation-fmnist-lt' },
  methods: { type: 'string', description: `comma-separated method ids (default all: ${ABLATION_METHODS.map((m) => m.id).join(',')})`, default: 'all' },
  steps: { type: 'integer', description: 'training steps per method', default: 1000, min: 1 },
  'batch-size': { type: 'integer', description: 'batch size (also the reference set of target selection)', default: 64, min: 1, max: 65536 },
  lr: { type: 'number', description: 'Adam learning rate after warmup', default: 1e-3, above: 0 },
  warmup: { type: 'integer', description: 'linear learning-rate warmup steps', default: 100, min: 0 },
  'ema-decay': { type: 'number', description: 'EMA decay (with warmup)', default: 0.9999, min: 0, max: 1 },
  'label-drop': { type: 'number', description: 'classifier-free guidance: probability of dropping a whole batch of labels', default: 0.1, min: 0, max: 1 },
  'num-samples': { type: 'integer', description: 'generated images per method for the metrics (a multiple of 10)', default: 1000, min: 10, max: 100000 },
  'sample-steps': { type: 'integer', description: 'sampling steps of --scheduler (DDIM: eta 0)', default: 50, min: 1, max: 1000 },
  guidance: { type: 'number', description: 'classifier-free guidance weight w for conditional models', default: 1.5 },
  seed: { type: 'integer', description: 'seed of training and sampling (the same for every method)', default: 0 },
  'checkpoint-every': { type: 'integer', description: 'checkpoint every N >= 1 steps (and always at the end)', default: 100, min: 1 },
  'feature-net': { type: 'string', description: "feature network version, or 'random-untrained' (tests only)", default: 'fmnist-features-v1' },
  progress: { type: 'boolean', description: 'progress bars on stderr (default: when it is a terminal)', default: process.stderr.isTTY ?? false },
  ...SAMPLING_OPTIONS,
  ...MODEL_OPTIONS,
  ...DATA_OPTIONS,
} as const satisfies OptionSpecs;

export interface AblationConfig {
  train: Omit<TrainConfig, 'recipe' | 'model'> & { model: Omit<TrainConfig['model'], 'numClasses'> };
  numSamples: number;
  sampleSteps: number;
  guidance: number;
  featureNet: string;
  /** Set only when it is not OC_LT's sampler (--clip-x0 1, --scheduler other than ddim); absent: OC_LT's sampler (so results files from before compare equal). */
  sampling?: SamplingConfig;
}

export interface MethodResult {
  id: string;
  name: string;
  recipe: string;
  paperFid: number | null;
  status: 'sampled' | 'done';
  trainSeconds: number;
  sampleSeconds: number;
  evalSeconds?: number;
  finalLoss: number | null;
  steps: number;
  samplesPng: string;
  evaluation?: EvaluationResult;
}

export interface AblationResults {
  kind: 'oclt-ablation';
  provenance: Record<string, unknown>;
  config: AblationConfig;
  featureNet?: unknown;
  groups?: Record<string, number[]>;
  classCounts?: number[];
  classNames?: readonly string[];
  baselines?: Record<string, unknown>;
  methods: Record<string, MethodResult>;
  updated: string;
}

function chosenMethods(spec: string): AblationMethod[] {
  if (spec === 'all') return RUN_ORDER.map((id) => ABLATION_METHODS.find((m) => m.id === id)!);
  const ids = spec.split(',').map((s) => s.trim());
  return ids.map((id) => {
    const m = ABLATION_METHODS.find((x) => x.id === id);
    if (!m) throw new UsageError(`unknown method '${id}' in --methods; expected ${ABLATION_METHODS.map((x) => x.id).join(', ')}`);
    return m;
  });
}

/**
 * Up to 10 images of every class (conditional; one per class when there are more than 10 classes) or the first 100
 * (unconditional), for a grid.
 */
export function gridImages(s: GeneratedSamples, numClasses = NUM_CLASSES) {
  if (!s.labels) return s.images.narrow(0, 0, Math.min(100, s.images.shape[0]!));
  const per = s.labels.length / numClasses;
  const rows: number[] = [];
  const each = Math.min(numClasses > 10 ? 1 : 10, per);
  for (let c = 0; c < numClasses; c++) for (let k = 0; k < each; k++) rows.push(c * per + k);
  return indexSelect(s.images, 0, fromTypedArray(Int32Array.from(rows), [rows.length]));
}

export async function ablationCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('ablation', argv, ABLATION_OPTIONS);
  const data = dataConfigFrom(o);
  const numClasses = numClassesOf(data);
  if (o['num-samples'] % numClasses !== 0) throw new UsageError(`oclt ablation: --num-samples must be a multiple of ${numClasses} (the classes of --dataset ${data.dataset}), got ${o['num-samples']}`);
  const { numClasses: _n, ...model } = modelConfigFrom(o, data.imageSize, 0, channelsOf(data));
  void _n;
  const config: AblationConfig = {
    train: { data, model, steps: o.steps, batchSize: o['batch-size'], lr: o.lr, warmup: o.warmup, emaDecay: o['ema-decay'], labelDrop: o['label-drop'], seed: o.seed, checkpointEvery: o['checkpoint-every'] },
    numSamples: o['num-samples'],
    sampleSteps: o['sample-steps'],
    guidance: o.guidance,
    featureNet: o['feature-net'],
  };
  const sampling = samplingConfigFrom(o);
  if (!isDefaultSampling(sampling)) config.sampling = sampling;
  // Checked with the other flags, before any baseline is computed or file written.
  const methods = chosenMethods(o.methods);
  const resultsFile = `${o.results}.json`;
  let results: AblationResults;
  if (fs.existsSync(resultsFile)) {
    results = readJson<AblationResults>(resultsFile);
    if (JSON.stringify(results.config) !== JSON.stringify(config)) {
      throw new Error(`oclt ablation: ${resultsFile} was produced with another config:\n  was ${JSON.stringify(results.config)}\n  now ${JSON.stringify(config)}\nchoose another --results (and --out) or move the old files away`);
    }
  } else {
    results = { kind: 'oclt-ablation', provenance: provenance('ablation', config), config, methods: {}, updated: new Date().toISOString() };
  }
  const save = () => {
    results.updated = new Date().toISOString();
    writeJson(resultsFile, results);
    writeAblationReport(results, o.results);
  };
  const log = (m: string) => console.error(`[ablation ${new Date().toISOString().slice(11, 19)}] ${m}`);
  const lt = loadLongTailedTrain(data);
  results.groups = lt.groups;
  results.classCounts = lt.classCounts;
  results.classNames = lt.classNames;

  // The metrics context is optional: without the feature network, methods are trained and sampled, and a later
  // run (once the network exists) evaluates them.
  let ctx: MetricsContext | null = null;
  try {
    ctx = await MetricsContext.create(data, { version: config.featureNet }, { progress: o.progress });
    results.featureNet = ctx.featureNetInfo;
  } catch (err) {
    log(`no metrics this run: ${(err as Error).message}`);
  }
  if (ctx && !results.baselines) {
    log('real-vs-real baselines');
    results.baselines = ctx.baselines(config.numSamples) as Record<string, unknown>;
    save();
  }

  const samplesDir = `${o.results}-samples`;
  for (const method of methods) {
    const prev = results.methods[method.id];
    if (prev?.status === 'done') {
      log(`${method.id}: done already, skipped`);
      continue;
    }
    const dir = path.join(o.out, method.id);
    const samplesFile = path.join(dir, 'eval-samples.safetensors');
    let entry: MethodResult;
    let samples: GeneratedSamples;
    if (prev?.status === 'sampled' && fs.existsSync(samplesFile)) {
      entry = prev;
      samples = loadSamples(samplesFile, numClasses);
    } else {
      const conditional = parseRecipe(method.recipe).conditional;
      const trainConfig: TrainConfig = { ...config.train, recipe: method.recipe, model: { ...config.train.model, numClasses: conditional ? numClasses : 0 } };
      log(`${method.id} (${method.recipe}): training ${config.train.steps} steps`);
      const outcome = await trainRun(trainConfig, dir, { data: lt, progress: o.progress, log });
      if (outcome.run.stoppedBy !== 'completed') {
        log(`stopped by ${outcome.run.stoppedBy} during ${method.id} at step ${outcome.run.step}; re-run the same command to resume`);
        save();
        return outcome.run.stoppedBy === 'SIGINT' ? 130 : 143;
      }
      log(`${method.id}: trained in ${outcome.wallSeconds.toFixed(0)} s (final loss ${outcome.finalLoss?.toFixed(4)}); sampling ${config.numSamples}`);
      const t0 = performance.now();
      samples = generateSamples(outcome.model, trainConfig.model, { numSamples: config.numSamples, steps: config.sampleSteps, guidance: config.guidance, seed: config.train.seed + 1000, sampling, onBatch: (d, n) => log(`${method.id}: sampled ${d}/${n}`) });
      const sampleSeconds = (performance.now() - t0) / 1000;
      saveSamples(samplesFile, samples);
      const png = path.join(samplesDir, `${method.id}.png`);
      saveImageGrid(png, gridImages(samples, numClasses), { nrow: 10, scale: GRID_SCALE });
      entry = { id: method.id, name: method.name, recipe: method.recipe, paperFid: method.paperFid, status: 'sampled', trainSeconds: round(outcome.wallSeconds, 5)!, sampleSeconds: round(sampleSeconds, 5)!, finalLoss: round(outcome.finalLoss, 5), steps: outcome.run.step, samplesPng: png };
      results.methods[method.id] = entry;
      save();
    }
    if (ctx) {
      const t0 = performance.now();
      entry.evaluation = ctx.evaluate(samples);
      entry.evalSeconds = round((performance.now() - t0) / 1000, 4)!;
      entry.status = 'done';
      const m = entry.evaluation.metrics;
      log(`${method.id}: FID ${m.fid.toFixed(2)} KID ${m.kid_mean.toFixed(4)} IS ${m.is_mean?.toFixed(2)} P ${m.precision.toFixed(3)} R ${m.recall.toFixed(3)}`);
      save();
    }
  }
  save();
  const pending = ABLATION_METHODS.filter((m) => results.methods[m.id]?.status !== 'done').map((m) => m.id);
  log(pending.length ? `not finished: ${pending.join(', ')}` : 'all methods done');
  console.log(`results: ${resultsFile}, ${o.results}.md`);
  return 0;
}

const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

interface ReportMetrics {
  fid: number;
  kid_mean: number;
  is_mean: number | null;
  precision: number;
  recall: number;
  per_class_fid: { per_class: number[]; mean: number; groups: Record<string, number> } | null;
}

function metricCells(m: ReportMetrics | undefined): string[] {
  if (!m) return ['-', '-', '-', '-', '-', '-', '-', '-'];
  const pc = m.per_class_fid;
  return [fmt(m.fid), fmt(m.kid_mean, 3), fmt(m.is_mean), fmt(m.precision, 3), fmt(m.recall, 3), fmt(pc?.mean), fmt(pc?.groups.head), fmt(pc?.groups.tail)];
}

const NOTES_MARKER = '<!-- notes: everything below this line is kept when the report is regenerated -->';

/** The Markdown table, the per-class FID chart, and the hand-written notes kept from the previous report. */
export function writeAblationReport(r: AblationResults, prefix: string): void {
  const mdFile = `${prefix}.md`;
  const oldNotes = fs.existsSync(mdFile) ? fs.readFileSync(mdFile, 'utf8').split(NOTES_MARKER)[1] : undefined;
  const c = r.config;
  const header = '| id | method | recipe | FID | KID | IS | precision | recall | per-class FID mean | head | tail | train s | sample s | paper FID (CIFAR10-LT) |';
  const rule = '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = ABLATION_METHODS.map((m) => {
    const e = r.methods[m.id];
    const cells = metricCells(e?.evaluation?.metrics as ReportMetrics | undefined);
    return `| ${m.id} | ${m.name} | \`${m.recipe}\` | ${cells.join(' | ')} | ${fmt(e?.trainSeconds, 0)} | ${fmt(e?.sampleSeconds, 0)} | ${fmt(m.paperFid)} |`;
  });
  const baselineRows = Object.entries(r.baselines ?? {}).map(([name, m]) => `| real | ${name.replace(/_/g, ' ')} | - | ${metricCells(m as ReportMetrics).join(' | ')} | - | - | - |`);
  const order = (prefix: string) =>
    ABLATION_METHODS.filter((m) => m.id.startsWith(prefix) && r.methods[m.id]?.evaluation)
      .map((m) => [m.id, r.methods[m.id]!.evaluation!.metrics.fid] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([id, f]) => `${id} ${f.toFixed(2)}`)
      .join(' < ');
  const classLine = r.classCounts ? r.classCounts.map((n, k) => `${k} ${r.classNames?.[k] ?? ''} (${n})`).join(', ') : '';
  const unconditionalLabels = ABLATION_METHODS.filter((m) => m.id.startsWith('U-') && r.methods[m.id]?.evaluation).map((m) => `${m.id}: [${r.methods[m.id]!.evaluation!.predictedClassCounts.join(', ')}]`);
  // Per-class FID: one panel per setting, one bar per method, the balanced real sample as reference.
  const names = (r.classNames ?? []).map((n, k) => `${k}`);
  const panel = (prefix: string, title: string) => {
    const series = ABLATION_METHODS.filter((m) => m.id.startsWith(prefix) && r.methods[m.id]?.evaluation?.metrics.per_class_fid).map((m) => ({ label: m.id, values: r.methods[m.id]!.evaluation!.metrics.per_class_fid!.per_class }));
    const real = (r.baselines?.balanced_train_sameN_vs_test as ReportMetrics | undefined)?.per_class_fid;
    if (real) series.push({ label: 'real (same N)', values: real.per_class });
    return series.length ? barChart(names.length ? names : [...Array(NUM_CLASSES).keys()].map(String), series, { title, xLabel: 'class (0 = head ... 9 = tail)', yLabel: 'FID', width: 900, height: 380 }) : null;
  };
  const panels = [panel('U-', 'Per-class FID, unconditional (class from the feature network)'), panel('C-', 'Per-class FID, conditional')].filter((p) => p !== null);
  // The chart exists only once some method has a per-class FID: link it only then (it was linked, unwritten).
  const chartFile = `${prefix}-per-class-fid.png`;
  if (panels.length) savePng(chartFile, composeGrid(panels, 1));
  else fs.rmSync(chartFile, { force: true });
  const lines = [
    `# Ablation (paper Table 1) at CPU scale on ${c.train.data.dataset === 'synthetic' ? 'synthetic stripes (test data)' : dataSetTitle(c.train.data)}`,
    '',
    `Generated by \`oclt ablation\` (${r.provenance.gitCommit ? `commit ${String(r.provenance.gitCommit).slice(0, 12)}` : ''}, started ${String(r.provenance.date ?? '')}, updated ${r.updated}).`,
    `Command: \`${['oclt', ...((r.provenance.argv as string[]) ?? [])].join(' ')}\``,
    '',
    `Data: ${dataSetTitle(c.train.data)}, imbalance ${c.train.data.imbalance}, ${c.train.data.imageSize}x${c.train.data.imageSize}, classes (n): ${classLine}. Groups: ${JSON.stringify(r.groups ?? {})}.`,
    `Model: ${JSON.stringify(c.train.model)}; ${c.train.steps} steps, batch ${c.train.batchSize}, Adam lr ${c.train.lr} (warmup ${c.train.warmup}), EMA ${c.train.emaDecay} with warmup, CFG label drop ${c.train.labelDrop} per batch.`,
    `Sampling: ${c.numSamples} images per method (conditional: ${c.numSamples / numClassesOf(c.train.data)} per class), ${c.sampling?.scheduler ? `--scheduler ${schedulerNameOf(c.sampling)}` : 'DDIM'} ${c.sampleSteps} steps${c.sampling?.scheduler ? '' : ', eta 0'}, ${c.sampling?.clipX0 ? `x0 clipped to [-${c.sampling.clipX0}, ${c.sampling.clipX0}] at every step` : c.sampling?.scheduler ? 'no x0 clipping' : "no x0 clipping (OC_LT's sampler; results started before commit b45e427 clipped x0 to [-1, 1])"}, guidance w = ${c.guidance} (conditional).`,
    `Metrics: feature network ${JSON.stringify(r.featureNet ?? 'not available')}; reference = the balanced test set (10,000). Per-class FID uses the conditioning label (conditional) or the feature network's predicted class (unconditional).`,
    '',
    header,
    rule,
    ...rows,
    ...baselineRows,
    '',
    `FID ordering (lower is better), unconditional: ${order('U-') || '-'}; conditional: ${order('C-') || '-'}.`,
    "Paper's Table 1 ordering (CIFAR10-LT): unconditional 25.31 (base) > 16.92 (+re-sample) > 16.85 (T2H) > 16.78 (Full) > 16.09 (H2T); conditional 10.72 (base) > ... > 6.89 (T2H, best); CBDM 7.27 (Table 2).",
    '',
    unconditionalLabels.length ? `Class balance of unconditional samples (feature-network class counts, class 0 the head): ${unconditionalLabels.join('; ')}.` : '',
    '',
    `${panels.length ? `Per-class FID chart: ![per-class FID](${path.basename(chartFile)}). ` : ''}Sample grids: ${path.basename(prefix)}-samples/<id>.png (conditional: one row per class).`,
    '',
    NOTES_MARKER,
    oldNotes ?? '\n## Notes\n\n(to be written once the run has finished)\n',
  ];
  fs.writeFileSync(mdFile, lines.join('\n'));
}

export const ABLATION_HELP = helpText('ablation', "The paper's Table 1 at small scale on Fashion-MNIST-LT: train, sample and evaluate eleven methods; resumable (re-run the same command).", ABLATION_OPTIONS);
