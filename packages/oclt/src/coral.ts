/**
 * CORAL (NeurIPS 2025, arXiv 2506.15933, "Disentangling Latent Representations in Long-Tailed Diffusion") as an
 * added loss term, written from the paper and its reference code (SankarLab/coral-lt-diffusion, diffusion.py and
 * model/model.py, built on CBDM's code base):
 *
 *   z_i   = normalize(W pool(h_i) + b)        h_i: the UNet's bottleneck (after the middle blocks), pool: spatial mean,
 *                                             W: a linear projection head to 128 dimensions, normalize: unit L2 norm
 *   L_sc  = mean over anchors i with a positive of
 *           -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau) )
 *           (the supervised contrastive loss of Khosla et al. 2020; P(i): the other samples of i's class)
 *   L     = lambda * s(t) * L_sc,   s(t) = mean_i exp((1 - t_i / T) / sigma)
 *
 * Defaults as in the reference code: lambda (supcon_weight) = 0.5, tau (supcon_temp) = 0.1, sigma
 * (temperature_scaling) = 0.3, head dimension 128 (mean_proj; its logvar_proj is computed but never used in a
 * loss, so it is left out here). The loss applies at every timestep, weighted by s(t): exp(1/0.3) ~ 28 at t = 0
 * down to ~1 at t = T, i.e. mostly on the nearly clean inputs. Classifier-free label dropping: the reference drops
 * the label of the whole batch (probability 1/10) and then skips the term; our trainer drops per sample, so only
 * samples whose label was fed to the model take part (as anchors, positives and in the denominators), s(t) is the
 * mean over those, and a batch with fewer than two kept samples of one class adds nothing.
 *
 * weight = 0 turns the term off exactly: no head, no tap, no term, so the run is the baseline bit for bit.
 * Browser-safe.
 */
import type { LossHookContext } from '@oclt/diffusion';
import { Generator, Tensor, fromTypedArray } from '@oclt/tensor';
import { Linear, Module } from '@oclt/autograd';

export interface CoralOptions {
  /** lambda, the weight of the term (reference: 0.5). 0 turns it off. */
  weight?: number;
  /** tau, the temperature of the contrastive softmax (reference: 0.1). */
  temperature?: number;
  /** sigma of the time weight exp((1 - t/T) / sigma) (reference: 0.3). */
  timeScale?: number;
  /** Output dimension of the projection head (reference: 128). */
  projectionDim?: number;
}

export const CORAL_DEFAULTS: Required<CoralOptions> = { weight: 0.5, temperature: 0.1, timeScale: 0.3, projectionDim: 128 };

function checkOptions(options: CoralOptions | undefined): Required<CoralOptions> {
  const o = { ...CORAL_DEFAULTS, ...options };
  if (!(Number.isFinite(o.weight) && o.weight >= 0)) throw new RangeError(`coral: weight must be a finite number >= 0, got ${o.weight}`);
  if (!(Number.isFinite(o.temperature) && o.temperature > 0)) throw new RangeError(`coral: temperature must be a finite number > 0, got ${o.temperature}`);
  if (!(Number.isFinite(o.timeScale) && o.timeScale > 0)) throw new RangeError(`coral: timeScale must be a finite number > 0, got ${o.timeScale}`);
  if (!(Number.isInteger(o.projectionDim) && o.projectionDim >= 1)) throw new RangeError(`coral: projectionDim must be a positive integer, got ${o.projectionDim}`);
  return o;
}

/** The projection head: spatial mean of the bottleneck map [B, C, H, W] (or [B, C] as is), then Linear(C, dim). */
export class ProjectionHead extends Module {
  readonly proj: Linear;
  constructor(readonly channels: number, readonly dim = CORAL_DEFAULTS.projectionDim, generator = new Generator(0)) {
    super();
    this.proj = this.addModule('proj', new Linear(channels, dim, { generator }));
  }
  override forward(features: Tensor): Tensor {
    if (features.ndim !== 4 && features.ndim !== 2) throw new RangeError(`ProjectionHead.forward: features must be [B, C, H, W] or [B, C], got [${features.shape}]`);
    if (features.shape[1] !== this.channels) throw new RangeError(`ProjectionHead.forward: expected ${this.channels} channels, got [${features.shape}]`);
    const pooled = features.ndim === 4 ? features.mean([2, 3]) : features;
    return this.proj.forward(pooled);
  }
}

/** s(t) = mean over the rows with include[i] of exp((1 - t_i / T) / sigma) (t 0-indexed, as the reference). */
export function coralTimeWeight(timesteps: ArrayLike<number>, numTimesteps: number, timeScale = CORAL_DEFAULTS.timeScale, include?: ArrayLike<boolean | number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= numTimesteps) throw new RangeError(`coralTimeWeight: timestep ${t} of row ${i} is outside [0, ${numTimesteps})`);
    if (include && !include[i]) continue;
    sum += Math.exp((1 - t / numTimesteps) / timeScale);
    n++;
  }
  return n ? sum / n : 0;
}

/**
 * The supervised contrastive loss of features z [B, D] (L2-normalised here) with labels [B]; rows where `include`
 * is false take no part. Mean over anchors with at least one positive; null when there is none.
 */
export function supervisedContrastiveLoss(z: Tensor, labels: ArrayLike<number>, temperature = CORAL_DEFAULTS.temperature, include?: ArrayLike<boolean | number>): Tensor | null {
  if (z.ndim !== 2) throw new RangeError(`supervisedContrastiveLoss: features must be [B, D], got [${z.shape}]`);
  const B = z.shape[0]!;
  if (labels.length !== B) throw new RangeError(`supervisedContrastiveLoss: ${labels.length} labels for ${B} rows`);
  if (include && include.length !== B) throw new RangeError(`supervisedContrastiveLoss: include has ${include.length} entries for ${B} rows`);
  const kept = Array.from({ length: B }, (_, i) => (include ? Boolean(include[i]) : true));
  const positives = new Float64Array(B);
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) if (i !== j && kept[i] && kept[j] && labels[i] === labels[j]) positives[i]!++;
  let anchors = 0;
  for (let i = 0; i < B; i++) if (positives[i]! > 0) anchors++;
  if (anchors === 0) return null;
  // W_ij = [j in P(i)] / (|P(i)| anchors): the loss is -sum_ij W_ij log p_ij. The mask M excludes self and dropped rows.
  const W = new Float64Array(B * B);
  const M = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (i === j || !kept[j]) M[i * B + j] = -1e9;
      if (positives[i]! > 0 && i !== j && kept[j] && labels[i] === labels[j]) W[i * B + j] = 1 / (positives[i]! * anchors);
    }
  }
  const norm = z.square().sum(1, true).sqrt().maximum(1e-12);
  const zn = z.div(norm);
  const logits = zn.matmul(zn.transpose()).div(temperature).add(fromTypedArray(M, [B, B]).astype(z.dtype));
  const logProb = logits.sub(logits.logsumexp(1, true));
  return logProb.mul(fromTypedArray(W, [B, B]).astype(z.dtype)).sum().neg();
}

/** labelKept as in the trainer's loss-hook context (default: all kept); the rest is CORAL's own. */
export interface CoralLossInput extends Partial<Pick<LossHookContext, 'labelKept'>> {
  /** The bottleneck map of the main forward [B, C, H, W] (with its graph). */
  features: Tensor;
  head: ProjectionHead;
  /** The class labels [B] (only rows with labelKept are read; never null, unlike the context's). */
  labels: ArrayLike<number>;
  /** 0-indexed timesteps [B]. */
  timesteps: Tensor | ArrayLike<number>;
  numTimesteps: number;
  options?: CoralOptions;
}

/** lambda s(t) L_sc for one batch, or null when the weight is 0 or no kept sample has a kept positive. */
export function coralLoss(input: CoralLossInput): Tensor | null {
  const o = checkOptions(input.options);
  if (o.weight === 0) return null;
  const t = input.timesteps instanceof Tensor ? input.timesteps.toTypedArray() : input.timesteps;
  const z = input.head.forward(input.features);
  const sc = supervisedContrastiveLoss(z, input.labels, o.temperature, input.labelKept);
  if (!sc) return null;
  return sc.mul(o.weight * coralTimeWeight(t, input.numTimesteps, o.timeScale, input.labelKept));
}

/** A model with UNet2D's bottleneck tap. */
export interface TappableDenoiser {
  bottleneckTap: ((features: Tensor) => void) | null;
  forward(x: Tensor, t: Tensor, labels?: Tensor): Tensor;
}

/**
 * The spatially pooled bottleneck features [B, C] of a forward pass (what CORAL's head sees), as float64 row-major
 * values for `featureSeparation`. Run it under noGrad; the model's own tap is restored afterwards.
 */
export function bottleneckFeatures(model: TappableDenoiser, x: Tensor, timesteps: Tensor, labels?: Tensor): { values: Float64Array; dim: number } {
  const previous = model.bottleneckTap;
  let pooled: Tensor | null = null;
  model.bottleneckTap = (h) => {
    pooled = h.ndim === 4 ? h.mean([2, 3]) : h;
    previous?.(h);
  };
  try {
    model.forward(x, timesteps, labels);
  } finally {
    model.bottleneckTap = previous;
  }
  if (!pooled) throw new Error('bottleneckFeatures: the model never called its bottleneck tap');
  const p = pooled as Tensor;
  return { values: Float64Array.from(p.toTypedArray()), dim: p.shape[1]! };
}

export interface GroupSeparation {
  group: string;
  classes: number[];
  /** Mean distance of the group's samples to their class centroid. */
  within: number;
  /** Mean distance from each of the group's class centroids to every other class's centroid. */
  between: number;
  /** between / within (higher: the group's classes stand further apart from the others). */
  ratio: number;
}

/**
 * CORAL's claim as a diagnostic: for each group of classes (e.g. head and tail), the between/within-class distance
 * ratio of features [N, D] (row-major). `groupOf[c]` names the group of class c.
 */
export function featureSeparation(features: ArrayLike<number>, dim: number, labels: ArrayLike<number>, groupOf: readonly string[]): GroupSeparation[] {
  const N = labels.length;
  const C = groupOf.length;
  if (features.length !== N * dim) throw new RangeError(`featureSeparation: ${features.length} values for ${N} rows of ${dim}`);
  const centroid = new Float64Array(C * dim);
  const count = new Float64Array(C);
  for (let i = 0; i < N; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new RangeError(`featureSeparation: label ${c} of row ${i} is outside [0, ${C})`);
    count[c]!++;
    for (let k = 0; k < dim; k++) centroid[c * dim + k]! += features[i * dim + k]!;
  }
  for (let c = 0; c < C; c++) for (let k = 0; k < dim; k++) if (count[c]) centroid[c * dim + k]! /= count[c]!;
  const present = Array.from({ length: C }, (_, c) => c).filter((c) => count[c]! > 0);
  const dist = (a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number) => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (a[ai + k]! - b[bi + k]!) ** 2;
    return Math.sqrt(s);
  };
  const groups = [...new Set(groupOf)];
  return groups.map((group) => {
    const classes = present.filter((c) => groupOf[c] === group);
    let within = 0;
    let n = 0;
    for (let i = 0; i < N; i++) if (groupOf[labels[i]!] === group) (within += dist(features, i * dim, centroid, labels[i]! * dim)), n++;
    within = n ? within / n : NaN;
    let between = 0;
    let pairs = 0;
    for (const c of classes) for (const d of present) if (d !== c) (between += dist(centroid, c * dim, centroid, d * dim)), pairs++;
    between = pairs ? between / pairs : NaN;
    return { group, classes, within, between, ratio: between / within };
  });
}
