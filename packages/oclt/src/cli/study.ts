/**
 * `oclt study <plan|run|unit|report> --design <file>`: runs a declared, multi-seed study (see ../study/design.ts)
 * and reports it with intervals (../study/report.ts).
 *
 * Every unit (baselines, pre-training, one per arm and seed) is an independent job in <out>/units/<id>/, with a
 * lock file so that any number of processes, on one machine or on a cluster sharing the folder, can work on one
 * study without clobbering each other: `run` takes the next unit nobody holds; `plan` prints the pending units as
 * one command each, for GNU parallel, a Slurm job array or Kubernetes Jobs; `report` collects what is finished.
 * Each unit records its stages (trained, sampled, evaluated, each guidance weight of the sweep) as it goes, so an
 * interrupted unit resumes where it stopped; training itself resumes from its newest checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import { savePng, saveImageGrid, writeFileAtomic } from '@oclt/diffusion/node';
import { lineChart, type Denoiser } from '@oclt/diffusion';
import type { MetricsReport } from '@oclt/metrics';
import { Generator, concat, fromTypedArray, indexSelect, noGrad, randn, tidy } from '@oclt/tensor';
import { bottleneckFeatures, featureSeparation, type TappableDenoiser } from '../coral.js';
import { armUnitId, parseStudyDesign, pretrainId, studyUnits, type StudyDesign, type StudyUnit } from '../study/design.js';
import { fidAgainstN, type FidAtN } from '../study/fid-n.js';
import { tryLock, isLockHeld } from '../study/lock.js';
import { writeStudyReport, type EvalSummary, type SeparationRecord, type UnitRecord } from '../study/report.js';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { GRID_SCALE, imageTensor, numClassesOf, loadLongTailedTrain, loadTestSet, provenance, readJson, round, trainingScheduler, writeJson, type DataConfig, type ModelConfig } from './common.js';
import { MetricsContext, loadSamples, type EvaluationResult } from './eval.js';
import { generateSamples, saveSamples, type GeneratedSamples } from './generate.js';
import { trainRun, type TrainConfig } from './train.js';
import { gridImages } from './ablation.js';

export const STUDY_OPTIONS = {
  design: { type: 'string', description: 'the design file (JSON; see bench/designs/)' },
  out: { type: 'string', description: 'working directory: one folder per unit (default runs/<design name>)', default: '' },
  results: { type: 'string', description: 'report prefix: <results>.json, <results>.md, <results>-*.png (default bench/results/<design name>)', default: '' },
  'max-tier': { type: 'integer', description: 'only arms of this tier or lower (the design orders arms by tier: run tier 1 first)', default: 9, min: 1, max: 9 },
  unit: { type: 'string', description: "for 'unit': the unit to run ('baselines', 'pretrain-C', 'pretrain-U' or '<arm>@<seed>'); for 'fid-n': the finished arm unit whose model is measured", default: '' },
  n: { type: 'string', description: "for 'fid-n': the sample counts N, comma-separated (default: the design's N / 8, / 4, / 2, x 1 and x 2)", default: '' },
  progress: { type: 'boolean', description: 'progress bars on stderr (default: when it is a terminal)', default: process.stderr.isTTY ?? false },
} as const satisfies OptionSpecs;

const SUBCOMMANDS = ['plan', 'run', 'unit', 'report', 'fid-n'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** What a unit's folder records (unit.json), stage by stage. */
interface UnitState extends UnitRecord {
  kind: 'oclt-study-unit';
  /** The sampling settings the unit's samples were made with: a unit is never resumed under other ones. */
  settings: string;
}

interface StudyContext {
  design: StudyDesign;
  designFile: string;
  out: string;
  results: string;
  maxTier: number;
  progress: boolean;
  log: (m: string) => void;
  metrics: MetricsContext | null;
}

const unitDir = (ctx: { out: string }, id: string) => path.join(ctx.out, 'units', id);
const unitFile = (ctx: StudyContext, id: string) => path.join(unitDir(ctx, id), 'unit.json');
const lockFile = (ctx: StudyContext, id: string) => path.join(unitDir(ctx, id), 'lock');

function dataConfig(d: StudyDesign): DataConfig {
  return { dataset: d.data.dataset, dataDir: d.data.dataDir ?? '', imageSize: d.data.imageSize, imbalance: d.data.imbalance, ltSeed: d.data.ltSeed, ...(d.data.classOrder ? { classOrder: d.data.classOrder } : {}) };
}

function modelConfig(d: StudyDesign, conditional: boolean, seed: number): ModelConfig {
  return { ...d.model, imageSize: d.data.imageSize, numClasses: conditional ? numClassesOf(dataConfig(d)) : 0, seed };
}

/** The sampling settings a unit's results depend on, as a string compared on resume. */
function settingsKey(d: StudyDesign): string {
  return JSON.stringify({ sampling: d.sampling, featureNet: d.featureNet, data: d.data });
}

/** The training run of a unit: the pre-training of a setting, or an arm at a seed (from scratch or fine-tuned). */
export function unitTrainConfig(ctx: { design: StudyDesign; out: string }, unit: StudyUnit): TrainConfig {
  const d = ctx.design;
  const data = dataConfig(d);
  const t = d.train;
  if (unit.kind === 'pretrain') {
    if (d.protocol.kind !== 'fine-tune') throw new Error(`unit ${unit.id}: the design's protocol has no pre-training`);
    const conditional = unit.setting === 'conditional';
    return { data, model: modelConfig(d, conditional, d.model.seed), recipe: conditional ? 'baseline' : 'baseline+uncond', steps: d.protocol.pretrainSteps, batchSize: t.batchSize, lr: t.lr, warmup: t.warmup, emaDecay: t.emaDecay, labelDrop: t.labelDrop, seed: d.protocol.pretrainSeed, checkpointEvery: t.checkpointEvery };
  }
  if (unit.kind !== 'arm') throw new Error(`unit ${unit.id} trains nothing`);
  const arm = unit.arm!;
  const seed = unit.seed!;
  const conditional = unit.setting === 'conditional';
  const common = { data, recipe: arm.recipe, batchSize: t.batchSize, lr: t.lr, emaDecay: t.emaDecay, labelDrop: t.labelDrop, seed, checkpointEvery: t.checkpointEvery, ...(arm.cbdm ? { cbdm: arm.cbdm } : {}), ...(arm.coral ? { coral: arm.coral } : {}) };
  if (d.protocol.kind === 'scratch') {
    // From scratch the seed also draws the initial weights (the same for every arm at that seed: paired).
    return { ...common, model: modelConfig(d, conditional, d.model.seed + seed), steps: d.protocol.steps, warmup: t.warmup };
  }
  const source = path.resolve(unitDir(ctx, pretrainId(unit.setting!)), 'run', 'checkpoints', `ckpt-${String(d.protocol.pretrainSteps).padStart(8, '0')}.json`);
  return { ...common, model: modelConfig(d, conditional, d.model.seed), steps: d.protocol.steps, warmup: d.protocol.warmup, initFrom: { source, weights: d.protocol.weights, optimizer: false } };
}

function readState(ctx: StudyContext, unit: StudyUnit): UnitState {
  const file = unitFile(ctx, unit.id);
  const settings = settingsKey(ctx.design);
  if (!fs.existsSync(file)) return { kind: 'oclt-study-unit', id: unit.id, unitKind: unit.kind, arm: unit.arm?.id, seed: unit.seed, setting: unit.setting, status: 'pending', settings };
  const s = readJson<UnitState>(file);
  if (s.settings !== settings) {
    throw new Error(`${file} was made with other sampling/metrics settings than ${ctx.designFile} now declares:\n  was ${s.settings}\n  now ${settings}\nuse another --out, or restore the design`);
  }
  return s;
}

function isDone(ctx: StudyContext, id: string): boolean {
  const f = unitFile(ctx, id);
  return fs.existsSync(f) && readJson<UnitState>(f).status === 'done';
}

async function metricsContext(ctx: StudyContext): Promise<MetricsContext> {
  ctx.metrics ??= await MetricsContext.create(dataConfig(ctx.design), { version: ctx.design.featureNet }, { progress: ctx.progress });
  return ctx.metrics;
}

/** The headline numbers kept for the report (the full report stays in the unit's samples' evaluation). */
function summary(e: EvaluationResult): EvalSummary {
  const m: MetricsReport = e.metrics;
  return {
    fid: m.fid,
    kid_mean: m.kid_mean,
    kid_std: m.kid_std,
    is_mean: m.is_mean,
    precision: m.precision,
    recall: m.recall,
    per_class_fid: m.per_class_fid ? { per_class: m.per_class_fid.per_class, mean: m.per_class_fid.mean, groups: m.per_class_fid.groups } : null,
    predictedClassCounts: e.predictedClassCounts,
    labelSource: e.labelSource,
  };
}

/**
 * CORAL's claim measured on every arm: how far apart the classes of each group (head, medium, tail) lie in the
 * UNet's pooled bottleneck features, as featureSeparation's between/within distance ratio. Inputs: the first
 * `perClass` test images of each class, noised to each timestep with one fixed noise draw (the same for every
 * unit, so arms are compared on identical inputs); conditional models see them with their labels ('fed') and with
 * the null label ('null', the representation before any label enters), unconditional ones without ('none').
 */
export const SEPARATION = { perClass: 100, timesteps: [100, 500], noiseSeed: 3000 } as const;

const separationText = (rs: SeparationRecord[]) => rs.map((r) => `t ${r.timestep} ${r.labels}: head ${r.ratio.head?.toFixed(3)} tail ${r.ratio.tail?.toFixed(3)}`).join(', ');

function bottleneckSeparation(model: Denoiser, config: ModelConfig, data: DataConfig, groups: Record<string, number[]>): SeparationRecord[] {
  if (!('bottleneckTap' in model)) return []; // an MLP has no bottleneck to measure
  const test = loadTestSet(data);
  const taken = new Map<number, number>();
  const rows: number[] = [];
  test.labels.forEach((c, i) => {
    if ((taken.get(c) ?? 0) < SEPARATION.perClass) (taken.set(c, (taken.get(c) ?? 0) + 1), rows.push(i));
  });
  const pixels = test.size * test.size * (test.channels ?? 1);
  const picked = { ...test, count: rows.length, labels: Int32Array.from(rows, (i) => test.labels[i]!), pixels: new Float32Array(rows.length * pixels) };
  rows.forEach((i, k) => picked.pixels.set(test.pixels.subarray(i * pixels, (i + 1) * pixels), k * pixels));
  const groupOf: string[] = [];
  for (const [g, classes] of Object.entries(groups)) for (const c of classes) groupOf[c] = g;
  const abar = trainingScheduler(config).alphasCumprod;
  const tapped = model as unknown as TappableDenoiser;
  const feeds: SeparationRecord['labels'][] = config.numClasses > 0 ? ['fed', 'null'] : ['none'];
  const out: SeparationRecord[] = [];
  noGrad(() => {
    const x0 = imageTensor(picked);
    const noise = randn(x0.shape, new Generator(SEPARATION.noiseSeed));
    for (const t of SEPARATION.timesteps) {
      for (const labels of feeds) {
        const f = tidy(() => {
          const xt = x0.mul(Math.sqrt(abar[t]!)).add(noise.mul(Math.sqrt(1 - abar[t]!)));
          const ts = fromTypedArray(new Int32Array(picked.count).fill(t), [picked.count]);
          const fed = labels === 'none' ? undefined : fromTypedArray(labels === 'fed' ? picked.labels : new Int32Array(picked.count).fill(model.nullLabel), [picked.count]);
          return bottleneckFeatures(tapped, xt, ts, fed);
        });
        const sep = featureSeparation(f.values, f.dim, picked.labels, groupOf);
        out.push({ timestep: t, labels, ratio: Object.fromEntries(sep.map((g) => [g.group, round(g.ratio, 5)!])) });
      }
    }
  });
  return out;
}

/** A unit finished before the separation diagnostic existed gets it when its final checkpoint is still there. */
async function backfillSeparation(ctx: StudyContext, unit: StudyUnit, state: UnitState): Promise<void> {
  if (unit.kind !== 'arm' || state.separation) return;
  const config = unitTrainConfig(ctx, unit);
  const runDir = path.join(unitDir(ctx, unit.id), 'run');
  if (!fs.existsSync(path.join(runDir, 'checkpoints', `ckpt-${String(config.steps).padStart(8, '0')}.json`))) return;
  const lt = loadLongTailedTrain(config.data);
  const outcome = await trainRun(config, runDir, { data: lt, progress: ctx.progress, log: ctx.log });
  if (outcome.run.stoppedBy !== 'completed') return;
  state.separation = bottleneckSeparation(outcome.model, config.model, config.data, lt.groups);
  ctx.log(`${unit.id}: bottleneck separation added: ${separationText(state.separation)}`);
  writeJson(unitFile(ctx, unit.id), state);
}

type UnitOutcome = 'done' | 'interrupted' | 'blocked' | 'locked';

/** Runs one unit to the end (or until interrupted); resumes whatever stage it stopped in. */
async function runUnit(ctx: StudyContext, unit: StudyUnit): Promise<{ outcome: UnitOutcome; code?: number }> {
  const blockedBy = unit.needs.filter((n) => !isDone(ctx, n));
  if (blockedBy.length) return { outcome: 'blocked' };
  const lock = tryLock(lockFile(ctx, unit.id));
  if (!lock) return { outcome: 'locked' };
  try {
    const state = readState(ctx, unit);
    if (state.status === 'done') {
      await backfillSeparation(ctx, unit, state);
      return { outcome: 'done' };
    }
    const save = () => writeJson(unitFile(ctx, unit.id), state);
    const d = ctx.design;
    if (unit.kind === 'baselines') {
      const m = await metricsContext(ctx);
      ctx.log(`${unit.id}: real-vs-real metrics at N = ${d.sampling.numSamples}`);
      const b = m.baselines(d.sampling.numSamples);
      state.baselines = Object.fromEntries(Object.entries(b).map(([k, r]) => [k, summary({ labelSource: 'conditioning', predictedClassCounts: [], metrics: r })]));
      state.status = 'done';
      save();
      return { outcome: 'done' };
    }
    const config = unitTrainConfig(ctx, unit);
    const runDir = path.join(unitDir(ctx, unit.id), 'run');
    const lt = loadLongTailedTrain(config.data);
    const conditional = unit.setting === 'conditional';
    const sampleSeed = 1000 + (unit.seed ?? 0);

    if (unit.kind === 'pretrain' && d.protocol.kind === 'fine-tune') {
      // Trained in segments of curveEvery steps, each evaluated (FID over training, the paper's Fig. 6); extending
      // a run is bit for bit the straight run, so the segments do not change the pre-trained model.
      const every = d.protocol.curveEvery > 0 ? d.protocol.curveEvery : d.protocol.pretrainSteps;
      state.curve ??= [];
      for (let k = Math.min(every, d.protocol.pretrainSteps); ; k = Math.min(k + every, d.protocol.pretrainSteps)) {
        if (!state.curve.some((p) => p.step === k)) {
          ctx.log(`${unit.id}: training to step ${k} of ${d.protocol.pretrainSteps}`);
          const outcome = await trainRun({ ...config, steps: k }, runDir, { data: lt, progress: ctx.progress, log: ctx.log });
          if (outcome.run.stoppedBy !== 'completed') return { outcome: 'interrupted', code: outcome.run.stoppedBy === 'SIGINT' ? 130 : 143 };
          state.trainSeconds = round((state.trainSeconds ?? 0) + outcome.wallSeconds, 6)!;
          if (d.protocol.curveEvery > 0) {
            const t0 = performance.now();
            const s = generateSamples(outcome.model, config.model, { numSamples: d.protocol.curveSamples, steps: d.sampling.steps, guidance: d.sampling.guidance, seed: sampleSeed });
            const e = (await metricsContext(ctx)).evaluate(s);
            state.curve.push({ step: k, evaluation: summary(e), seconds: round((performance.now() - t0) / 1000, 4)! });
            ctx.log(`${unit.id}: step ${k}: FID ${e.metrics.fid.toFixed(2)} (N = ${d.protocol.curveSamples})`);
          } else {
            state.curve.push({ step: k, evaluation: null, seconds: 0 });
          }
          state.finalLoss = round(outcome.finalLoss, 5);
          save();
        }
        if (k >= d.protocol.pretrainSteps) break;
      }
      state.status = 'done';
      save();
      return { outcome: 'done' };
    }

    // An arm at a seed: train, sample the main set, evaluate, then the guidance sweep.
    const samplesFile = path.join(unitDir(ctx, unit.id), 'samples.safetensors');
    let model = null as Awaited<ReturnType<typeof trainRun>>['model'] | null;
    const trainIfNeeded = async () => {
      if (model) return true;
      if (state.status === 'pending') ctx.log(`${unit.id} (${unit.arm!.recipe}): training ${config.steps} steps${config.initFrom ? ` from ${path.relative(ctx.out, config.initFrom.source)}` : ''}`);
      const outcome = await trainRun(config, runDir, { data: lt, progress: ctx.progress, log: ctx.log });
      if (outcome.run.stoppedBy !== 'completed') return false;
      model = outcome.model;
      if (state.status === 'pending') {
        state.trainSeconds = round(outcome.wallSeconds, 6)!;
        state.finalLoss = round(outcome.finalLoss, 5);
        state.status = 'trained';
        save();
      }
      return true;
    };
    let samples: GeneratedSamples;
    if ((state.status === 'sampled' || state.status === 'evaluated') && fs.existsSync(samplesFile)) {
      samples = loadSamples(samplesFile);
    } else {
      if (!(await trainIfNeeded())) return { outcome: 'interrupted', code: 143 };
      const t0 = performance.now();
      samples = generateSamples(model!, config.model, { numSamples: d.sampling.numSamples, steps: d.sampling.steps, guidance: d.sampling.guidance, seed: sampleSeed, onBatch: (k, n) => ctx.log(`${unit.id}: sampled ${k}/${n}`) });
      state.sampleSeconds = round((performance.now() - t0) / 1000, 5)!;
      saveSamples(samplesFile, samples);
      saveImageGrid(path.join(unitDir(ctx, unit.id), 'samples.png'), gridImages(samples), { nrow: 10, scale: GRID_SCALE });
      state.status = 'sampled';
      save();
    }
    if (state.status === 'sampled') {
      const t0 = performance.now();
      const e = (await metricsContext(ctx)).evaluate(samples);
      state.evaluation = summary(e);
      state.evalSeconds = round((performance.now() - t0) / 1000, 4)!;
      state.status = 'evaluated';
      ctx.log(`${unit.id}: FID ${e.metrics.fid.toFixed(2)} KID ${e.metrics.kid_mean.toFixed(4)} tail FID ${e.metrics.per_class_fid?.groups.tail?.toFixed(2) ?? '-'}`);
      save();
    }
    const sweep = d.sampling.sweep;
    if (sweep && conditional) {
      state.sweep ??= [];
      for (const w of sweep.weights) {
        if (state.sweep.some((p) => p.guidance === w)) continue;
        if (!(await trainIfNeeded())) return { outcome: 'interrupted', code: 143 };
        const t0 = performance.now();
        // The same noise at every w (one seed): the sweep's differences between weights are paired too.
        const s = generateSamples(model!, config.model, { numSamples: sweep.numSamples, steps: sweep.steps, guidance: w, seed: 2000 + (unit.seed ?? 0) });
        const e = (await metricsContext(ctx)).evaluate(s);
        state.sweep.push({ guidance: w, evaluation: summary(e), seconds: round((performance.now() - t0) / 1000, 4)! });
        ctx.log(`${unit.id}: guidance ${w}: FID ${e.metrics.fid.toFixed(2)} (N = ${sweep.numSamples})`);
        save();
      }
    }
    if (!state.separation) {
      if (!(await trainIfNeeded())) return { outcome: 'interrupted', code: 143 };
      state.separation = bottleneckSeparation(model!, config.model, config.data, lt.groups);
      ctx.log(`${unit.id}: bottleneck separation ${separationText(state.separation)}`);
      save();
    }
    state.status = 'done';
    save();
    return { outcome: 'done' };
  } finally {
    lock.release();
  }
}

function loadDesign(file: string): StudyDesign {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UsageError(`--design ${file} is not a file`);
  return parseStudyDesign(fs.readFileSync(file, 'utf8'), file);
}

/** The units of the study, with the state of each: done, running (locked), ready or waiting for another unit. */
function unitStates(ctx: StudyContext): { unit: StudyUnit; state: 'done' | 'running' | 'ready' | 'waiting' }[] {
  return studyUnits(ctx.design, { maxTier: ctx.maxTier }).map((unit) => {
    if (isDone(ctx, unit.id)) return { unit, state: 'done' as const };
    if (isLockHeld(lockFile(ctx, unit.id))) return { unit, state: 'running' as const };
    return { unit, state: unit.needs.every((n) => isDone(ctx, n)) ? ('ready' as const) : ('waiting' as const) };
  });
}

function quote(s: string): string {
  return /^[A-Za-z0-9_./@=:-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

export async function studyCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!SUBCOMMANDS.includes(sub as Subcommand)) throw new UsageError(`oclt study: expected a subcommand (${SUBCOMMANDS.join(', ')}) first, got ${sub === undefined ? 'nothing' : `'${sub}'`}`);
  const o = parseArgs(`study ${sub}`, rest, STUDY_OPTIONS);
  const design = loadDesign(o.design);
  const ctx: StudyContext = {
    design,
    designFile: o.design,
    out: o.out || path.join('runs', design.name),
    results: o.results || path.join('bench', 'results', design.name),
    maxTier: o['max-tier'],
    progress: o.progress,
    log: (m) => console.error(`[study ${new Date().toISOString().slice(11, 19)}] ${m}`),
    metrics: null,
  };
  // The design the study was started with is kept beside its units: a changed design is named, not mixed in.
  const kept = path.join(ctx.out, 'design.json');
  if (sub !== 'plan' && sub !== 'report' && sub !== 'fid-n') {
    if (fs.existsSync(kept)) {
      const old = readJson<StudyDesign>(kept);
      if (settingsKey(old) !== settingsKey(design)) throw new Error(`${ctx.out} holds a study made with other data/sampling/metrics settings (${kept}); use another --out`);
    }
    writeJson(kept, { ...design, provenance: provenance(`study ${sub}`, { design: o.design }) });
  }

  if (sub === 'plan') {
    const states = unitStates(ctx);
    const base = ['oclt', 'study', 'unit', '--design', o.design, ...(o.out ? ['--out', o.out] : [])];
    for (const { unit, state } of states) {
      if (state === 'done') continue;
      const cmd = [...base, '--unit', unit.id].map(quote).join(' ');
      console.log(state === 'ready' ? cmd : `${cmd}  # ${state}${state === 'waiting' ? ` for ${unit.needs.join(', ')}` : ''}`);
    }
    const done = states.filter((s) => s.state === 'done').length;
    console.error(`${done} of ${states.length} units done; ${states.filter((s) => s.state === 'ready').length} ready, ${states.filter((s) => s.state === 'running').length} running, ${states.filter((s) => s.state === 'waiting').length} waiting`);
    return 0;
  }
  if (sub === 'unit') {
    if (!o.unit) throw new UsageError(`oclt study unit: --unit is required (one of the ids 'oclt study plan' prints)`);
    const unit = studyUnits(design).find((u) => u.id === o.unit);
    if (!unit) throw new UsageError(`oclt study unit: --unit ${o.unit} is not a unit of ${o.design} (units are 'baselines', ${design.protocol.kind === 'fine-tune' ? "'pretrain-C', 'pretrain-U', " : ''}and '<arm>@<seed>', e.g. ${armUnitId(design.arms[0]!.id, design.seeds[0]!)})`);
    const r = await runUnit(ctx, unit);
    if (r.outcome === 'blocked') throw new Error(`unit ${unit.id} needs ${unit.needs.filter((n) => !isDone(ctx, n)).join(', ')} to be done first`);
    if (r.outcome === 'locked') throw new Error(`unit ${unit.id} is being run by another process (${lockFile(ctx, unit.id)})`);
    if (r.outcome === 'interrupted') return r.code ?? 143;
    ctx.log(`${unit.id}: done`);
    return 0;
  }
  if (sub === 'fid-n') return fidNCommand(ctx, o.unit, o.n);
  if (sub === 'run') {
    // Take ready units one by one until none is left that this process can run; units locked by another
    // process are left to it, and units waiting for those are picked up once they are done.
    // First, finished arms that lack a later-added diagnostic get it (runUnit backfills and returns at once).
    for (const s of unitStates(ctx)) if (s.state === 'done' && s.unit.kind === 'arm') await runUnit(ctx, s.unit);
    for (;;) {
      const states = unitStates(ctx);
      const next = states.find((s) => s.state === 'ready');
      if (!next) {
        const running = states.filter((s) => s.state === 'running');
        const waiting = states.filter((s) => s.state === 'waiting');
        if (running.length && waiting.length) {
          // Another process holds what the rest waits for: wait for it rather than stop.
          await new Promise((r) => setTimeout(r, 5000));
          continue;
        }
        ctx.log(`${states.filter((s) => s.state === 'done').length} of ${states.length} units done${running.length ? `; ${running.length} running elsewhere: ${running.map((s) => s.unit.id).join(', ')}` : ''}`);
        break;
      }
      const r = await runUnit(ctx, next.unit);
      if (r.outcome === 'interrupted') {
        ctx.log(`${next.unit.id}: interrupted; the same command resumes it`);
        return r.code ?? 143;
      }
      if (r.outcome === 'done') ctx.log(`${next.unit.id}: done`);
    }
    writeReport(ctx);
    return 0;
  }
  writeReport(ctx);
  return 0;
}

/** The sample counts of `study fid-n --n` (or the default around the design's N), checked before any work. */
function fidNCounts(design: StudyDesign, text: string, numClasses: number): number[] {
  const N = design.sampling.numSamples;
  const ns = text ? text.split(',').map((x) => Number(x.trim())) : [N / 8, N / 4, N / 2, N, 2 * N].map((x) => (numClasses > 0 ? Math.round(x / numClasses) * numClasses : Math.round(x)));
  for (const n of ns) {
    if (!(Number.isInteger(n) && n >= 2)) throw new UsageError(`oclt study fid-n: --n takes integers >= 2, comma-separated, got '${text}'`);
    if (numClasses > 0 && n % numClasses !== 0) throw new UsageError(`oclt study fid-n: --n ${n} is not a multiple of the ${numClasses} classes (the sets are class-balanced)`);
  }
  if (new Set(ns).size !== ns.length) throw new UsageError(`oclt study fid-n: --n repeats a count: '${text}'`);
  return ns;
}

/** Joins two sample sets (images along the first axis, labels likewise). */
function joinSamples(a: GeneratedSamples, b: GeneratedSamples): GeneratedSamples {
  return { images: concat([a.images, b.images], 0), labels: a.labels && b.labels ? Int32Array.from([...a.labels, ...b.labels]) : null };
}

/** The rows of a sample set. */
function selectSamples(s: GeneratedSamples, rows: Int32Array): GeneratedSamples {
  return { images: indexSelect(s.images, 0, Array.from(rows)), labels: s.labels ? Int32Array.from(rows, (r) => s.labels![r]!) : null };
}

/**
 * `study fid-n`: FID against N on one finished arm (study/fid-n.ts). Its samples are the unit's own, plus, where the
 * largest N needs more, extra ones drawn from its final checkpoint with another noise seed (kept in
 * fid-n-extra.safetensors, so a rerun reuses them).
 */
async function fidNCommand(ctx: StudyContext, unitId: string, nText: string): Promise<number> {
  const d = ctx.design;
  const unit = studyUnits(d).find((u) => u.id === unitId && u.kind === 'arm');
  if (!unit) throw new UsageError(`oclt study fid-n: --unit must be an arm unit of ${ctx.designFile} ('<arm>@<seed>', e.g. ${armUnitId(d.arms[0]!.id, d.seeds[0]!)}), got '${unitId}'`);
  const numClasses = unit.setting === 'conditional' ? numClassesOf(dataConfig(d)) : 0;
  const ns = fidNCounts(d, nText, numClasses);
  if (!isDone(ctx, unit.id)) throw new Error(`unit ${unit.id} is not done in ${ctx.out}; run it first: oclt study unit --design ${ctx.designFile} --unit ${unit.id}`);
  const dir = unitDir(ctx, unit.id);
  const ownFile = path.join(dir, 'samples.safetensors');
  if (!fs.existsSync(ownFile)) throw new Error(`${ownFile} is missing (the unit's samples); run the unit again in a fresh --out to measure it`);
  let samples = loadSamples(ownFile, Math.max(numClasses, 1));
  const need = Math.max(...ns) - samples.images.shape[0]!;
  if (need > 0) {
    const extraFile = path.join(dir, 'fid-n-extra.safetensors');
    let extra = fs.existsSync(extraFile) ? loadSamples(extraFile, Math.max(numClasses, 1)) : null;
    if (!extra || extra.images.shape[0]! < need) {
      const config = unitTrainConfig(ctx, unit);
      const runDir = path.join(dir, 'run');
      if (!fs.existsSync(path.join(runDir, 'checkpoints', `ckpt-${String(config.steps).padStart(8, '0')}.json`))) {
        throw new Error(`the largest --n needs ${need} more samples than ${ownFile} holds, and the final checkpoint of ${unit.id} is gone; use --n up to ${samples.images.shape[0]}`);
      }
      const outcome = await trainRun(config, runDir, { data: loadLongTailedTrain(config.data), progress: ctx.progress, log: ctx.log });
      const count = numClasses > 0 ? Math.ceil(need / numClasses) * numClasses : need;
      ctx.log(`${unit.id}: drawing ${count} more samples for FID against N`);
      // Another noise seed than the unit's own samples (1000 + seed), so the extra ones are new draws.
      extra = generateSamples(outcome.model, config.model, { numSamples: count, steps: d.sampling.steps, guidance: d.sampling.guidance, seed: 7000 + unit.seed!, onBatch: (k, total) => ctx.log(`${unit.id}: sampled ${k}/${total}`) });
      saveSamples(extraFile, extra);
    }
    samples = joinSamples(samples, extra);
  }
  const m = await metricsContext(ctx);
  const rows = fidAgainstN(samples.images.shape[0]!, ns, samples.labels, numClasses, (r) => {
    const e = m.evaluate(selectSamples(samples, r)).metrics;
    return { fid: e.fid, tail: e.per_class_fid?.groups.tail ?? null };
  });
  for (const r of rows) ctx.log(`${unit.id}: N = ${r.n}: ${r.sets} sets, FID ${r.fidSummary ? `${r.fidSummary.mean.toFixed(2)}, sd ${r.fidSummary.sd.toFixed(2)}` : r.fid[0]!.toFixed(2)}`);
  const prefix = `${ctx.results}-fid-n-${unit.id.replace('@', '-seed')}`;
  writeFidN(prefix, ctx, unit.id, samples.images.shape[0]!, rows);
  console.log(`FID against N: ${prefix}.md, ${prefix}.json, ${prefix}.png`);
  return 0;
}

function writeFidN(prefix: string, ctx: StudyContext, unitId: string, total: number, rows: FidAtN[]): void {
  const d = ctx.design;
  fs.mkdirSync(path.dirname(path.resolve(prefix)), { recursive: true });
  writeJson(`${prefix}.json`, { kind: 'oclt-study-fid-n', ...provenance('study fid-n', { design: ctx.designFile, unit: unitId }), unit: unitId, totalSamples: total, rows });
  const banded = rows.filter((r) => r.fidSummary);
  const series = [{ label: 'FID (mean over disjoint sets)', x: rows.map((r) => r.n), y: rows.map((r) => r.fidSummary?.mean ?? r.fid[0]!) }];
  if (banded.length >= 2) series.push({ label: 'mean + sd', x: banded.map((r) => r.n), y: banded.map((r) => r.fidSummary!.mean + r.fidSummary!.sd) }, { label: 'mean - sd', x: banded.map((r) => r.n), y: banded.map((r) => r.fidSummary!.mean - r.fidSummary!.sd) });
  savePng(`${prefix}.png`, lineChart(series, { title: `FID against N, ${unitId.replace('@', ' seed ')}`, xLabel: 'N (samples per FID)', yLabel: 'FID', width: 700, height: 380 }));
  const sdCell = (m: FidAtN['fidSummary'], one: number | null) => (m ? `${m.mean.toFixed(2)} | ${m.sd.toFixed(2)}` : `${one === null ? '-' : one.toFixed(2)} | -`);
  const lines = [
    `# FID against N: ${unitId} of ${d.name}`,
    '',
    `Generated by \`oclt study fid-n --design ${ctx.designFile} --unit ${unitId}\` on ${new Date().toISOString()}. ${total} samples of one model (its own ${d.sampling.numSamples} and, where needed, more from its final checkpoint with another noise seed), split into disjoint class-balanced sets of N; each set's FID against the balanced test set (feature network ${d.featureNet}). The sd over the sets is the sampling noise of one FID at that N with the model fixed; the mean falls with N (FID's small-N bias).`,
    '',
    '| N | sets | FID mean | FID sd | tail FID mean | tail FID sd |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.n} | ${r.sets} | ${sdCell(r.fidSummary, r.fid[0] ?? null)} | ${sdCell(r.tailSummary, r.tailFid[0] ?? null)} |`),
    '',
    `![FID against N](${path.basename(prefix)}.png)`,
    '',
  ];
  writeFileAtomic(`${prefix}.md`, lines.join('\n'));
}

function writeReport(ctx: StudyContext): void {
  const units = studyUnits(ctx.design, { maxTier: ctx.maxTier });
  const records: UnitRecord[] = units.filter((u) => fs.existsSync(unitFile(ctx, u.id))).map((u) => readJson<UnitRecord>(unitFile(ctx, u.id)));
  const lt = loadLongTailedTrain(dataConfig(ctx.design));
  writeStudyReport(ctx.design, records, ctx.results, { classCounts: lt.classCounts, groups: lt.groups, designFile: ctx.designFile, out: ctx.out, maxTier: ctx.maxTier });
  console.log(`report: ${ctx.results}.md, ${ctx.results}.json`);
}

export const STUDY_HELP = [
  helpText(
    'study <plan|run|unit|report|fid-n>',
    'A declared multi-seed study (design file: bench/designs/*.json): arms x seeds trained (from scratch or fine-tuned from a shared baseline), sampled, evaluated, guidance-swept, and reported with 95% intervals and paired differences. Resumable; any number of processes can share one --out.',
    STUDY_OPTIONS,
  ),
  '',
  'subcommands:',
  '  plan     print the pending units, one command per line (for GNU parallel, a Slurm job array, ...)',
  '  run      run every pending unit this process can take (several processes may share one --out), then report',
  '  unit     run one unit (--unit <id>)',
  '  report   write the report from the finished units',
  '  fid-n    FID against the number of samples N on one finished arm (--unit): the sampling noise of FID at each N',
].join('\n');
