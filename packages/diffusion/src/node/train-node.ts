/**
 * Node-only: running a Trainer with crash-safe checkpoints, resume, signals, a progress bar and JSON-lines logs.
 *
 * Layout of a run directory:  <dir>/checkpoints/ckpt-<step>.{safetensors,json}   <dir>/train.jsonl
 * On SIGINT/SIGTERM the loop finishes the current step, writes a checkpoint and returns with `stoppedBy` set to
 * the signal (the caller exits; conventionally with 128 + signal number). Resuming loads the newest checkpoint
 * that verifies (a corrupt one is reported and the previous one used) and continues bit for bit.
 */
import { decodeSafetensors, encodeSafetensors } from '@oclt/autograd';
import type { Tensor } from '@oclt/tensor';
import path from 'node:path';
import type { Denoiser } from '../models/embeddings.js';
import type { StepStats, Trainer, TrainerStateMeta } from '../training/trainer.js';
import { CheckpointStore, type LoadedCheckpoint } from './checkpoint.js';
import { JsonlLogger, ProgressBar } from './progress.js';

export interface CheckpointMeta {
  trainer: TrainerStateMeta;
  /** Free-form description of the run (model config, dataset, recipe, ...), stored for reproducibility. */
  run: Record<string, unknown>;
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
}

export interface TrainRunResult {
  step: number;
  stoppedBy: 'completed' | 'SIGINT' | 'SIGTERM';
  resumedFrom: number | null;
  lastCheckpoint: string | null;
}

export function checkpointStore(dir: string, keepLast = 3): CheckpointStore<CheckpointMeta> {
  return new CheckpointStore<CheckpointMeta>(path.join(dir, 'checkpoints'), { keepLast });
}

/** Encodes the trainer's state and writes it as a checkpoint; returns the manifest path. */
export function saveTrainerCheckpoint(trainer: Trainer, store: CheckpointStore<CheckpointMeta>, runInfo: Record<string, unknown> = {}): string {
  const { tensors, meta } = trainer.snapshot();
  return store.save(meta.step, encodeSafetensors(tensors), { trainer: meta, run: runInfo });
}

/** Restores a loaded checkpoint into a trainer. */
export function restoreTrainerCheckpoint(trainer: Trainer, ckpt: LoadedCheckpoint<CheckpointMeta>): void {
  const { tensors } = decodeSafetensors(ckpt.payload, ckpt.payloadPath);
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
  const { tensors } = decodeSafetensors(ckpt.payload, ckpt.payloadPath);
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

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Trains until `trainer.config.numSteps` (or a signal), with checkpoints, resume, logs and progress. */
export async function runTraining(trainer: Trainer, opts: TrainRunOptions): Promise<TrainRunResult> {
  const store = checkpointStore(opts.dir, opts.keepLast ?? 3);
  const every = opts.checkpointEvery ?? 1000;
  const logEvery = opts.logEvery ?? 50;
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const runInfo = opts.runInfo ?? {};
  let resumedFrom: number | null = null;
  if (opts.resume ?? true) {
    const ckpt = store.loadLatest((e) => warn(`[train] ${e.message}; falling back to the previous checkpoint`));
    if (ckpt) {
      const saved = ckpt.meta.trainer.config as unknown as Record<string, unknown>;
      const current = trainer.snapshot().meta.config as unknown as Record<string, unknown>;
      const changed = Object.keys({ ...saved, ...current }).filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(current[k]));
      if (changed.length) warn(`[train] resuming ${ckpt.manifestPath} with a changed config (${changed.map((k) => `${k}: ${JSON.stringify(saved[k])} -> ${JSON.stringify(current[k])}`).join(', ')}); the run will not match an uninterrupted one`);
      restoreTrainerCheckpoint(trainer, ckpt);
      resumedFrom = ckpt.step;
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
  try {
    while (trainer.stepCount < total && stopSignal === null) {
      const stats = trainer.step();
      lossSum += stats.loss;
      lossCount++;
      opts.onStep?.(stats);
      if (stats.step % logEvery === 0 || stats.step === total) {
        logger.log({ event: 'step', ...stats, lossAvg: lossSum / lossCount });
        lossSum = 0;
        lossCount = 0;
      }
      bar.update(stats.step, `loss ${stats.loss.toFixed(4)}`);
      if (stats.step % every === 0 && stats.step < total) lastCheckpoint = saveTrainerCheckpoint(trainer, store, runInfo);
      await yieldToEventLoop(); // lets signal handlers run between steps
    }
    lastCheckpoint = saveTrainerCheckpoint(trainer, store, runInfo);
    const stoppedBy = stopSignal ?? 'completed';
    logger.log({ event: stoppedBy === 'completed' ? 'done' : 'interrupted', signal: stopSignal, step: trainer.stepCount, checkpoint: lastCheckpoint });
    return { step: trainer.stepCount, stoppedBy, resumedFrom, lastCheckpoint };
  } finally {
    bar.end();
    logger.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
