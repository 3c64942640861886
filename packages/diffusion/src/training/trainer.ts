/**
 * The diffusion trainer: one `step()` = draw a batch, noise it at random timesteps, regress the model output onto
 * the target of the scheduler's prediction type (DDPM Eq. 14, the "simple" loss), then Adam with linear warmup,
 * global-norm gradient clipping and an EMA of the weights.
 *
 * Classifier-free guidance training (Ho & Salimans 2022): each sample's label is replaced by the null label with
 * probability `labelDropProb` (per sample, the default), or the whole batch's labels at once ('per-batch', what
 * the released OC-LT code does).
 *
 * Divergence: a non-finite loss (the total, the regression loss or the loss hook's term) or gradient norm is
 * detected at the step it happens, before the update. By `onNonFinite` (default 'stop') the step throws a
 * `NonFiniteError` naming the step and the quantity, leaving the weights as the previous step made them; or
 * ('skip') the update is skipped (no optimizer or EMA update; the batch and the random draws are consumed and the
 * step counts), `StepStats.skipped` says so, `skippedSteps` counts them, and `maxConsecutiveSkips` skipped steps in
 * a row (default 10) throw a `NonFiniteError` after all.
 *
 * Randomness: three seeded streams derived from `seed`: the data order (the batch sampler), the training draws
 * (timesteps, noise, label dropout, augmentation, hooks), and the model's dropout masks (the Dropout modules' own
 * generators). `snapshot()` captures all of them with the weights, the optimizer and the EMA, so `restore()`
 * continues a run bit for bit. Browser-safe; checkpoint files, signals and progress are in src/node/train.ts.
 */
import { Generator, fromTypedArray, noGrad, profileSection, randint, randn, tidy, type Tensor } from '@oclt/tensor';
import { Adam, Dropout, EMA, clipGradNorm, linearWarmup, type EMAState, type LrSchedule, type OptimizerState } from '@oclt/autograd';
import type { Dataset } from '../data/dataset.js';
import type { Denoiser } from '../models/embeddings.js';
import type { SchedulerBase } from '../schedulers/base.js';
import type { BatchSampler, LossHook, TargetHook, TargetHookResult } from './hooks.js';
import { ShuffledBatchSampler } from './sampler.js';

export type LabelDropMode = 'per-sample' | 'per-batch';

/** What a step does with a non-finite loss or gradient norm: throw (the default) or skip the update. */
export type NonFinitePolicy = 'stop' | 'skip';

/** The quantities checked for finiteness: at each step, and in the tensors of a checkpoint (`tensor <name>`). */
export type NonFiniteQuantity = 'loss' | 'mainLoss' | 'extraLoss' | 'gradNorm' | `tensor ${string}`;

/**
 * A non-finite value where training needs a finite one: a step's loss or gradient norm (`step` is the 1-based
 * number of the step being taken, as in the logs), or a tensor of a checkpoint being written or read.
 */
export class NonFiniteError extends Error {
  constructor(
    message: string,
    readonly quantity: NonFiniteQuantity,
    readonly value: number,
    readonly step: number | null,
    /** The file concerned (a checkpoint), when there is one. */
    readonly file: string | null = null,
  ) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/** The first non-finite element of the tensors, in key order, or null when all are finite. */
export function findNonFinite(tensors: Record<string, Tensor>): { name: string; index: number; value: number; count: number; size: number } | null {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') continue;
    const v = t.isContiguous ? t.borrowData() : t.toTypedArray();
    let first = -1;
    let count = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      // x - x is 0 for finite x and NaN for NaN and +-Infinity: one test per element.
      if (x - x !== 0) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (first >= 0) return { name, index: first, value: v[first]!, count, size: v.length };
  }
  return null;
}

export interface TrainerConfig {
  batchSize: number;
  /** Total optimisation steps of the run (used by `run` loops and progress; `step()` itself does not stop). */
  numSteps: number;
  /** Adam learning rate after warmup (default 2e-4, DDPM's). */
  lr?: number;
  /** Linear warmup steps (default 0; DDPM used 5000). */
  warmupSteps?: number;
  /** A full learning-rate schedule; overrides lr/warmupSteps. */
  lrSchedule?: LrSchedule;
  adamBetas?: [number, number];
  adamEps?: number;
  weightDecay?: number;
  /** Max global gradient norm (default 1); null disables clipping. */
  gradClip?: number | null;
  /** EMA decay (default 0.9999); null disables the EMA. */
  emaDecay?: number | null;
  /** EMA decay warmup min(decay, (1 + n) / (10 + n)) (default false). */
  emaWarmup?: boolean;
  /** Probability of replacing a label with the null label (default 0.1 for conditional models). */
  labelDropProb?: number;
  labelDropMode?: LabelDropMode;
  /** Seed of every random stream of the run (default 0). */
  seed?: number;
  /**
   * A non-finite loss or gradient norm: 'stop' (default) throws a NonFiniteError, 'skip' skips the update. Not part
   * of the snapshot's config (it does not change a healthy run).
   */
  onNonFinite?: NonFinitePolicy;
  /** With 'skip': this many skipped steps in a row throw after all (default 10). */
  maxConsecutiveSkips?: number;
}

export interface TrainerOptions {
  model: Denoiser;
  scheduler: SchedulerBase;
  dataset: Dataset;
  config: TrainerConfig;
  /** Data order; default a seeded shuffled sampler. Replaces the default (e.g. a class-balanced sampler). */
  sampler?: BatchSampler;
  targetHook?: TargetHook;
  lossHook?: LossHook;
}

export interface StepStats {
  step: number;
  loss: number;
  /** The regression loss alone (loss minus the hook's term). */
  mainLoss: number;
  extraLoss?: number;
  gradNorm?: number;
  lr: number;
  /** Diagnostics of the target hook (averaged scalars). */
  diagnostics?: Record<string, number>;
  /** Set (with onNonFinite 'skip') when the update was skipped: `nonFinite` names the quantity. */
  skipped?: boolean;
  nonFinite?: NonFiniteQuantity;
}

/** JSON part of a trainer snapshot (tensors go to safetensors). */
export interface TrainerStateMeta {
  step: number;
  config: TrainerConfig;
  samplerState: unknown;
  /** Set when the sampler has no getState: resume replays `step` batches. */
  samplerReplay: boolean;
  generators: { train: number[]; dropout: number[][] };
  optimizer: OptimizerState['scalars'];
  ema: EMAState['scalars'] | null;
  /** Skipped (non-finite) steps so far and in a row at the end; absent in older snapshots (read as 0). */
  skips?: { total: number; consecutive: number };
}

export class Trainer {
  readonly model: Denoiser;
  readonly scheduler: SchedulerBase;
  readonly dataset: Dataset;
  readonly config: Required<Omit<TrainerConfig, 'lrSchedule' | 'onNonFinite' | 'maxConsecutiveSkips'>> & { lrSchedule?: LrSchedule };
  /** What a non-finite loss or gradient norm does (see the module comment). */
  readonly onNonFinite: NonFinitePolicy;
  readonly maxConsecutiveSkips: number;
  /** Steps whose update was skipped (onNonFinite 'skip'), in all and in a row up to now. */
  skippedSteps = 0;
  consecutiveSkips = 0;
  readonly sampler: BatchSampler;
  readonly optimizer: Adam;
  readonly ema: EMA | null;
  /** Timesteps, noise, label dropout, augmentation and hooks draw from this. */
  readonly rng: Generator;
  readonly targetHook?: TargetHook;
  readonly lossHook?: LossHook;
  /** Number of optimisation steps taken. */
  stepCount = 0;
  private readonly schedule: LrSchedule;
  private readonly dropoutGenerators: Generator[];

  constructor(opts: TrainerOptions) {
    const { onNonFinite = 'stop', maxConsecutiveSkips = 10, ...c } = opts.config;
    if (onNonFinite !== 'stop' && onNonFinite !== 'skip') throw new RangeError(`Trainer: onNonFinite must be 'stop' or 'skip', got '${String(onNonFinite)}'`);
    if (!Number.isInteger(maxConsecutiveSkips) || maxConsecutiveSkips < 1) throw new RangeError(`Trainer: maxConsecutiveSkips must be a positive integer, got ${maxConsecutiveSkips}`);
    this.onNonFinite = onNonFinite;
    this.maxConsecutiveSkips = maxConsecutiveSkips;
    this.config = {
      lr: 2e-4,
      warmupSteps: 0,
      adamBetas: [0.9, 0.999],
      adamEps: 1e-8,
      weightDecay: 0,
      gradClip: 1,
      emaDecay: 0.9999,
      emaWarmup: false,
      labelDropProb: 0.1,
      labelDropMode: 'per-sample',
      seed: 0,
      ...c,
    };
    const cfg = this.config;
    if (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 1) throw new RangeError(`Trainer: batchSize must be a positive integer, got ${cfg.batchSize}`);
    if (!Number.isInteger(cfg.numSteps) || cfg.numSteps < 0) throw new RangeError(`Trainer: numSteps must be a non-negative integer, got ${cfg.numSteps}`);
    if (!(cfg.labelDropProb >= 0 && cfg.labelDropProb <= 1)) throw new RangeError(`Trainer: labelDropProb must be in [0, 1], got ${cfg.labelDropProb}`);
    if (cfg.labelDropMode !== 'per-sample' && cfg.labelDropMode !== 'per-batch') throw new RangeError(`Trainer: labelDropMode must be 'per-sample' or 'per-batch', got '${String(cfg.labelDropMode)}'`);
    this.model = opts.model;
    this.scheduler = opts.scheduler;
    this.dataset = opts.dataset;
    if (opts.model.numClasses > 0 && !opts.dataset.labels) throw new Error(`Trainer: the model is conditional (${opts.model.numClasses} classes) but the dataset has no labels`);
    if (opts.model.numClasses > 0 && opts.dataset.numClasses > opts.model.numClasses) {
      throw new Error(`Trainer: the dataset has ${opts.dataset.numClasses} classes, the model only ${opts.model.numClasses}`);
    }
    this.sampler = opts.sampler ?? new ShuffledBatchSampler(opts.dataset.size, cfg.batchSize, cfg.seed * 3 + 1);
    if (this.sampler.batchSize !== cfg.batchSize) throw new Error(`Trainer: sampler batchSize ${this.sampler.batchSize} differs from config.batchSize ${cfg.batchSize}`);
    this.rng = new Generator(cfg.seed * 3 + 2);
    this.optimizer = new Adam(opts.model.namedParameters(), { lr: cfg.lr, betas: cfg.adamBetas, eps: cfg.adamEps, weightDecay: cfg.weightDecay });
    this.ema = cfg.emaDecay === null ? null : new EMA(opts.model, { decay: cfg.emaDecay, warmup: cfg.emaWarmup });
    this.schedule = cfg.lrSchedule ?? linearWarmup(cfg.lr, cfg.warmupSteps);
    this.targetHook = opts.targetHook;
    this.lossHook = opts.lossHook;
    const gens = new Set<Generator>();
    for (const m of opts.model.modules()) if (m instanceof Dropout) gens.add(m.generator);
    this.dropoutGenerators = [...gens];
  }

  get alphasCumprod(): Float64Array {
    return this.scheduler.alphasCumprod;
  }

  /** Labels to feed (null label where dropped) and the drop mask, for a conditional model. */
  private dropLabels(labels: Int32Array): { fed: Int32Array; dropped: Uint8Array } {
    const p = this.config.labelDropProb;
    const dropped = new Uint8Array(labels.length);
    if (this.config.labelDropMode === 'per-batch') dropped.fill(this.rng.random() < p ? 1 : 0);
    else for (let i = 0; i < labels.length; i++) dropped[i] = this.rng.random() < p ? 1 : 0;
    const fed = labels.map((y, i) => (dropped[i] ? this.model.nullLabel : y));
    return { fed, dropped };
  }

  /**
   * One optimisation step. Every tensor it creates is released when it returns (`tidy`), gradients included:
   * the parameters and the optimizer and EMA state are updated in place and stay.
   */
  step(): StepStats {
    return tidy(() => this.stepInScope());
  }

  private stepInScope(): StepStats {
    const step = this.stepCount;
    this.model.train();
    const T = this.scheduler.numTrainTimesteps;
    const B = this.config.batchSize;
    // Phases of a profile (profile() in @oclt/tensor): 'data' here, then 'forward'; backward, clip, optimizer
    // and ema mark themselves.
    const { batch, timesteps, noise, xt } = profileSection('data', () => {
      const batch = this.dataset.batch(this.sampler.nextBatch(), this.rng);
      const timesteps = randint(0, T, [B], this.rng);
      const noise = randn(batch.x.shape, this.rng, batch.x.dtype);
      const xt = noGrad(() => this.scheduler.addNoise(batch.x, noise, timesteps));
      return { batch, timesteps, noise, xt };
    });
    const x0 = batch.x;

    const conditional = this.model.numClasses > 0;
    let fed: Int32Array | null = null;
    let dropped: Uint8Array = new Uint8Array(B).fill(1);
    if (conditional) ({ fed, dropped } = this.dropLabels(batch.labels!));

    let target: Tensor;
    let diagnostics: Record<string, number> | undefined;
    if (this.targetHook) {
      const result = noGrad(() => this.targetHook!({ x0, noise, xt, timesteps, labels: batch.labels, alphasCumprod: this.alphasCumprod, gen: this.rng, step }));
      diagnostics = summarize(result);
      target = noGrad(() => this.targetFromNoise(result.targets, xt, x0, timesteps));
    } else {
      target = noGrad(() => this.scheduler.trainingTarget(x0, noise, timesteps));
    }

    const prediction = profileSection('forward', () => this.model.forward(xt, timesteps, fed));
    const mainLoss = profileSection('forward', () => prediction.sub(target).square().mean());
    let loss = mainLoss;
    let extra: number | undefined;
    if (this.lossHook) {
      const term = this.lossHook({
        denoiser: (x, t, y) => this.model.forward(x, t, y),
        model: this.model,
        x0,
        xt,
        noise,
        timesteps,
        labels: fed,
        trueLabels: batch.labels,
        labelKept: dropped.map((d) => 1 - d),
        prediction,
        target,
        alphasCumprod: this.alphasCumprod,
        numClasses: this.model.numClasses,
        gen: this.rng,
        step,
      });
      if (term) {
        if (term.size !== 1) throw new Error(`Trainer: the loss hook must return a scalar, got shape [${term.shape}]`);
        loss = loss.add(term.reshape([]));
        extra = term.item();
      }
    }

    const lr = this.schedule(step);
    const lossValue = loss.item();
    const mainValue = mainLoss.item();
    // Checked before the update, in this order: the most specific quantity is named.
    let bad: { quantity: NonFiniteQuantity; value: number } | null = null;
    if (!Number.isFinite(mainValue)) bad = { quantity: 'mainLoss', value: mainValue };
    else if (extra !== undefined && !Number.isFinite(extra)) bad = { quantity: 'extraLoss', value: extra };
    else if (!Number.isFinite(lossValue)) bad = { quantity: 'loss', value: lossValue };
    let gradNorm: number | undefined;
    if (!bad) {
      this.optimizer.zeroGrad();
      loss.backward();
      // Without clipping the norm is still computed (maxNorm Infinity never scales), to check it.
      const norm = clipGradNorm(this.optimizer.params, this.config.gradClip ?? Infinity);
      if (this.config.gradClip !== null) gradNorm = norm;
      if (!Number.isFinite(norm)) bad = { quantity: 'gradNorm', value: norm };
    }
    const stats: StepStats = { step: step + 1, loss: lossValue, mainLoss: mainValue, lr };
    if (extra !== undefined) stats.extraLoss = extra;
    if (gradNorm !== undefined) stats.gradNorm = gradNorm;
    if (diagnostics) stats.diagnostics = diagnostics;
    if (bad) return this.nonFiniteStep(stats, bad.quantity, bad.value);
    this.optimizer.lr = lr;
    this.optimizer.step();
    this.ema?.update(this.model);
    this.stepCount++;
    this.consecutiveSkips = 0;
    return stats;
  }

  /**
   * A step whose loss or gradient norm is not finite: throws (policy 'stop', or too many skips in a row) or skips
   * the update. After a throw the random streams have advanced past the failed step: restore a checkpoint to go on.
   */
  private nonFiniteStep(stats: StepStats, quantity: NonFiniteQuantity, value: number): StepStats {
    this.optimizer.zeroGrad();
    const what = quantity === 'gradNorm' ? 'the gradient norm' : quantity === 'extraLoss' ? "the loss hook's term (extraLoss)" : quantity === 'mainLoss' ? 'the regression loss (mainLoss)' : 'the loss';
    const where = `${what} is ${value} at step ${stats.step} (lr ${stats.lr})`;
    if (this.onNonFinite === 'skip' && this.consecutiveSkips + 1 < this.maxConsecutiveSkips) {
      this.stepCount++;
      this.skippedSteps++;
      this.consecutiveSkips++;
      return { ...stats, skipped: true, nonFinite: quantity };
    }
    const bad = findNonFinite(this.model.stateDict());
    const cause = bad ? `; the weights are already non-finite (${bad.count} of ${bad.size} elements of ${bad.name}, e.g. [${bad.index}] = ${bad.value}): an earlier update diverged` : '';
    const policy =
      this.onNonFinite === 'skip'
        ? `; ${this.maxConsecutiveSkips} steps in a row were non-finite (onNonFinite 'skip', maxConsecutiveSkips ${this.maxConsecutiveSkips})`
        : "; training stops (onNonFinite 'stop'): lower the learning rate or clip the gradients harder";
    throw new NonFiniteError(`Trainer: training diverged: ${where}${cause}${policy}`, quantity, value, stats.step);
  }

  /** A hook's replacement noise eps' as a target of the scheduler's prediction type (x0' implied by x_t and eps'). */
  private targetFromNoise(eps: Tensor, xt: Tensor, x0: Tensor, timesteps: Tensor): Tensor {
    if (eps.shape.length !== x0.shape.length || eps.shape.some((d, i) => d !== x0.shape[i])) {
      throw new Error(`Trainer: the target hook returned targets of shape [${eps.shape}], expected [${x0.shape}]`);
    }
    if (this.scheduler.predictionType === 'epsilon') return eps;
    const ts = timesteps.toTypedArray();
    const sa = fromTypedArray(Float32Array.from(ts, (t) => this.scheduler.schedule.sqrtAlphasCumprod[t]!), [ts.length, ...x0.shape.slice(1).map(() => 1)]);
    const s1 = fromTypedArray(Float32Array.from(ts, (t) => this.scheduler.schedule.sqrtOneMinusAlphasCumprod[t]!), [ts.length, ...x0.shape.slice(1).map(() => 1)]);
    const impliedX0 = xt.sub(eps.mul(s1)).div(sa);
    return this.scheduler.trainingTarget(impliedX0, eps, timesteps);
  }

  /** Everything a checkpoint needs: tensors (model, EMA, optimizer) and JSON (step, config, RNG states, ...). */
  snapshot(): { tensors: Record<string, Tensor>; meta: TrainerStateMeta } {
    const tensors: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(this.model.stateDict())) tensors[`model.${k}`] = v;
    const opt = this.optimizer.stateDict();
    for (const [k, v] of Object.entries(opt.tensors)) tensors[`optim.${k}`] = v;
    const ema = this.ema?.stateDict() ?? null;
    if (ema) for (const [k, v] of Object.entries(ema.tensors)) tensors[`ema.${k}`] = v;
    const { lrSchedule: _omit, ...config } = this.config;
    void _omit;
    return {
      tensors,
      meta: {
        step: this.stepCount,
        config,
        samplerState: this.sampler.getState?.() ?? null,
        samplerReplay: !this.sampler.getState,
        generators: { train: this.rng.getState(), dropout: this.dropoutGenerators.map((g) => g.getState()) },
        optimizer: opt.scalars,
        ema: ema?.scalars ?? null,
        skips: { total: this.skippedSteps, consecutive: this.consecutiveSkips },
      },
    };
  }

  /** Restores a snapshot into this trainer (built with the same model architecture, data and config). */
  restore(tensors: Record<string, Tensor>, meta: TrainerStateMeta): void {
    const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    this.model.loadStateDict(pick('model.'));
    this.optimizer.loadStateDict({ tensors: pick('optim.'), scalars: meta.optimizer });
    if (this.ema) {
      if (!meta.ema) throw new Error('Trainer.restore: the checkpoint has no EMA but this trainer uses one');
      this.ema.loadStateDict({ tensors: pick('ema.'), scalars: meta.ema });
    }
    this.rng.setState(meta.generators.train);
    if (meta.generators.dropout.length !== this.dropoutGenerators.length) {
      throw new Error(`Trainer.restore: the checkpoint has ${meta.generators.dropout.length} dropout generators, the model ${this.dropoutGenerators.length}`);
    }
    meta.generators.dropout.forEach((s, i) => this.dropoutGenerators[i]!.setState(s));
    if (this.sampler.setState && meta.samplerState !== null) {
      this.sampler.setState(meta.samplerState);
    } else {
      // A sampler without state: replay its batches from the start (it must be freshly constructed with the same seed).
      for (let i = 0; i < meta.step; i++) this.sampler.nextBatch();
    }
    this.stepCount = meta.step;
    this.skippedSteps = meta.skips?.total ?? 0;
    this.consecutiveSkips = meta.skips?.consecutive ?? 0;
  }
}

/**
 * A target hook's diagnostics plus the means of its Uint8Array / Float32Array / Float64Array fields (flags and
 * per-sample values such as OC-LT's `transferred` or `selfProbability`). Int32Array fields are indices and skipped.
 */
function summarize(result: TargetHookResult): Record<string, number> | undefined {
  const out: Record<string, number> = { ...(result.diagnostics ?? {}) };
  for (const [k, v] of Object.entries(result)) {
    if (k === 'targets' || k === 'diagnostics') continue;
    if (v instanceof Uint8Array || v instanceof Float32Array || v instanceof Float64Array) {
      if (v.length === 0) continue;
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]!;
      out[`${k}Mean`] = s / v.length;
    }
  }
  return Object.keys(out).length ? out : undefined;
}
