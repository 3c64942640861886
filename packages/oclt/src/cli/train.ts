/**
 * `oclt train`: trains a denoiser on a long-tailed data set (Fashion-MNIST-LT by default, see --dataset) with a training recipe (the
 * methods of recipes.ts, with +resample / +cut=<t> / +cut-full / +uncond / +coral), with checkpoints and exact resume, then writes a
 * sample grid and a result JSON (config + git commit) into the run directory.
 *
 * Fine-tuning (`--init-from`): a new run starts from another run's checkpoint (see `initTrainerFrom`), recorded in
 * run.json (source, step, payload SHA-256). Extending (`--steps` raised on an existing run): the run continues from
 * its newest checkpoint to the new step count, recorded in run.json's `extensions`; since nothing a step does
 * depends on --steps (the learning rate is a linear warmup, then constant), the extended run is bit for bit the run
 * that had the higher --steps from the start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Generator } from '@oclt/tensor';
import { NonFiniteError, Trainer, type Denoiser } from '@oclt/diffusion';
import { checkpointStore, initTrainerFrom, loadLatestUsable, loadModelFromRun, runTraining, saveImageGrid, type TrainRunResult } from '@oclt/diffusion/node';
import { RECIPE_METHOD_SYNTAX, attachCoralHead, parseRecipe, recipeName, recipeUsesCoral, type BottleneckModel, type TrainingRecipe } from '../recipes.js';
import { recipeTrainerHooks } from '../trainer-hooks.js';
import { UsageError, helpText, parseArgs, type OptionSpecs, type ParsedOptions } from './args.js';
import {
  DATA_OPTIONS,
  GRID_SCALE,
  MODEL_OPTIONS,
  NUM_CLASSES,
  SAMPLING_OPTIONS,
  buildModel,
  channelsOf,
  dataConfigFrom,
  gitCommit,
  loadLongTailedTrain,
  modelConfigFrom,
  numClassesOf,
  provenance,
  readJson,
  samplingConfigFrom,
  trainingScheduler,
  trainingDataset,
  writeJson,
  type DataConfig,
  type LongTailedData,
  type ModelConfig,
} from './common.js';
import { generateSamples } from './generate.js';

export const TRAIN_OPTIONS = {
  out: { type: 'string', description: 'run directory (checkpoints, logs, samples, result.json)' },
  recipe: {
    type: 'string',
    description:
      `training recipe: ${RECIPE_METHOD_SYNTAX.join(' | ')}, plus +resample (class-balanced batches), +cut=<t> (transfers only for t < cut), +cut-full (required with a cut on the Full gate, full or beta:<b>: OC_LT ignores the cut there), +uncond, +gate=<t2h|h2t|full> (beta only), +coral (the CORAL term on t2h, h2t, full or beta); e.g. t2h+resample, full+cut=700+cut-full`,
    default: 'baseline',
  },
  steps: {
    type: 'integer',
    description:
      'optimisation steps; raised on an existing run it extends the run (recorded in run.json), bit for bit the run with the higher --steps from the start, since the learning rate (warmup, then constant) does not depend on --steps; lowering it is refused',
    default: 2000,
    min: 1,
  },
  'batch-size': { type: 'integer', description: 'batch size (also the reference set of target selection)', default: 64, min: 1, max: 65536 },
  lr: { type: 'number', description: 'Adam learning rate after warmup (a run whose loss or gradient turns NaN/Inf stops with exit code 1, keeping its earlier checkpoints)', default: 1e-3, above: 0 },
  warmup: { type: 'integer', description: 'linear learning-rate warmup steps', default: 100, min: 0 },
  'ema-decay': { type: 'number', description: 'EMA decay (with warmup min(decay, (1 + n) / (10 + n)), so short runs average sensibly)', default: 0.9999, min: 0, max: 1 },
  'label-drop': { type: 'number', description: 'classifier-free guidance: probability of dropping the labels of a whole batch', default: 0.1, min: 0, max: 1 },
  seed: { type: 'integer', description: 'seed of the training streams (data order, timesteps, noise, dropout)', default: 0 },
  'checkpoint-every': { type: 'integer', description: 'checkpoint every N >= 1 steps, and always at the end (N >= --steps: only at the end)', default: 250, min: 1 },
  resume: { type: 'boolean', description: 'continue from the newest valid checkpoint in --out (default on; --no-resume refuses an existing run)', default: true },
  'grid-samples': { type: 'integer', description: 'samples in the grid written after training (0: none; conditional: a multiple of the number of classes, 10 for Fashion-MNIST, balanced over classes)', default: 100, min: 0, max: 10000 },
  'sample-steps': { type: 'integer', description: 'sampler steps for the grid (1..1000)', default: 50, min: 1, max: 1000 },
  ...SAMPLING_OPTIONS,
  guidance: { type: 'number', description: 'classifier-free guidance weight w for the grid: (1 + w) eps(x, y) - w eps(x)', default: 1.5 },
  progress: { type: 'boolean', description: 'progress bar on stderr (default: when it is a terminal)', default: process.stderr.isTTY ?? false },
  'init-from': {
    type: 'string',
    description:
      "fine-tune: start from a run directory's newest checkpoint or one checkpoint manifest (<run>/checkpoints/ckpt-<step>.json): the weights of --init-weights and the source's EMA (with its update count); the model flags must match the source's. This run counts its own --steps from 0 (so --warmup runs again; --warmup 0 skips it) with its own seeds; recorded in run.json (source, step, payload SHA-256)",
    default: '',
  },
  'init-weights': { type: 'string', description: "with --init-from: the model starts from the source's 'ema' weights (those it is sampled and evaluated with) or its raw training weights ('model')", default: 'ema', choices: ['ema', 'model'] },
  'init-optimizer': { type: 'boolean', description: "with --init-from: also load the source's optimizer state (Adam moments and step counts; default: a fresh optimizer)", default: false },
  'cbdm-tau': { type: 'number', description: "--recipe cbdm: regulariser strength tau (w_t = tau t / T; 0 is the baseline, bit for bit)", default: 1, min: 0, max: 1e6 },
  'cbdm-gamma': { type: 'number', description: "--recipe cbdm: weight of the commitment branch that trains e_y'", default: 0.25, min: 0, max: 1e6 },
  'coral-weight': { type: 'number', description: '--recipe coral: weight lambda of the supervised contrastive term (0 is the baseline, bit for bit)', default: 0.5, min: 0, max: 1e6 },
  'coral-temperature': { type: 'number', description: '--recipe coral: temperature of the contrastive softmax', default: 0.1, min: 1e-6, max: 1e6 },
  'coral-time-scale': { type: 'number', description: '--recipe coral: sigma of the time weight exp((1 - t/T) / sigma)', default: 0.3, min: 1e-6, max: 1e6 },
  'cbdm-labels': { type: 'string', description: "--recipe cbdm: how y' is drawn: 'train' (the training label frequencies, CBDM's default) or 'uniform' (its fine-tune mode)", default: 'train', choices: ['train', 'uniform'] },
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
  /** Fine-tuning: start from another run's checkpoint (absent: from the model's initialisation). */
  initFrom?: InitFromConfig;
  /** CBDM's settings, for recipe cbdm (absent there: `CBDM_DEFAULTS`). */
  cbdm?: CbdmConfig;
  /** CORAL's settings, for recipe coral (absent there: `CORAL_CONFIG_DEFAULTS`). */
  coral?: CoralConfig;
}

export interface CoralConfig {
  weight: number;
  temperature: number;
  timeScale: number;
}

/** CORAL's reference settings (SankarLab/coral-lt-diffusion, diffusion.py): weight 0.5, temperature 0.1, time scale 0.3. */
export const CORAL_CONFIG_DEFAULTS: CoralConfig = { weight: 0.5, temperature: 0.1, timeScale: 0.3 };

export interface InitFromConfig {
  /** A run directory or a checkpoint manifest, as an absolute path. */
  source: string;
  weights: 'ema' | 'model';
  optimizer: boolean;
}

export interface CbdmConfig {
  tau: number;
  gamma: number;
  /** y' drawn from the training label frequencies ('train') or uniformly. */
  labels: 'train' | 'uniform';
}

/** CBDM's reference settings (qym7/CBDM-pytorch): tau 1, gamma 1/4, y' from the training label frequencies. */
export const CBDM_DEFAULTS: CbdmConfig = { tau: 1, gamma: 0.25, labels: 'train' };

/** What a fine-tune started from: its config plus the checkpoint the source resolved to. */
export interface InitFromRecord extends InitFromConfig {
  manifestPath: string;
  step: number;
  payloadSha256: string;
  date: string;
  /** Tensors that kept their own initialisation (CORAL's head, absent from a plain-loss source). */
  freshTensors?: string[];
}

/** One extension of a run past its planned steps. */
export interface ExtensionRecord {
  fromSteps: number;
  toSteps: number;
  /** The newest checkpoint's step when the extension started. */
  atStep: number;
  date: string;
  gitCommit: string;
}

/** What `run.json` in a run directory holds. */
export interface RunDescription {
  kind: 'oclt-run';
  /** The current config (after an extension, its --steps). */
  config: TrainConfig;
  /** How the run was started (its config there is the one of the start). */
  provenance: Record<string, unknown>;
  /** Set when the run was started with --init-from. */
  initFrom?: InitFromRecord;
  /** Each time --steps was raised, in order. */
  extensions?: ExtensionRecord[];
}

/**
 * A train config with its defaults made explicit and its unset optional parts removed, so that configs written
 * before an option existed compare equal to ones that state its default.
 */
export function normalizeTrainConfig(c: TrainConfig): TrainConfig {
  const out: TrainConfig = { ...c, data: { ...(c.data ?? {}) } as DataConfig };
  if (!out.data.classOrder || out.data.classOrder.every((k, r) => k === r)) delete out.data.classOrder;
  let method: string | null = null;
  let usesCoral = false;
  try {
    const parsed = parseRecipe(c.recipe);
    method = parsed.method;
    usesCoral = recipeUsesCoral(parsed);
  } catch {
    /* not a recipe: compared as written */
  }
  if (method === 'cbdm') out.cbdm = { ...CBDM_DEFAULTS, ...c.cbdm };
  else delete out.cbdm;
  if (usesCoral) out.coral = { ...CORAL_CONFIG_DEFAULTS, ...c.coral };
  else delete out.coral;
  if (!out.initFrom) delete out.initFrom;
  return out;
}

/** JSON with object keys sorted (key order is not part of a config). */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

/** Whether two train configs describe the same run (after `normalizeTrainConfig`). */
export function sameTrainConfig(a: TrainConfig, b: TrainConfig): boolean {
  return canonicalJson(normalizeTrainConfig(a)) === canonicalJson(normalizeTrainConfig(b));
}

/** The recipe of a config with its CBDM settings, as the trainer hooks take it. */
export function configRecipe(c: TrainConfig): string | TrainingRecipe {
  const { cbdm, coral } = normalizeTrainConfig(c);
  if (coral) return { ...parseRecipe(c.recipe), coral: { ...coral } };
  if (!cbdm) return c.recipe;
  return { ...parseRecipe(c.recipe), cbdm: { tau: cbdm.tau, gamma: cbdm.gamma, labelDistribution: cbdm.labels === 'train' ? 'frequencies' : 'uniform' } };
}

export function readRunDescription(dir: string): RunDescription {
  const file = path.join(dir, 'run.json');
  if (!fs.existsSync(file)) throw new Error(`${dir} is not an oclt run directory (no run.json); train one with 'oclt train --out ${dir}'`);
  return readJson<RunDescription>(file);
}

/**
 * Builds the model of a finished (or interrupted) run and loads the weights of its newest checkpoint: the EMA
 * weights (the default), or with `weights: 'net'` the raw training weights.
 */
export function loadRunModel(dir: string, opts: { weights?: 'ema' | 'net' } = {}): { model: Denoiser; config: TrainConfig; step: number } {
  const { config } = readRunDescription(dir);
  const model = buildModel(config.model);
  const coral = normalizeTrainConfig(config).coral;
  if (coral && coral.weight !== 0) attachCoralHead(model as unknown as BottleneckModel, undefined, new Generator(0));
  const step = loadModelFromRun(model, dir, { ema: opts.weights !== 'net' });
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
  /** Where a fine-tune started (--init-from). */
  initFrom?: InitFromRecord;
  /** The run's extensions past its planned steps, this one included. */
  extensions?: ExtensionRecord[];
}

/** The steps `finalLoss` averages over: a fifth of the run, 1..100. */
export function finalLossWindow(steps: number): number {
  return Math.max(1, Math.min(100, Math.floor(steps / 5)));
}

/**
 * Trains (or resumes) the run in `dir`. A run directory is tied to its config: resuming with a different one is
 * refused, so checkpoints never silently mix settings; the one change allowed is a higher `steps` (an extension).
 * A config with `initFrom` starts from that checkpoint when the run has no usable checkpoint of its own.
 */
export async function trainRun(config: TrainConfig, dir: string, opts: { data?: LongTailedData; progress?: boolean; resume?: boolean; log?: (m: string) => void } = {}): Promise<TrainOutcome> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const runFile = path.join(dir, 'run.json');
  const store = checkpointStore(dir);
  const trainedSteps = store.steps();
  const trained = trainedSteps.length > 0;
  // Nothing is written before the data is loaded and the trainer built: a failed start leaves no run.json behind.
  let writeRunFile = !fs.existsSync(runFile);
  let previousRun: RunDescription | null = null;
  let extension: ExtensionRecord | null = null;
  if (!writeRunFile) {
    if (opts.resume === false && trained) throw new Error(`${dir} already holds a run; pass --resume (the default) to continue it or choose another --out`);
    let previous: TrainConfig | null = null;
    try {
      previousRun = readJson<RunDescription>(runFile);
      previous = previousRun.config;
    } catch (err) {
      if (trained) throw new Error(`${runFile} cannot be read (${(err as Error).message}); the run's checkpoints are in ${path.join(dir, 'checkpoints')}`);
    }
    const isConfig = typeof previous === 'object' && previous !== null;
    if (!isConfig || !sameTrainConfig(previous!, config)) {
      const onlySteps = isConfig && Number.isSafeInteger(previous!.steps) && sameTrainConfig({ ...previous!, steps: config.steps }, config);
      if (trained && onlySteps && config.steps > previous!.steps) {
        extension = { fromSteps: previous!.steps, toSteps: config.steps, atStep: trainedSteps.at(-1)!, date: new Date().toISOString(), gitCommit: gitCommit() };
        writeRunFile = true;
      } else if (trained && onlySteps) {
        throw new Error(`${dir} holds a run planned for ${previous!.steps} steps (its newest checkpoint is of step ${trainedSteps.at(-1)}); --steps can be raised to extend it, not lowered to ${config.steps}; use another --out for a shorter run`);
      } else if (trained) {
        throw new Error(`${dir} holds a run with a different config:\n  was ${JSON.stringify(previous)}\n  now ${JSON.stringify(config)}\nuse another --out (only --steps may be raised, to extend a run)`);
      } else {
        // A run that never wrote a checkpoint (a start that failed): nothing to mix, its description is replaced.
        log(`[train] ${runFile} describes a run with another config that wrote no checkpoint; replacing it`);
        writeRunFile = true;
        previousRun = null;
      }
    }
  }
  const data = opts.data ?? loadLongTailedTrain(config.data);
  const scheduler = trainingScheduler(config.model);
  const numClasses = numClassesOf(config.data);
  const hooks = recipeTrainerHooks(configRecipe(config), { labels: data.train.labels, numClasses, batchSize: config.batchSize, alphasCumprod: scheduler.alphasCumprod, gen: new Generator(config.seed * 7 + 5) });
  if ((config.model.numClasses > 0) !== hooks.conditional) throw new Error(`recipe '${config.recipe}' is ${hooks.conditional ? '' : 'un'}conditional but the model has ${config.model.numClasses} classes`);
  const channels = data.train.channels ?? 1;
  const expectedPixels = channels * data.train.size * data.train.size;
  if (data.train.size !== config.data.imageSize || channels !== channelsOf(config.data) || data.train.pixels.length !== data.train.count * expectedPixels || data.train.count < 1) {
    throw new Error(`the training data holds ${data.train.count} images of ${channels}x${data.train.size}x${data.train.size} (${data.train.pixels.length} values), expected --image-size ${config.data.imageSize} with ${channelsOf(config.data)} channel(s)`);
  }
  const model = buildModel(config.model);
  hooks.setup.coral?.attach(model as unknown as BottleneckModel);
  const trainer = new Trainer({
    model,
    scheduler,
    dataset: trainingDataset(data.train, config.model, numClasses),
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
  // A fine-tune without a usable checkpoint of its own starts from its source (again, after a start that wrote none).
  let initRecord: InitFromRecord | undefined = previousRun?.initFrom;
  if (config.initFrom && (!trained || loadLatestUsable(store, () => {}) === null)) {
    const { source, weights, optimizer } = config.initFrom;
    // CORAL's projection head is new to a fine-tune from a plain-loss run: then it keeps its own initialisation.
    const r = initTrainerFrom(trainer, source, { weights, optimizer, fresh: hooks.setup.coral ? ['coral_head'] : [] });
    initRecord = { source, weights, optimizer, manifestPath: r.manifestPath, step: r.step, payloadSha256: r.payloadSha256, date: new Date().toISOString(), ...(r.freshTensors.length ? { freshTensors: r.freshTensors } : {}) };
    log(`[train] ${dir}: starting from ${r.manifestPath} (step ${r.step}, its ${weights === 'ema' ? 'EMA' : 'raw'} weights${optimizer ? ' and optimizer state' : ', a fresh optimizer'})`);
    writeRunFile = true;
  }
  const extensions = [...(previousRun?.extensions ?? []), ...(extension ? [extension] : [])];
  if (extension) log(`[train] ${dir}: extending the run from ${extension.fromSteps} to ${extension.toSteps} steps (its newest checkpoint is of step ${extension.atStep})`);
  if (writeRunFile) {
    const description: RunDescription = extension && previousRun ? { ...previousRun, config } : { kind: 'oclt-run', config, provenance: provenance('train', config) };
    if (initRecord) description.initFrom = initRecord;
    else delete description.initFrom;
    if (extensions.length) description.extensions = extensions;
    writeJson(runFile, description);
  }
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
      runInfo: { recipe: recipeName(hooks.recipe), model: config.model, ...(initRecord ? { initFrom: { manifestPath: initRecord.manifestPath, step: initRecord.step, payloadSha256: initRecord.payloadSha256 } } : {}) },
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
    ...(initRecord ? { initFrom: initRecord } : {}),
    ...(extensions.length ? { extensions } : {}),
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
  const data = dataConfigFrom(o);
  const numClasses = numClassesOf(data);
  if (conditional && o['grid-samples'] % numClasses !== 0) {
    throw new UsageError(`--grid-samples must be a multiple of ${numClasses} for the conditional recipe '${o.recipe}' (balanced over classes), got ${o['grid-samples']}`);
  }
  const isCbdm = parseRecipe(o.recipe).method === 'cbdm';
  if (!isCbdm) {
    const set = (['cbdm-tau', 'cbdm-gamma', 'cbdm-labels'] as const).filter((k) => o[k] !== TRAIN_OPTIONS[k].default);
    if (set.length) throw new UsageError(`--${set[0]} only applies to --recipe cbdm (the recipe is '${o.recipe}')`);
  }
  const isCoral = recipeUsesCoral(parseRecipe(o.recipe));
  if (!isCoral) {
    const set = (['coral-weight', 'coral-temperature', 'coral-time-scale'] as const).filter((k) => o[k] !== TRAIN_OPTIONS[k].default);
    if (set.length) throw new UsageError(`--${set[0]} only applies to --recipe coral or a +coral recipe (the recipe is '${o.recipe}')`);
  }
  let initFrom: InitFromConfig | undefined;
  if (o['init-from'] === '') {
    if (o['init-weights'] !== TRAIN_OPTIONS['init-weights'].default) throw new UsageError('--init-weights only applies with --init-from <run or checkpoint>');
    if (o['init-optimizer']) throw new UsageError('--init-optimizer only applies with --init-from <run or checkpoint>');
  } else {
    const source = path.resolve(o['init-from']);
    try {
      fs.statSync(source);
    } catch (err) {
      throw new UsageError(`--init-from ${o['init-from']} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a run directory or a checkpoint manifest (<run>/checkpoints/ckpt-<step>.json)`);
    }
    const out = path.resolve(o.out);
    if (source === out || source.startsWith(out + path.sep)) throw new UsageError(`--init-from ${o['init-from']} is inside --out ${o.out}: to continue a run re-run its command, to extend it raise --steps`);
    initFrom = { source, weights: o['init-weights'] as InitFromConfig['weights'], optimizer: o['init-optimizer'] };
  }
  const config: TrainConfig = {
    data,
    model: modelConfigFrom(o, data.imageSize, conditional ? numClasses : 0, channelsOf(data)),
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
  if (initFrom) config.initFrom = initFrom;
  if (isCoral) config.coral = { weight: o['coral-weight'], temperature: o['coral-temperature'], timeScale: o['coral-time-scale'] };
  if (isCbdm) config.cbdm = { tau: o['cbdm-tau'], gamma: o['cbdm-gamma'], labels: o['cbdm-labels'] as CbdmConfig['labels'] };
  return config;
}

export async function trainCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('train', argv, TRAIN_OPTIONS);
  const config = trainConfigFrom(o);
  // The grid's sampler (the flags of 'oclt sample'), checked before any training.
  const gridSampling = samplingConfigFrom(o);
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
  if (outcome.initFrom) result.initFrom = outcome.initFrom;
  if (outcome.extensions) result.extensions = outcome.extensions;
  if (o['grid-samples'] > 0) {
    const s = generateSamples(outcome.model, config.model, { numSamples: o['grid-samples'], steps: o['sample-steps'], guidance: o.guidance, seed: o.seed, sampling: gridSampling });
    const grid = path.join(o.out, 'samples.png');
    saveImageGrid(grid, s.images, { nrow: s.labels ? o['grid-samples'] / numClassesOf(config.data) : undefined, scale: GRID_SCALE });
    result.samplesPng = grid;
    result.gridSampling = gridSampling;
  }
  writeJson(path.join(o.out, 'result.json'), result);
  console.log(`trained ${config.recipe} for ${outcome.run.step} steps in ${outcome.wallSeconds.toFixed(1)} s; final loss ${outcome.finalLoss === null ? 'unknown' : outcome.finalLoss.toFixed(4)}; results in ${o.out}`);
  return 0;
}

export const TRAIN_HELP = helpText('train', 'Train a denoiser on a long-tailed data set (Fashion-MNIST-LT by default; CIFAR-10/100-LT or any labelled IDX pair with --dataset) with a recipe; resumable (re-run the same command).', TRAIN_OPTIONS);
