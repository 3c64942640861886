/**
 * The CBDM baseline (Qin et al., CVPR 2023, "Class-Balancing Diffusion Models") as an added loss term, following
 * its reference code (qym7/CBDM-pytorch):
 *
 *   L_reg = mean over elements of  w_t * ( (e_y - sg(e_y'))^2 + gamma * (sg(e_y) - e_y')^2 )
 *
 * with e_y = eps_theta(x_t, t, y) (the prediction of the main loss), e_y' = eps_theta(x_t, t, y') from a second
 * forward pass with one y' per sample (drawn from the training label frequencies, or uniformly in CBDM's
 * fine-tune mode), w_t = tau * t / T (t 0-indexed), tau = 1, gamma = 1/4 and sg = stop-gradient (`detach`).
 * The first branch pulls e_y towards a frozen e_y'; the second, weaker one pulls e_y' towards a frozen e_y.
 * The term needs labels: samples whose label was dropped (classifier-free guidance) contribute nothing, and a
 * batch without any label skips the second forward altogether.
 *
 * tau = 0 turns the term off exactly: `cbdmLoss` returns null without drawing y' or running the second forward, so
 * a CBDM run with tau = 0 consumes the same random numbers and makes the same updates as the baseline, bit for bit.
 *
 * In expectation over y' the pull on e_y is the paper's Proposition D.1: the minimiser of
 * ||e - eps||^2 + tau_t sum_y' ||e - e_y'||^2 / |Y| is (eps + tau_t mean_y' e_y') / (1 + tau_t) (`cbdmOptimum`).
 */
import type { LossHookContext } from '@oclt/diffusion';
import { Generator, Tensor, fromTypedArray } from '@oclt/tensor';

export interface CbdmOptions {
  /** Regularizer strength tau (reference: 1). */
  tau?: number;
  /** Weight of the commitment branch that trains e_y' (reference: 1/4). */
  gamma?: number;
  /** How y' is drawn: from the training label frequencies (reference default) or uniformly (its fine-tune mode). */
  labelDistribution?: 'frequencies' | 'uniform';
}

/** w_t = tau * t / T per sample (t 0-indexed, so w is 0 at t = 0 and tau (T - 1) / T at the noisy end). */
export function cbdmTimeWeights(timesteps: ArrayLike<number>, numTimesteps: number, tau = 1): Float64Array {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new RangeError(`cbdmTimeWeights: numTimesteps must be a positive integer, got ${numTimesteps}`);
  return Float64Array.from(timesteps, (t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= numTimesteps) throw new RangeError(`cbdmTimeWeights: timestep ${t} of row ${i} is outside [0, ${numTimesteps})`);
    return (tau * t) / numTimesteps;
  });
}

/** One y' per sample: from `classFrequencies` (any non-negative weights) or, when it is undefined, uniform over numClasses. */
export function drawCbdmLabels(batchSize: number, numClasses: number, gen: Generator, classFrequencies?: ArrayLike<number>): Int32Array {
  if (classFrequencies && classFrequencies.length !== numClasses) {
    throw new RangeError(`drawCbdmLabels: classFrequencies has ${classFrequencies.length} entries, expected numClasses = ${numClasses}`);
  }
  return Int32Array.from({ length: batchSize }, () => (classFrequencies ? gen.categorical(classFrequencies) : gen.integer(0, numClasses)));
}

/**
 * The CBDM loss term from both predictions [B, ...] and per-sample weights w (w_t, times 0 where a label was
 * dropped): mean over all B x D elements of w_i ((e_y - sg(e_y'))^2 + gamma (sg(e_y) - e_y')^2), a scalar
 * on the same scale as the main loss mean((e_y - eps)^2).
 */
export function cbdmRegularizer(predictionWithLabel: Tensor, predictionWithOtherLabel: Tensor, sampleWeights: ArrayLike<number>, gamma = 0.25): Tensor {
  const eY = predictionWithLabel;
  const eOther = predictionWithOtherLabel;
  if (eY.ndim < 1 || eY.shape.length !== eOther.shape.length || eY.shape.some((d, k) => d !== eOther.shape[k])) {
    throw new RangeError(`cbdmRegularizer: predictions must share a shape [B, ...], got [${eY.shape}] and [${eOther.shape}]`);
  }
  const B = eY.shape[0]!;
  if (sampleWeights.length !== B) throw new RangeError(`cbdmRegularizer: ${sampleWeights.length} sample weights for a batch of ${B}`);
  const weightShape = [B, ...new Array<number>(eY.ndim - 1).fill(1)];
  const w = fromTypedArray(Float64Array.from(sampleWeights), weightShape).astype(eY.dtype);
  const pullOnLabelled = eY.sub(eOther.detach()).square();
  const pullOnOther = eY.detach().sub(eOther).square().mul(gamma);
  return pullOnLabelled.add(pullOnOther).mul(w).mean();
}

/** A model call eps_theta(x_t, t, y) as the trainer makes it. */
export type ConditionalDenoiser = LossHookContext['denoiser'];

/**
 * What CBDM reads of the trainer's loss-hook context (the prediction e_y of the main loss keeps its graph: the
 * regularizer reuses it; labelKept defaults to all kept), plus its own settings.
 */
export interface CbdmLossInput extends Pick<LossHookContext, 'denoiser' | 'xt' | 'timesteps' | 'prediction' | 'gen'>, Partial<Pick<LossHookContext, 'labelKept'>> {
  numTimesteps: number;
  numClasses: number;
  /** Training label frequencies, used when labelDistribution is 'frequencies'. */
  classFrequencies?: ArrayLike<number>;
  options?: CbdmOptions;
}

/**
 * The CBDM term for one batch: draws y', runs the second forward pass e_y' = eps_theta(x_t, t, y') and returns
 * `cbdmRegularizer` with w_t = tau t / T, or null when no sample has a label or tau = 0 (no draw and no second
 * forward then: the term is identically zero, and skipping it keeps the generators where the baseline has them).
 */
export function cbdmLoss(input: CbdmLossInput): Tensor | null {
  const { tau = 1, gamma = 0.25, labelDistribution = 'frequencies' } = input.options ?? {};
  if (!(Number.isFinite(tau) && tau >= 0)) throw new RangeError(`cbdmLoss: tau must be a finite number >= 0, got ${tau}`);
  if (!(Number.isFinite(gamma) && gamma >= 0)) throw new RangeError(`cbdmLoss: gamma must be a finite number >= 0, got ${gamma}`);
  if (labelDistribution !== 'frequencies' && labelDistribution !== 'uniform') throw new RangeError(`cbdmLoss: labelDistribution must be 'frequencies' or 'uniform', got '${String(labelDistribution)}'`);
  if (tau === 0) return null;
  const B = input.xt.shape[0]!;
  const kept = input.labelKept ? Array.from(input.labelKept, Boolean) : new Array<boolean>(B).fill(true);
  if (kept.length !== B) throw new RangeError(`cbdmLoss: labelKept has ${kept.length} entries, expected ${B}`);
  if (!kept.some((k) => k)) return null;
  if (labelDistribution === 'frequencies' && !input.classFrequencies) throw new RangeError("cbdmLoss: labelDistribution 'frequencies' needs classFrequencies");
  const otherLabels = drawCbdmLabels(B, input.numClasses, input.gen, labelDistribution === 'frequencies' ? input.classFrequencies : undefined);
  const weights = cbdmTimeWeights(input.timesteps.toTypedArray(), input.numTimesteps, tau).map((w, i) => (kept[i] ? w : 0));
  const otherPrediction = input.denoiser(input.xt, input.timesteps, fromTypedArray(otherLabels, [B]));
  return cbdmRegularizer(input.prediction, otherPrediction, weights, gamma);
}
