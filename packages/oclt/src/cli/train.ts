/**
 * `oclt train`: trains a denoiser on Fashion-MNIST-LT with a training recipe (baseline, CBDM, T2H, H2T, Full,
 * beta:<b>, with +resample / +cut=<t> / +uncond), with checkpoints and exact resume, then writes a sample grid and
 * a result JSON (config + git commit) into the run directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Generator } from '@oclt/tensor';
import { NonFiniteError, Trainer, type Denoiser } from '@oclt/diffusion';
import { checkpointStore, loadModelFromRun, runTraining, saveImageGrid, type TrainRunResult } from '@oclt/diffusion/node';
import { parseRecipe, recipeName } from '../recipes.js';
import { recipeTrainerHooks } from '../trainer-hooks.js';
import { UsageError, helpText, parseArgs, type OptionSpecs, type ParsedOptions } from './args.js';
import {
  DATA_OPTIONS,
  GRID_SCALE,
  MODEL_OPTIONS,
  NUM_CLASSES,
  buildModel,
  dataConfigFrom,
  loadLongTailedTrain,
  modelConfigFrom,
  provenance,
  readJson,
  trainingScheduler,
  trainingDataset,
  writeJson,
  type DataConfig,
  type LongTailedData,
  type ModelConfig,
} from './common.js';
import { generateSamples } from './sample.js';

export const TRAIN_OPTIONS = {
  out: { type: 'string', description: 'run directory (checkpoints, logs, samples, result.json)' },
  recipe: { type: 'string', description: 'training recipe: baseline | cbdm | t2h | h2t | full | beta:<b>, plus +resample, +cut=<t>, +uncond (e.g. t2h+resample)', default: 'baseline' },
  steps: { type: 'integer', description: 'optimisation steps', default: 2000, min: 1 },
  'batch-size': { type: 'integer', description: 'batch size (also the reference set of target selection)', default: 64, min: 1, max: 65536 },
  lr: { type: 'number', description: 'Adam learning rate after warmup (a run whose loss or gradient turns NaN/Inf stops with exit code 1, keeping its earlier checkpoints)', default: 1e-3, above: 0 },
  warmup: { type: 'integer', description: 'linear learning-rate warmup steps', default: 100, min: 0 },
  'ema-decay': { type: 'number', description: 'EMA decay (with warmup min(decay, (1 + n) / (10 + n)), so short runs average sensibly)', default: 0.9999, min: 0, max: 1 },
  'label-drop': { type: 'number', description: 'classifier-free guidance: probability of dropping the labels of a whole batch', default: 0.1, min: 0, max: 1 },
  seed: { type: 'integer', description: 'seed of the training streams (data order, timesteps, noise, dropout)', default: 0 },
  'checkpoint-every': { type: 'integer', description: 'checkpoint every N >= 1 steps, and always at the end (N >= --steps: only at the end)', default: 250, min: 1 },
  resume: { type: 'boolean', description: 'continue from the newest valid checkpoint in --out (default on; --no-resume refuses an existing run)', default: true },
  'grid-samples': { type: 'integer', description: 'samples in the grid written after training (0: none; conditional: a multiple of 10, balanced over classes)', default: 100, min: 0, max: 10000 },
  'sample-steps': { type: 'integer', description: 'DDIM steps for the grid (1..1000)', default: 50, min: 1, max: 1000 },
  guidance: { type: 'number', description: 'classifier-free guidance weight w for the grid: (1 + w) eps(x, y) - w eps(x)', default: 1.5 },
  progress: { type: 'boolean', description: 'progress bar on stderr (default: when it is a terminal)', default: process.stderr.isTTY ?? false },
  ...MODEL_OPTIONS,
  ...DATA_OPTIONS,
} as const satisfies OptionSpecs;

export interface TrainConfig {
  data: DataConfig;
  model: ModelConfig;
  recipe: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  emaDecay: number;
  labelDrop: number;
  seed: number;
  checkpointEvery: number;
}

/** What `run.json` in a run directory holds. */
export interface RunDescription {
  kind: 'oclt-run';
  config: TrainConfig;
  provenance: Record<string, unknown>;
}

export function readRunDescription(dir: string): RunDescription {
  const file = path.join(dir, 'run.json');
  if (!fs.existsSync(file)) throw new Error(`${dir} is not an oclt run directory (no run.json); train one with 'oclt train --out ${dir}'`);
  return readJson<RunDescription>(file);
}

/** Builds the model of a finished (or interrupted) run and loads its EMA weights. */
export function loadRunModel(dir: string): { model: Denoiser; config: TrainConfig; step: number } {
  const { config } = readRunDescription(dir);
  const model = buildModel(config.model);
  const step = loadModelFromRun(model, dir);
  return { model, config, step };
}

export interface TrainOutcome {
  run: TrainRunResult;
  wallSeconds: number;
  /**
   * Mean regression loss (mainLoss) over the run's last `finalLossWindow(steps)` steps; the same after a resume
   * (the losses travel in the checkpoints), also when resumed at the last step; null when none is known.
   */
  finalLoss: number | null;
  /** The last step's regression loss (null when not known). */
  lastLoss: number | null;
  model: Denoiser;
}

/** The steps `finalLoss` averages over: a fifth of the run, 1..100. */
export function finalLossWindow(steps: number): number {
  return Math.max(1, Math.min(100, Math.floor(steps / 5)));
}

/**
 * Trains (or resumes) the run in `dir`. A run directory is tied to its config: resuming with a different one is
 * refused, so checkpoints never silently mix settings.
 */
export async function trainRun(config: TrainConfig, dir: string, opts: { data?: LongTailedData; progress?: boolean; resume?: boolean; log?: (m: string) => void } = {}): Promise<TrainOutcome> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const runFile = path.join(dir, 'run.json');
  // Nothing is written before the data is loaded and the trainer built: a failed start leaves no run.json behind.
  let writeRunFile = !fs.existsSync(runFile);
  if (!writeRunFile) {
    const trained = checkpointStore(dir).steps().length > 0;
    if (opts.resume === false && trained) throw new Error(`${dir} already holds a run; pass --resume (the default) to continue it or choose another --out`);
    let previous: unknown = null;
    try {
      previous = readJson<RunDescription>(runFile).config;
    } catch (err) {
      if (trained) throw new Error(`${runFile} cannot be read (${(err as Error).message}); the run's checkpoints are in ${path.join(dir, 'checkpoints')}`);
    }
    if (JSON.stringify(previous) !== JSON.stringify(config)) {
      if (trained) throw new Error(`${dir} holds a run with a different config:\n  was ${JSON.stringify(previous)}\n  now ${JSON.stringify(config)}\nuse another --out`);
      // A run that never wrote a checkpoint (a start that failed): nothing to mix, its description is replaced.
      log(`[train] ${runFile} describes a run with another config that wrote no checkpoint; replacing it`);
      writeRunFile = true;
    }
  }
  const data = opts.data ?? loadLongTailedTrain(config.data);
  const scheduler = trainingScheduler(config.model);
  const hooks = recipeTrainerHooks(config.recipe, { labels: data.train.labels, numClasses: NUM_CLASSES, batchSize: config.batchSize, alphasCumprod: scheduler.alphasCumprod, gen: new Generator(config.seed * 7 + 5) });
  if ((config.model.numClasses > 0) !== hooks.conditional) throw new Error(`recipe '${config.recipe}' is ${hooks.conditional ? '' : 'un'}conditional but the model has ${config.model.numClasses} classes`);
  const expectedPixels = data.train.size * data.train.size;
  if (data.train.size !== config.data.imageSize || data.train.pixels.length !== data.train.count * expectedPixels || data.train.count < 1) {
    throw new Error(`the training data holds ${data.train.count} images of ${data.train.size}x${data.train.size} (${data.train.pixels.length} values), expected --image-size ${config.data.imageSize}`);
  }
  const model = buildModel(config.model);
  const trainer = new Trainer({
    model,
    scheduler,
    dataset: trainingDataset(data.train, config.model),
    config: {
      batchSize: config.batchSize,
      numSteps: config.steps,
      lr: config.lr,
      warmupSteps: config.warmup,
      emaDecay: config.emaDecay,
      emaWarmup: true,
      labelDropProb: hooks.conditional ? config.labelDrop : 0,
      labelDropMode: 'per-batch',
      seed: config.seed,
    },
    sampler: hooks.sampler,
    targetHook: hooks.targetHook,
    lossHook: hooks.lossHook,
  });
  if (writeRunFile) writeJson(runFile, { kind: 'oclt-run', config, provenance: provenance('train', config) } satisfies RunDescription);
  const t0 = performance.now();
  const window = finalLossWindow(config.steps);
  let run: TrainRunResult;
  try {
    run = await runTraining(trainer, {
      dir,
      checkpointEvery: config.checkpointEvery,
      keepLast: 2,
      resume: opts.resume ?? true,
      logEvery: Math.min(50, window),
      progress: opts.progress,
      runInfo: { recipe: recipeName(hooks.recipe), model: config.model },
      lossHistory: window,
      warn: log,
    });
  } catch (err) {
    if (!(err instanceof NonFiniteError)) throw err;
    const kept = checkpointStore(dir).steps();
    const where = kept.length ? `the checkpoints of steps ${kept.join(', ')} are kept in ${path.join(dir, 'checkpoints')}` : 'no checkpoint was written';
    throw new NonFiniteError(`${err.message}\n${where}; the event is logged in ${path.join(dir, 'train.jsonl')}; to train again with other settings use another --out`, err.quantity, err.value, err.step, err.file);
  }
  if (run.resumedFrom !== null) log(`[train] ${dir}: resumed from step ${run.resumedFrom}`);
  // Sample with the EMA weights, as DDPM does.
  loadModelFromRun(model, dir);
  const inWindow = run.recentSteps.filter((r) => r.step > run.step - window && r.mainLoss !== null).map((r) => r.mainLoss!);
  const last = run.recentSteps.at(-1);
  return {
    run,
    wallSeconds: (performance.now() - t0) / 1000,
    finalLoss: inWindow.length ? inWindow.reduce((a, b) => a + b, 0) / inWindow.length : null,
    lastLoss: last && last.step === run.step ? last.mainLoss : null,
    model,
  };
}

/**
 * The train flags, checked together before any work (a UsageError naming the flag): the recipe, the output
 * directory, the grid, the model and the data flags.
 */
export function trainConfigFrom(o: ParsedOptions<typeof TRAIN_OPTIONS>): TrainConfig {
  let conditional: boolean;
  try {
    conditional = parseRecipe(o.recipe).conditional;
  } catch (err) {
    throw new UsageError(`--recipe: ${(err as Error).message}`);
  }
  if (fs.existsSync(o.out) && !fs.statSync(o.out).isDirectory()) throw new UsageError(`--out ${o.out} exists and is not a directory`);
  if (conditional && o['grid-samples'] % NUM_CLASSES !== 0) {
    throw new UsageError(`--grid-samples must be a multiple of ${NUM_CLASSES} for the conditional recipe '${o.recipe}' (balanced over classes), got ${o['grid-samples']}`);
  }
  const data = dataConfigFrom(o);
  return {
    data,
    model: modelConfigFrom(o, data.imageSize, conditional ? NUM_CLASSES : 0),
    recipe: o.recipe,
    steps: o.steps,
    batchSize: o['batch-size'],
    lr: o.lr,
    warmup: o.warmup,
    emaDecay: o['ema-decay'],
    labelDrop: o['label-drop'],
    seed: o.seed,
    checkpointEvery: o['checkpoint-every'],
  };
}

export async function trainCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('train', argv, TRAIN_OPTIONS);
  const config = trainConfigFrom(o);
  const outcome = await trainRun(config, o.out, { progress: o.progress, resume: o.resume });
  if (outcome.run.stoppedBy !== 'completed') {
    console.error(`[train] stopped by ${outcome.run.stoppedBy} at step ${outcome.run.step}; run the same command again to resume`);
    return outcome.run.stoppedBy === 'SIGINT' ? 130 : 143;
  }
  const result: Record<string, unknown> = {
    kind: 'oclt-train-result',
    ...provenance('train', config),
    steps: outcome.run.step,
    resumedFrom: outcome.run.resumedFrom,
    wallSeconds: outcome.wallSeconds,
    finalLoss: outcome.finalLoss,
    finalLossSteps: finalLossWindow(config.steps),
    lastLoss: outcome.lastLoss,
    checkpoint: outcome.run.lastCheckpoint,
  };
  if (o['grid-samples'] > 0) {
    const s = generateSamples(outcome.model, config.model, { numSamples: o['grid-samples'], steps: o['sample-steps'], guidance: o.guidance, seed: o.seed });
    const grid = path.join(o.out, 'samples.png');
    saveImageGrid(grid, s.images, { nrow: s.labels ? o['grid-samples'] / NUM_CLASSES : undefined, scale: GRID_SCALE });
    result.samplesPng = grid;
  }
  writeJson(path.join(o.out, 'result.json'), result);
  console.log(`trained ${config.recipe} for ${outcome.run.step} steps in ${outcome.wallSeconds.toFixed(1)} s; final loss ${outcome.finalLoss === null ? 'unknown' : outcome.finalLoss.toFixed(4)}; results in ${o.out}`);
  return 0;
}

export const TRAIN_HELP = helpText('train', 'Train a denoiser on Fashion-MNIST-LT with a recipe; resumable (re-run the same command).', TRAIN_OPTIONS);
