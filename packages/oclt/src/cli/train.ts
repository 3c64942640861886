/**
 * `oclt train`: trains a denoiser on Fashion-MNIST-LT with a training recipe (baseline, CBDM, T2H, H2T, Full,
 * beta:<b>, with +resample / +cut=<t> / +uncond), with checkpoints and exact resume, then writes a sample grid and
 * a result JSON (config + git commit) into the run directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Generator } from '@oclt/tensor';
import { Trainer, type Denoiser } from '@oclt/diffusion';
import { loadModelFromRun, runTraining, saveImageGrid, type TrainRunResult } from '@oclt/diffusion/node';
import { parseRecipe, recipeName } from '../recipes.js';
import { recipeTrainerHooks } from '../trainer-hooks.js';
import { helpText, parseArgs, type OptionSpecs } from './args.js';
import {
  DATA_OPTIONS,
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
  steps: { type: 'integer', description: 'optimisation steps', default: 2000 },
  'batch-size': { type: 'integer', description: 'batch size (also the reference set of target selection)', default: 64 },
  lr: { type: 'number', description: 'Adam learning rate after warmup', default: 1e-3 },
  warmup: { type: 'integer', description: 'linear learning-rate warmup steps', default: 100 },
  'ema-decay': { type: 'number', description: 'EMA decay (with warmup min(decay, (1 + n) / (10 + n)), so short runs average sensibly)', default: 0.9999 },
  'label-drop': { type: 'number', description: 'classifier-free guidance: probability of dropping the labels of a whole batch', default: 0.1 },
  seed: { type: 'integer', description: 'seed of the training streams (data order, timesteps, noise, dropout)', default: 0 },
  'checkpoint-every': { type: 'integer', description: 'checkpoint every N steps (and always at the end)', default: 250 },
  resume: { type: 'boolean', description: 'continue from the newest valid checkpoint in --out (default on; --no-resume refuses an existing run)', default: true },
  'grid-samples': { type: 'integer', description: 'samples in the grid written after training (0: none; conditional: balanced over classes)', default: 100 },
  'sample-steps': { type: 'integer', description: 'DDIM steps for the grid', default: 50 },
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
  /** Mean training loss over the last logged window. */
  finalLoss: number | null;
  model: Denoiser;
}

/**
 * Trains (or resumes) the run in `dir`. A run directory is tied to its config: resuming with a different one is
 * refused, so checkpoints never silently mix settings.
 */
export async function trainRun(config: TrainConfig, dir: string, opts: { data?: LongTailedData; progress?: boolean; resume?: boolean; log?: (m: string) => void } = {}): Promise<TrainOutcome> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const runFile = path.join(dir, 'run.json');
  if (fs.existsSync(runFile)) {
    if (opts.resume === false) throw new Error(`oclt train: ${dir} already holds a run; pass --resume (the default) to continue it or choose another --out`);
    const previous = readJson<RunDescription>(runFile).config;
    if (JSON.stringify(previous) !== JSON.stringify(config)) {
      throw new Error(`oclt train: ${dir} holds a run with a different config:\n  was ${JSON.stringify(previous)}\n  now ${JSON.stringify(config)}\nuse another --out`);
    }
  } else {
    writeJson(runFile, { kind: 'oclt-run', config, provenance: provenance('train', config) } satisfies RunDescription);
  }
  const data = opts.data ?? loadLongTailedTrain(config.data);
  const scheduler = trainingScheduler(config.model);
  const hooks = recipeTrainerHooks(config.recipe, { labels: data.train.labels, numClasses: NUM_CLASSES, batchSize: config.batchSize, alphasCumprod: scheduler.alphasCumprod, gen: new Generator(config.seed * 7 + 5) });
  if ((config.model.numClasses > 0) !== hooks.conditional) throw new Error(`oclt train: recipe '${config.recipe}' is ${hooks.conditional ? '' : 'un'}conditional but the model has ${config.model.numClasses} classes`);
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
  const t0 = performance.now();
  let lossSum = 0;
  let lossCount = 0;
  const window = Math.max(1, Math.min(100, Math.floor(config.steps / 5)));
  const run = await runTraining(trainer, {
    dir,
    checkpointEvery: config.checkpointEvery,
    keepLast: 2,
    resume: opts.resume ?? true,
    logEvery: Math.min(50, window),
    progress: opts.progress,
    runInfo: { recipe: recipeName(hooks.recipe), model: config.model },
    onStep: (s) => {
      if (s.step > config.steps - window) {
        lossSum += s.mainLoss;
        lossCount++;
      }
    },
    warn: log,
  });
  if (run.resumedFrom !== null) log(`[train] ${dir}: resumed from step ${run.resumedFrom}`);
  // Sample with the EMA weights, as DDPM does.
  loadModelFromRun(model, dir);
  return { run, wallSeconds: (performance.now() - t0) / 1000, finalLoss: lossCount ? lossSum / lossCount : null, model };
}

export async function trainCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('train', argv, TRAIN_OPTIONS);
  const data = dataConfigFrom(o);
  const conditional = parseRecipe(o.recipe).conditional;
  const config: TrainConfig = {
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
    checkpoint: outcome.run.lastCheckpoint,
  };
  if (o['grid-samples'] > 0) {
    const s = generateSamples(outcome.model, config.model, { numSamples: o['grid-samples'], steps: o['sample-steps'], guidance: o.guidance, seed: o.seed });
    const grid = path.join(o.out, 'samples.png');
    saveImageGrid(grid, s.images, { nrow: s.labels ? o['grid-samples'] / NUM_CLASSES : undefined });
    result.samplesPng = grid;
  }
  writeJson(path.join(o.out, 'result.json'), result);
  console.log(`trained ${config.recipe} for ${outcome.run.step} steps in ${outcome.wallSeconds.toFixed(1)} s; final loss ${outcome.finalLoss?.toFixed(4)}; results in ${o.out}`);
  return 0;
}

export const TRAIN_HELP = helpText('train', 'Train a denoiser on Fashion-MNIST-LT with a recipe; resumable (re-run the same command).', TRAIN_OPTIONS);
