/**
 * Node-only: running a Trainer with crash-safe checkpoints, resume, signals, a progress bar and JSON-lines logs.
 *
 * Layout of a run directory:  <dir>/checkpoints/ckpt-<step>.{safetensors,json}   <dir>/train.jsonl
 * On SIGINT/SIGTERM the loop finishes the current step, writes a checkpoint and returns with `stoppedBy` set to
 * the signal (the caller exits; conventionally with 128 + signal number). Resuming loads the newest checkpoint
 * that verifies (a corrupt one is reported and the previous one used) and continues bit for bit.
 *
 * Divergence: a step whose loss or gradient norm is not finite throws the trainer's NonFiniteError (its policy
 * 'stop', the default); the run logs a 'diverged' event naming the step and the quantity and rethrows, writing no
 * checkpoint, so the earlier (good) ones stay. No checkpoint with a non-finite tensor is ever written
 * (`saveTrainerCheckpoint` refuses) or used: resume skips one (with a warning, as a corrupt one) and
 * `loadModelFromRun` refuses it, naming the file and the tensor.
 *
 * Fine-tuning: `initTrainerFrom(trainer, source)` starts a fresh trainer from another run's checkpoint (weights,
 * EMA, optionally the optimizer) before `runTraining`; once the new run has its own checkpoints, resuming restores
 * those, so calling it again before a resume changes nothing.
 */
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from '@oclt/autograd';
import type { Tensor } from '@oclt/tensor';
import fs from 'node:fs';
import path from 'node:path';
import type { Denoiser } from '../models/embeddings.js';
import { NonFiniteError, findNonFinite, type StepStats, type Trainer, type TrainerStateMeta } from '../training/trainer.js';
import { CheckpointCorruptError, CheckpointStore, sha256, type LoadedCheckpoint } from './checkpoint.js';
import { JsonlLogger, ProgressBar } from './progress.js';

export interface CheckpointMeta {
  trainer: TrainerStateMeta;
  /** Free-form description of the run (model config, dataset, recipe, ...), stored for reproducibility. */
  run: Record<string, unknown>;
  /** The losses of the last steps up to this checkpoint (at most `TrainRunOptions.lossHistory`), oldest first. */
  recentSteps?: RecentStep[];
}

/** One step's losses, as kept in checkpoints so that a resumed run can report the same final loss. */
export interface RecentStep {
  step: number;
  loss: number | null;
  mainLoss: number | null;
}

export interface TrainRunOptions {
  /** The run directory (checkpoints and logs go here). */
  dir: string;
  /** Write a checkpoint every this many steps (default 1000) and always at the end. */
  checkpointEvery?: number;
  /** Checkpoints kept (default 3). */
  keepLast?: number;
  /** Continue from the newest valid checkpoint in dir (default true). */
  resume?: boolean;
  /** Log a JSON line every this many steps (default 50). */
  logEvery?: number;
  /** Show a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Save and stop on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Stored in each checkpoint's manifest (e.g. model config). */
  runInfo?: Record<string, unknown>;
  onStep?: (stats: StepStats) => void;
  /** Warnings (corrupt checkpoints); default console.warn. */
  warn?: (message: string) => void;
  /** Losses of this many last steps are kept in each checkpoint and returned as `recentSteps` (default 100). */
  lossHistory?: number;
}

export interface TrainRunResult {
  step: number;
  stoppedBy: 'completed' | 'SIGINT' | 'SIGTERM';
  resumedFrom: number | null;
  lastCheckpoint: string | null;
  /** The losses of the last `lossHistory` steps, across resumes (from the checkpoint), oldest first. */
  recentSteps: RecentStep[];
  /** Steps whose update the trainer skipped (onNonFinite 'skip'), over the whole run. */
  skippedSteps: number;
}

/** Why a manifest's metadata cannot be a trainer checkpoint's, or null (the store refuses such a manifest). */
export function checkpointMetaProblem(meta: unknown): string | null {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return 'meta is not an object';
  const t = (meta as { trainer?: unknown }).trainer;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return 'meta.trainer is missing (not a trainer checkpoint)';
  const m = t as Partial<Record<keyof TrainerStateMeta, unknown>>;
  if (!Number.isSafeInteger(m.step) || (m.step as number) < 0) return `meta.trainer.step ${JSON.stringify(m.step)} is not a step count`;
  if (typeof m.config !== 'object' || m.config === null) return 'meta.trainer.config is missing';
  const g = m.generators as { train?: unknown; dropout?: unknown } | undefined;
  if (typeof g !== 'object' || g === null || !Array.isArray(g.train) || !Array.isArray(g.dropout)) return 'meta.trainer.generators is missing or malformed';
  if (typeof m.optimizer !== 'object' || m.optimizer === null) return 'meta.trainer.optimizer is missing';
  // The sampler's state is the sampler's own (any JSON; null when it has none), but the key is always written.
  if (!('samplerState' in m)) return 'meta.trainer.samplerState is missing';
  if (!('ema' in m) || (m.ema !== null && (typeof m.ema !== 'object' || Array.isArray(m.ema)))) return 'meta.trainer.ema is missing or malformed (an object, or null without EMA)';
  const r = (meta as { recentSteps?: unknown }).recentSteps;
  if (r !== undefined && !Array.isArray(r)) return 'meta.recentSteps is not an array';
  return null;
}

export function checkpointStore(dir: string, keepLast = 3): CheckpointStore<CheckpointMeta> {
  return new CheckpointStore<CheckpointMeta>(path.join(dir, 'checkpoints'), { keepLast, validateMeta: checkpointMetaProblem });
}

/**
 * Encodes the trainer's state and writes it as a checkpoint; returns the manifest path. Refuses (a NonFiniteError
 * naming the tensor; nothing is written, nothing pruned) when a tensor holds NaN or an infinity.
 */
export function saveTrainerCheckpoint(trainer: Trainer, store: CheckpointStore<CheckpointMeta>, runInfo: Record<string, unknown> = {}, recentSteps?: RecentStep[]): string {
  const { tensors, meta } = trainer.snapshot();
  const bad = findNonFinite(tensors);
  if (bad) {
    throw new NonFiniteError(
      `saveTrainerCheckpoint: refusing to write the checkpoint of step ${meta.step} into ${store.dir}: tensor ${bad.name} has ${bad.count} non-finite of ${bad.size} elements (e.g. [${bad.index}] = ${bad.value}); the earlier checkpoints are kept`,
      `tensor ${bad.name}`,
      bad.value,
      meta.step,
    );
  }
  const m: CheckpointMeta = { trainer: meta, run: runInfo };
  if (recentSteps) m.recentSteps = recentSteps;
  return store.save(meta.step, encodeSafetensors(tensors), m);
}

/**
 * Decodes a checkpoint's tensors and checks that all are finite: a payload that does not decode is a
 * CheckpointCorruptError, a non-finite tensor a NonFiniteError; both name the file.
 */
export function decodeCheckpointTensors(ckpt: LoadedCheckpoint<CheckpointMeta>): Record<string, Tensor> {
  let tensors: Record<string, Tensor>;
  try {
    ({ tensors } = decodeSafetensors(ckpt.payload, ckpt.payloadPath));
  } catch (err) {
    if (err instanceof SafetensorsError) throw new CheckpointCorruptError(ckpt.payloadPath, err.message);
    throw err;
  }
  const bad = findNonFinite(tensors);
  if (bad) {
    throw new NonFiniteError(
      `checkpoint ${ckpt.payloadPath} holds non-finite weights: tensor ${bad.name} has ${bad.count} non-finite of ${bad.size} elements (e.g. [${bad.index}] = ${bad.value}); it was written by a diverged run`,
      `tensor ${bad.name}`,
      bad.value,
      ckpt.step,
      ckpt.payloadPath,
    );
  }
  return tensors;
}

/**
 * The newest checkpoint that verifies and whose tensors are finite, with its tensors; corrupt and non-finite ones
 * are reported through `warn` and the previous one is tried. Null when there is none.
 */
export function loadLatestUsable(store: CheckpointStore<CheckpointMeta>, warn: (message: string) => void): { ckpt: LoadedCheckpoint<CheckpointMeta>; tensors: Record<string, Tensor> } | null {
  const steps = store.steps();
  for (let i = steps.length - 1; i >= 0; i--) {
    try {
      const ckpt = store.load(steps[i]!);
      return { ckpt, tensors: decodeCheckpointTensors(ckpt) };
    } catch (err) {
      if (err instanceof CheckpointCorruptError || err instanceof NonFiniteError) warn(`${err.message}; falling back to the previous checkpoint`);
      else throw err;
    }
  }
  return null;
}

/** Restores a loaded checkpoint into a trainer (refusing non-finite tensors, naming the file and the tensor). */
export function restoreTrainerCheckpoint(trainer: Trainer, ckpt: LoadedCheckpoint<CheckpointMeta>, decoded?: Record<string, Tensor>): void {
  const tensors = decoded ?? decodeCheckpointTensors(ckpt);
  try {
    trainer.restore(tensors, ckpt.meta.trainer);
  } catch (err) {
    throw new Error(`restoring ${ckpt.manifestPath}: ${(err as Error).message} (was the run started with a different model or config?)`);
  }
}

/**
 * Loads weights from the newest valid checkpoint of a run into a model, for sampling: the EMA weights by default
 * (what DDPM samples with), or the raw training weights with `{ ema: false }`. Returns the checkpoint's step.
 */
export function loadModelFromRun(model: Denoiser, dir: string, opts: { ema?: boolean; step?: number } = {}): number {
  const store = checkpointStore(dir);
  const ckpt = opts.step !== undefined ? store.load(opts.step) : store.loadLatest();
  if (!ckpt) throw new Error(`loadModelFromRun: no checkpoint in ${path.join(dir, 'checkpoints')}`);
  const tensors = decodeCheckpointTensors(ckpt);
  const useEma = opts.ema ?? true;
  const prefix = useEma && Object.keys(tensors).some((k) => k.startsWith('ema.')) ? 'ema.' : 'model.';
  if (useEma && prefix !== 'ema.') throw new Error(`loadModelFromRun: ${ckpt.payloadPath} has no EMA weights; pass { ema: false }`);
  const picked: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) if (k.startsWith(prefix)) picked[k.slice(prefix.length)] = v;
  // The EMA holds parameters only: take buffers from the model part.
  if (prefix === 'ema.') for (const [k, v] of Object.entries(tensors)) if (k.startsWith('model.') && !(k.slice(6) in picked)) picked[k.slice(6)] = v;
  model.loadStateDict(picked);
  return ckpt.step;
}

/** Options of `initTrainerFrom`. */
export interface InitTrainerFromOptions {
  /**
   * Which weights of the source become the model's starting weights: 'ema' (the default) its EMA weights, the
   * ones the source is sampled and evaluated with (so a fine-tune starts from the model whose FID was measured);
   * 'model' its raw training weights (with `optimizer: true` this is the source's training state, as OC_LT's
   * `--resume` loads it). Buffers (non-parameters) always come from the source's model part.
   */
  weights?: 'ema' | 'model';
  /** Also load the source's optimizer state (Adam moments and per-parameter step counts); default false (fresh). */
  optimizer?: boolean;
  /**
   * Submodules of the model the source may lack (CORAL's projection head 'coral_head', absent from a plain-loss
   * baseline): one the source lacks entirely keeps the model's own initialisation (the EMA shadow starts there);
   * one it holds loads like any other. Refused with `optimizer: true` when absent (the source has no moments for it).
   */
  fresh?: readonly string[];
}

/** What `initTrainerFrom` loaded: the source checkpoint's step, its manifest and its payload's SHA-256. */
export interface InitTrainerFromResult {
  step: number;
  manifestPath: string;
  payloadSha256: string;
  /** The model tensors that kept their own initialisation (under `fresh`). */
  freshTensors: string[];
}

/**
 * The checkpoint a source names: a run directory (its newest valid checkpoint), a checkpoints directory, or one
 * checkpoint's manifest (`.../ckpt-<step>.json`; its `.safetensors` payload names the same checkpoint). Verified
 * (checksums, finite tensors); errors name the path.
 */
export function loadInitSource(source: string, warn: (message: string) => void = (m) => console.warn(m)): { ckpt: LoadedCheckpoint<CheckpointMeta>; tensors: Record<string, Tensor> } {
  const where = `initTrainerFrom: ${source}`;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (err) {
    throw new Error(`${where} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a run directory or a checkpoint manifest (<run>/checkpoints/ckpt-<step>.json)`);
  }
  if (stat.isDirectory()) {
    const sub = path.join(source, 'checkpoints');
    const storeDir = fs.existsSync(sub) && fs.statSync(sub).isDirectory() ? sub : source;
    const store = new CheckpointStore<CheckpointMeta>(storeDir, { validateMeta: checkpointMetaProblem });
    if (store.steps().length === 0) throw new Error(`${where} holds no checkpoint (looked for ckpt-<step>.json in ${storeDir})`);
    const found = loadLatestUsable(store, (m) => warn(`[init-from] ${m}`));
    if (!found) throw new Error(`${where}: none of the checkpoints in ${storeDir} verifies (see the warnings)`);
    return found;
  }
  const m = /^(.+)-(\d+)\.(json|safetensors)$/.exec(path.basename(source));
  if (!stat.isFile() || !m) throw new Error(`${where} is neither a run directory nor a checkpoint manifest (<prefix>-<step>.json)`);
  const store = new CheckpointStore<CheckpointMeta>(path.dirname(source), { prefix: m[1]!, validateMeta: checkpointMetaProblem });
  const step = Number(m[2]);
  const ckpt = store.load(step);
  return { ckpt, tensors: decodeCheckpointTensors(ckpt) };
}

function shapeText(t: Tensor | undefined): string {
  return t ? `[${t.shape.join(', ')}]` : 'absent';
}

/**
 * Starts a trainer (that has taken no step) from another run's checkpoint, for fine-tuning (the paper's Appendix I)
 * or continuing a model under a new recipe. What is loaded:
 * - the model's weights: the source's EMA (`weights: 'ema'`, the default) or its raw weights ('model');
 * - the trainer's EMA (when it has one): the source's EMA weights and update count, so it averages on as the
 *   source's would (with decay warmup, d = min(decay, (1 + n) / (10 + n)) at the source's n); a source without an
 *   EMA starts it at the model's starting weights with n = 0 (only with weights 'model');
 * - the optimizer: fresh (the default), or the source's state with `optimizer: true`.
 * Not loaded: the step counter (the new run counts its own steps from 0, so its learning-rate warmup runs again;
 * set warmupSteps 0 to skip it), the data order and the random streams (the trainer's own seed). The architecture
 * must match: a missing, extra or differently shaped tensor is refused, naming the tensor and both shapes.
 */
export function initTrainerFrom(trainer: Trainer, source: string, opts: InitTrainerFromOptions = {}): InitTrainerFromResult {
  const weights = opts.weights ?? 'ema';
  if (weights !== 'ema' && weights !== 'model') throw new RangeError(`initTrainerFrom: weights must be 'ema' or 'model', got '${String(weights)}'`);
  if (trainer.stepCount !== 0) throw new Error(`initTrainerFrom: the trainer has taken ${trainer.stepCount} steps; initialise it before training`);
  const { ckpt, tensors } = loadInitSource(source);
  const where = `initTrainerFrom: ${ckpt.manifestPath}`;
  const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const sourceModel = pick('model.');
  const sourceEma = pick('ema.');
  const hasEma = Object.keys(sourceEma).length > 0;
  // The architecture: every tensor of the model's state dict, by name and shape, against the source's model part.
  const own = trainer.model.stateDict();
  const problems: string[] = [];
  // Optional modules the source lacks entirely keep their own initialisation; one the source holds loads as usual.
  const under = (name: string, m: string) => name === m || name.startsWith(`${m}.`);
  const absent: string[] = [];
  for (const m of opts.fresh ?? []) {
    if (!Object.keys(own).some((k) => under(k, m))) problems.push(`fresh module ${m}: the model has no tensor under it`);
    else if (!Object.keys(sourceModel).some((k) => under(k, m))) absent.push(m);
  }
  const isFresh = (name: string) => absent.some((m) => under(name, m));
  const freshTensors = Object.keys(own).filter(isFresh);
  if (absent.length && opts.optimizer) throw new RangeError(`${where}: it has no optimizer state for the fresh module(s) ${absent.join(', ')}; use optimizer: false`);
  for (const [k, t] of Object.entries(own)) {
    if (isFresh(k)) continue;
    const s = sourceModel[k];
    if (!s || s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) problems.push(`tensor model.${k}: checkpoint ${shapeText(s)}, model ${shapeText(t)}`);
  }
  for (const [k, s] of Object.entries(sourceModel)) if (!(k in own)) problems.push(`tensor model.${k}: checkpoint ${shapeText(s)}, model absent`);
  if (problems.length) {
    const shown = problems.slice(0, 6).join('; ') + (problems.length > 6 ? `; and ${problems.length - 6} more` : '');
    throw new Error(`${where} does not fit this model (another architecture, image size or number of classes?): ${shown}`);
  }
  const params = trainer.model.namedParameters().map(([n]) => n).filter((n) => !isFresh(n));
  if (hasEma) {
    const missing = params.filter((n) => !(n in sourceEma));
    if (missing.length) throw new Error(`${where}: its EMA lacks tensor ema.${missing[0]} (of ${missing.length} parameters)`);
  } else if (weights === 'ema') {
    throw new Error(`${where} has no EMA weights (its run had no EMA); use weights 'model'`);
  }
  const start: Record<string, Tensor> = { ...sourceModel };
  if (weights === 'ema') for (const n of params) start[n] = sourceEma[n]!;
  for (const k of freshTensors) start[k] = own[k]!;
  trainer.model.loadStateDict(start);
  if (trainer.ema) {
    const numUpdates = hasEma ? (ckpt.meta.trainer.ema?.numUpdates ?? 0) : 0;
    const shadow = hasEma ? Object.fromEntries(params.map((n) => [n, sourceEma[n]!])) : Object.fromEntries(params.map((n) => [n, start[n]!]));
    for (const [n, p] of trainer.model.namedParameters()) if (isFresh(n)) shadow[n] = p;
    trainer.ema.loadStateDict({ tensors: shadow, scalars: { decay: trainer.ema.decay, warmup: trainer.ema.warmup, numUpdates } });
  }
  if (opts.optimizer) {
    try {
      trainer.optimizer.loadStateDict({ tensors: pick('optim.'), scalars: ckpt.meta.trainer.optimizer });
    } catch (err) {
      throw new Error(`${where}: its optimizer state does not fit: ${(err as Error).message}`);
    }
  }
  return { step: ckpt.step, manifestPath: ckpt.manifestPath, payloadSha256: sha256(ckpt.payload), freshTensors };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Trains until `trainer.config.numSteps` (or a signal), with checkpoints, resume, logs and progress. */
export async function runTraining(trainer: Trainer, opts: TrainRunOptions): Promise<TrainRunResult> {
  const store = checkpointStore(opts.dir, opts.keepLast ?? 3);
  const every = opts.checkpointEvery ?? 1000;
  const logEvery = opts.logEvery ?? 50;
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const runInfo = opts.runInfo ?? {};
  const historySize = opts.lossHistory ?? 100;
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`runTraining: checkpointEvery must be a positive integer, got ${every}`);
  if (!Number.isInteger(logEvery) || logEvery < 1) throw new RangeError(`runTraining: logEvery must be a positive integer, got ${logEvery}`);
  if (!Number.isInteger(historySize) || historySize < 0) throw new RangeError(`runTraining: lossHistory must be a non-negative integer, got ${historySize}`);
  let resumedFrom: number | null = null;
  let recentSteps: RecentStep[] = [];
  if (opts.resume ?? true) {
    const found = loadLatestUsable(store, (m) => warn(`[train] ${m}`));
    if (found) {
      const { ckpt } = found;
      const saved = ckpt.meta.trainer.config as unknown as Record<string, unknown>;
      const current = trainer.snapshot().meta.config as unknown as Record<string, unknown>;
      // numSteps only bounds the loop (a step does not read it): a higher one extends the run, it does not change it.
      const changed = Object.keys({ ...saved, ...current }).filter((k) => k !== 'numSteps' && JSON.stringify(saved[k]) !== JSON.stringify(current[k]));
      if (typeof saved.numSteps === 'number' && saved.numSteps < trainer.config.numSteps) warn(`[train] extending ${ckpt.manifestPath} (planned for ${saved.numSteps} steps) to ${trainer.config.numSteps} steps`);
      if (changed.length) warn(`[train] resuming ${ckpt.manifestPath} with a changed config (${changed.map((k) => `${k}: ${JSON.stringify(saved[k])} -> ${JSON.stringify(current[k])}`).join(', ')}); the run will not match an uninterrupted one`);
      restoreTrainerCheckpoint(trainer, ckpt, found.tensors);
      resumedFrom = ckpt.step;
      recentSteps = (ckpt.meta.recentSteps ?? []).filter((r) => r && Number.isInteger(r.step) && r.step <= ckpt.step).slice(-historySize);
    }
  }
  const logger = new JsonlLogger(path.join(opts.dir, 'train.jsonl'));
  const total = trainer.config.numSteps;
  logger.log({ event: resumedFrom === null ? 'start' : 'resume', step: trainer.stepCount, numSteps: total, run: runInfo });
  const bar = new ProgressBar({ total, enabled: opts.progress, label: 'train' });
  bar.begin(trainer.stepCount);

  let stopSignal: 'SIGINT' | 'SIGTERM' | null = null;
  const onSigint = () => (stopSignal = 'SIGINT');
  const onSigterm = () => (stopSignal = 'SIGTERM');
  if (opts.handleSignals ?? true) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
  let lastCheckpoint: string | null = null;
  let lossSum = 0;
  let lossCount = 0;
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  try {
    while (trainer.stepCount < total && stopSignal === null) {
      const stats = trainer.step();
      if (stats.skipped) {
        logger.log({ event: 'skip', step: stats.step, quantity: stats.nonFinite, loss: String(stats.loss), mainLoss: String(stats.mainLoss), gradNorm: stats.gradNorm === undefined ? undefined : String(stats.gradNorm), skippedSteps: trainer.skippedSteps, consecutive: trainer.consecutiveSkips });
      } else {
        lossSum += stats.loss;
        lossCount++;
      }
      if (historySize > 0) {
        recentSteps.push({ step: stats.step, loss: finite(stats.loss), mainLoss: finite(stats.mainLoss) });
        if (recentSteps.length > historySize) recentSteps.shift();
      }
      opts.onStep?.(stats);
      if (stats.step % logEvery === 0 || stats.step === total) {
        logger.log({ event: 'step', ...stats, lossAvg: lossCount ? lossSum / lossCount : null });
        lossSum = 0;
        lossCount = 0;
      }
      bar.update(stats.step, stats.skipped ? `skipped (${stats.nonFinite} non-finite)` : `loss ${stats.loss.toFixed(4)}`);
      if (stats.step % every === 0 && stats.step < total) lastCheckpoint = saveTrainerCheckpoint(trainer, store, runInfo, recentSteps);
      await yieldToEventLoop(); // lets signal handlers run between steps
    }
    lastCheckpoint = saveTrainerCheckpoint(trainer, store, runInfo, recentSteps);
    const stoppedBy = stopSignal ?? 'completed';
    logger.log({ event: stoppedBy === 'completed' ? 'done' : 'interrupted', signal: stopSignal, step: trainer.stepCount, checkpoint: lastCheckpoint, skippedSteps: trainer.skippedSteps });
    return { step: trainer.stepCount, stoppedBy, resumedFrom, lastCheckpoint, recentSteps: [...recentSteps], skippedSteps: trainer.skippedSteps };
  } catch (err) {
    // The log records why the run ended; no checkpoint is written, so the earlier (good) ones stay as they are.
    const kept = store.steps();
    const record: Record<string, unknown> = { step: err instanceof NonFiniteError && err.step !== null ? err.step : trainer.stepCount, message: (err as Error).message, lastGoodCheckpoint: kept.length ? kept[kept.length - 1] : null };
    if (err instanceof NonFiniteError) logger.log({ event: 'diverged', quantity: err.quantity, value: String(err.value), ...record });
    else logger.log({ event: 'error', ...record });
    throw err;
  } finally {
    bar.end();
    logger.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
