/**
 * The trainer's two extension points, for methods that change what a diffusion model learns (OC-LT, CBDM, ...).
 *
 * 1. `TargetHook` replaces the regression target per sample. It sees the batch after noising and returns new
 *    noise targets eps'_i (in eps space, whatever the model's prediction type; the trainer converts them). OC-LT
 *    (paper Eq. 8) returns (x_t,i - sqrt(abar_i) x0_z) / sqrt(1 - abar_i) for a re-drawn source z. It runs without
 *    gradient. Anything else it returns (arrays such as `transferred`, or `diagnostics`) is summarised in the logs.
 *
 * 2. `LossHook` adds a term to the loss. It sees the model (as a plain function and as the module), the inputs
 *    the main loss used and the prediction with its graph. CBDM returns its regulariser (a second forward pass with
 *    other labels). Returning null adds nothing for this batch.
 *
 * Both receive the trainer's seeded generator `gen`: draw all randomness from it, so that runs reproduce and resume
 * exactly. These two contexts are the only statement of what a hook sees: a method takes `Pick<...>` of them (the
 * fields it reads) rather than restating them. Browser-safe.
 */
import type { Generator, Tensor } from '@oclt/tensor';
import type { Denoiser } from '../models/embeddings.js';

export interface TargetHookContext {
  /** Clean batch x0 [B, ...]. */
  x0: Tensor;
  /** The noise eps [B, ...] that made xt (the default target). */
  noise: Tensor;
  /** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps. */
  xt: Tensor;
  /** Per-sample timesteps, int32 [B], 0-indexed. */
  timesteps: Tensor;
  /** The TRUE class labels of the batch (even when the model is unconditional or the label was dropped); null if the data has none. */
  labels: Int32Array | null;
  /** abar_t for t = 0..T-1. */
  alphasCumprod: Float64Array;
  /** The trainer's seeded generator. */
  gen: Generator;
  /** The optimisation step about to be taken (0-based). */
  step: number;
}

export interface TargetHookResult {
  /** The replacement noise targets eps' [B, ...], same shape as `noise`. */
  targets: Tensor;
  /** Optional scalar diagnostics, averaged into the logs (e.g. { transferRate: 0.12 }). */
  diagnostics?: Record<string, number>;
  /** Other fields are allowed; Uint8Array/Float32Array/Float64Array ones are averaged into the logs as `<name>Mean`. */
  [extra: string]: unknown;
}

export type TargetHook = (ctx: TargetHookContext) => TargetHookResult;

export interface LossHookContext {
  /** eps_theta(x_t, t, y) as a plain function (labels as an int32 tensor; the null label means "no label"). */
  denoiser: (xt: Tensor, timesteps: Tensor, labels: Tensor) => Tensor;
  /** The model itself. */
  model: Denoiser;
  x0: Tensor;
  xt: Tensor;
  noise: Tensor;
  timesteps: Tensor;
  /** The labels fed to the model (null label where dropped); null for unconditional models. */
  labels: Int32Array | null;
  /** The true labels; null when the data has none. */
  trueLabels: Int32Array | null;
  /** 1 where the sample's label was fed to the model, 0 where classifier-free guidance dropped it. */
  labelKept: Uint8Array;
  /** The model output of the main loss, with its graph (for eps prediction: the eps estimate). */
  prediction: Tensor;
  /** The regression target of the main loss. */
  target: Tensor;
  alphasCumprod: Float64Array;
  numClasses: number;
  /** The trainer's seeded generator. */
  gen: Generator;
  step: number;
}

/** Returns a scalar tensor added to the loss, or null to add nothing. */
export type LossHook = (ctx: LossHookContext) => Tensor | null;

/** Produces the dataset rows of each batch. Optional getState/setState make resuming O(1); else the trainer replays. */
export interface BatchSampler {
  readonly batchSize: number;
  nextBatch(): Int32Array;
  readonly description?: string;
  getState?(): unknown;
  setState?(state: unknown): void;
}
