/**
 * Sampling from a trained denoiser with DDPM or DDIM, in batches, seeded, with classifier-free guidance
 * (Ho & Salimans 2022): eps = (1 + w) eps(x, y) - w eps(x, null), computed in one forward pass over the batch
 * doubled. w = 0 is plain conditional sampling; unconditional models ignore labels and w.
 *
 * The model is put in eval mode for the whole run (dropout off; the released OC-LT code forgot this) and every
 * module's previous mode is restored afterwards. Runs without recording gradients. Browser-safe.
 */
import { concat, dispose, Generator, noGrad, randn, tidy, type Tensor } from '@oclt/tensor';
import type { EMA } from '@oclt/autograd';
import type { Denoiser } from '../models/embeddings.js';
import type { SchedulerBase } from '../schedulers/base.js';

export interface SampleOptions {
  /** How many samples in total. */
  numSamples: number;
  /** Shape of one sample, e.g. [1, 28, 28] or [2]. */
  sampleShape: readonly number[];
  /** Model calls per batch of this many samples (default 64). */
  batchSize?: number;
  /** One label for all, a label per sample, or null/undefined for unconditional sampling (the null label). */
  labels?: number | ArrayLike<number> | null;
  /** Guidance weight w (default 0). */
  guidanceWeight?: number;
  /** Sampling steps (default: the scheduler's current timesteps). */
  numInferenceSteps?: number;
  /** DDIM's eta (ignored by DDPM): handed to the scheduler's `stepOptionsFor`, which takes what it has. */
  eta?: number;
  /**
   * The starting noise x_T [numSamples, ...sampleShape]; default drawn from the generator. Fixing it (with DDIM,
   * eta = 0) makes samples independent of batchSize, e.g. to compare checkpoints on the same noise.
   */
  initialNoise?: Tensor;
  /** Seed (or a generator) of the initial noise and the stochastic steps. */
  seed?: number;
  generator?: Generator;
  /** Called after each denoising step of each batch (for progress bars). */
  onStep?: (info: { batch: number; numBatches: number; stepIndex: number; numSteps: number; t: number }) => void;
}

/** Runs `fn` with every module of `model` in eval mode, then restores each module's own previous mode. */
export function withEvalMode<T>(model: Denoiser, fn: () => T): T {
  const modes = model.modules().map((m) => [m, m.training] as const);
  model.eval();
  try {
    return fn();
  } finally {
    for (const [m, mode] of modes) m.training = mode;
  }
}

/** Runs `fn` with the EMA weights copied into the model, then puts the training weights back. */
export function withEmaWeights<T>(ema: EMA, model: Denoiser, fn: () => T): T {
  ema.store(model);
  ema.copyTo(model);
  try {
    return fn();
  } finally {
    ema.restore(model);
  }
}

function labelList(labels: SampleOptions['labels'], n: number, model: Denoiser): Int32Array | null {
  if (labels === null || labels === undefined || model.numClasses === 0) return null;
  const out = new Int32Array(n);
  if (typeof labels === 'number') out.fill(labels);
  else {
    if (labels.length !== n) throw new RangeError(`sample: got ${labels.length} labels for numSamples ${n}`);
    for (let i = 0; i < n; i++) out[i] = labels[i]!;
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(out[i]) || out[i]! < 0 || out[i]! > model.numClasses) throw new RangeError(`sample: label ${out[i]} at ${i} is outside [0, ${model.numClasses}]`);
  }
  return out;
}

/** The guided model output for one batch: (1 + w) out(x, y) - w out(x, null). */
export function guidedOutput(model: Denoiser, x: Tensor, t: number, labels: Int32Array | null, w: number): Tensor {
  const b = x.shape[0]!;
  if (!labels || w === 0) return model.forward(x, t, labels);
  const both = model.forward(concat([x, x], 0), t, Int32Array.from([...labels, ...new Array<number>(b).fill(model.nullLabel)]));
  const cond = both.narrow(0, 0, b);
  const uncond = both.narrow(0, b, b);
  return cond.mul(1 + w).sub(uncond.mul(w));
}

/**
 * Draws samples [numSamples, ...sampleShape]. Whether x0 is clipped at every step is the scheduler's `clipSample`
 * (default: never, as the OC_LT reference sampler); the returned samples are not clipped: clamp them to [-1, 1]
 * for images and metrics, as OC_LT does with its final samples.
 */
export function sample(model: Denoiser, scheduler: SchedulerBase, opts: SampleOptions): Tensor {
  const n = opts.numSamples;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`sample: numSamples must be a positive integer, got ${n}`);
  const batchSize = opts.batchSize ?? 64;
  const w = opts.guidanceWeight ?? 0;
  if (!Number.isFinite(w)) throw new RangeError(`sample: guidanceWeight must be a number, got ${w}`);
  const labels = labelList(opts.labels, n, model);
  if (opts.numInferenceSteps !== undefined) scheduler.setTimesteps(opts.numInferenceSteps);
  const rng = opts.generator ?? new Generator(opts.seed ?? 0);
  // The per-call step options: each scheduler takes the settings it has (DDIM: eta) and no special case is made here.
  const stepOpts = scheduler.stepOptionsFor({ eta: opts.eta });
  const x0Shape = [n, ...opts.sampleShape];
  if (opts.initialNoise && (opts.initialNoise.ndim !== x0Shape.length || opts.initialNoise.shape.some((d, i) => d !== x0Shape[i]))) {
    throw new RangeError(`sample: initialNoise has shape [${opts.initialNoise.shape}], expected [${x0Shape}]`);
  }
  const numBatches = Math.ceil(n / batchSize);
  const out: Tensor[] = [];
  withEvalMode(model, () =>
    noGrad(() => {
      for (let bi = 0; bi < numBatches; bi++) {
        const b = Math.min(batchSize, n - bi * batchSize);
        const y = labels ? labels.subarray(bi * batchSize, bi * batchSize + b) : null;
        const first = opts.initialNoise ? opts.initialNoise.narrow(0, bi * batchSize, b).contiguous() : randn([b, ...opts.sampleShape], rng);
        let x = first;
        scheduler.timesteps.forEach((t, si) => {
          // Each step's intermediates are released when it ends (tidy), and so is the previous sample.
          const prev = x;
          x = tidy(() => {
            const modelOut = guidedOutput(model, prev, t, y, w);
            const res = scheduler.step(modelOut, t, prev, rng, stepOpts);
            return res.prevSample.contiguous();
          });
          if (prev !== first && prev.storage !== x.storage) dispose(prev);
          opts.onStep?.({ batch: bi, numBatches, stepIndex: si, numSteps: scheduler.timesteps.length, t });
        });
        out.push(x);
      }
    }),
  );
  const all = concat(out, 0);
  dispose(...out.filter((x) => x.storage !== all.storage && x.storage !== opts.initialNoise?.storage));
  return all;
}
