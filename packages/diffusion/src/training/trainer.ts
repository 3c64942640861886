/**
 * The diffusion trainer: one `step()` = draw a batch, noise it at random timesteps, regress the model output onto
 * the target of the scheduler's prediction type (DDPM Eq. 14, the "simple" loss), then Adam with linear warmup,
 * global-norm gradient clipping and an EMA of the weights.
 *
 * Classifier-free guidance training (Ho & Salimans 2022): each sample's label is replaced by the null label with
 * probability `labelDropProb` (per sample, the default), or the whole batch's labels at once ('per-batch', what
 * the released OC-LT code does).
 *
 * Randomness: three seeded streams derived from `seed`: the data order (the batch sampler), the training draws
 * (timesteps, noise, label dropout, augmentation, hooks), and the model's dropout masks (the Dropout modules' own
 * generators). `snapshot()` captures all of them with the weights, the optimizer and the EMA, so `restore()`
 * continues a run bit for bit. Browser-safe; checkpoint files, signals and progress are in src/node/train-node.ts.
 */
import { Generator, fromTypedArray, noGrad, randint, randn, tidy, type Tensor } from '@oclt/tensor';
import { Adam, Dropout, EMA, clipGradNorm, linearWarmup, type EMAState, type LrSchedule, type OptimizerState } from '@oclt/autograd';
import type { Dataset } from '../data/dataset.js';
import type { Denoiser } from '../models/embeddings.js';
import type { SchedulerBase } from '../schedulers/base.js';
import type { BatchSampler, LossHook, TargetHook, TargetHookResult } from './hooks.js';
import { ShuffledBatchSampler } from './sampler.js';

export type LabelDropMode = 'per-sample' | 'per-batch';

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
}

export class Trainer {
  readonly model: Denoiser;
  readonly scheduler: SchedulerBase;
  readonly dataset: Dataset;
  readonly config: Required<Omit<TrainerConfig, 'lrSchedule'>> & { lrSchedule?: LrSchedule };
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
    const c = opts.config;
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
    const batch = this.dataset.batch(this.sampler.nextBatch(), this.rng);
    const x0 = batch.x;
    const timesteps = randint(0, T, [B], this.rng);
    const noise = randn(x0.shape, this.rng, x0.dtype);
    const xt = noGrad(() => this.scheduler.addNoise(x0, noise, timesteps));

    const conditional = this.model.numClasses > 0;
    let fed: Int32Array | null = null;
    let dropped: Uint8Array = new Uint8Array(B).fill(1);
    if (conditional) ({ fed, dropped } = this.dropLabels(batch.labels!));

    let target: Tensor;
    let diagnostics: Record<string, number> | undefined;
    if (this.targetHook) {
      const result = noGrad(() => this.targetHook!({ x0, noise, xt, timesteps, labels: batch.labels, alphasCumprod: this.alphasCumprod, gen: this.rng, rng: this.rng, step }));
      diagnostics = summarize(result);
      target = noGrad(() => this.targetFromNoise(result.targets, xt, x0, timesteps));
    } else {
      target = noGrad(() => this.scheduler.trainingTarget(x0, noise, timesteps));
    }

    const prediction = this.model.forward(xt, timesteps, fed);
    const mainLoss = prediction.sub(target).square().mean();
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
        labelDropMask: dropped,
        prediction,
        target,
        alphasCumprod: this.alphasCumprod,
        numClasses: this.model.numClasses,
        gen: this.rng,
        rng: this.rng,
        step,
      });
      if (term) {
        if (term.size !== 1) throw new Error(`Trainer: the loss hook must return a scalar, got shape [${term.shape}]`);
        loss = loss.add(term.reshape([]));
        extra = term.item();
      }
    }

    this.optimizer.zeroGrad();
    loss.backward();
    const gradNorm = this.config.gradClip === null ? undefined : clipGradNorm(this.optimizer.params, this.config.gradClip);
    const lr = this.schedule(step);
    this.optimizer.lr = lr;
    this.optimizer.step();
    this.ema?.update(this.model);
    this.stepCount++;
    const stats: StepStats = { step: this.stepCount, loss: loss.item(), mainLoss: mainLoss.item(), lr };
    if (extra !== undefined) stats.extraLoss = extra;
    if (gradNorm !== undefined) stats.gradNorm = gradNorm;
    if (diagnostics) stats.diagnostics = diagnostics;
    return stats;
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
