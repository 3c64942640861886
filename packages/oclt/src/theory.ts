/**
 * Closed forms from the paper's analysis, for tests, diagnostics and teaching. All in float64 on plain arrays.
 */

/**
 * Proposition 3.1 (Eq. 9) upper bound on the transfer strength between two Gaussian kernels
 * N_i = N(m_i, s^2 I), N_j = N(m_j, s^2 I) with weights w_i, w_j, for any reference set containing both:
 *   E_{x ~ N_i}[ w_j N_j(x) / sum_k w_k N_k(x) ] <= (1/2) sqrt(w_j / w_i) exp(-||m_i - m_j||^2 / (8 s^2)).
 * (sum_k >= w_i N_i + w_j N_j; ab/(a+b) <= sqrt(ab)/2; the Bhattacharyya integral of two equal-variance
 * Gaussians is exp(-d^2 / (8 s^2)).) With w = q(y)^beta it is the paper's statement up to its constant; the
 * product q(y_H) q(y_T) it carries is what batch re-sampling removes.
 */
export function transferStrengthBound(ownWeight: number, otherWeight: number, squaredDistance: number, variance: number): number {
  if (!(ownWeight > 0 && otherWeight > 0)) throw new RangeError(`transferStrengthBound: weights must be > 0, got ${ownWeight}, ${otherWeight}`);
  if (!(variance > 0) || !(squaredDistance >= 0)) throw new RangeError(`transferStrengthBound: need variance > 0 and squaredDistance >= 0, got ${variance}, ${squaredDistance}`);
  return 0.5 * Math.sqrt(otherWeight / ownWeight) * Math.exp(-squaredDistance / (8 * variance));
}

/**
 * Eq. 3-5: the score of the Gaussian-smoothed empirical distribution p(x) = (1/N) sum_j N(x; sqrt(abar) x0_j,
 * (1 - abar) I) at x, as the self-normalised average of per-sample scores:
 *   grad log p(x) = sum_j w_j (sqrt(abar) x0_j - x) / (1 - abar),  w = softmax_j(-||x - sqrt(abar) x0_j||^2 / (2(1 - abar))).
 * `points` is row-major [N, D]. Equivalently -sum_j w_j eps_j / sqrt(1 - abar), with eps_j the noise that would
 * take x0_j to x: the targets that Eq. 8 samples from.
 */
export function smoothedEmpiricalScore(x: ArrayLike<number>, points: ArrayLike<number>, alphaBar: number, logWeights?: ArrayLike<number>): Float64Array {
  const D = x.length;
  const N = points.length / D;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`smoothedEmpiricalScore: ${points.length} point coordinates do not form rows of ${D}`);
  const scale = Math.sqrt(alphaBar);
  const variance = 1 - alphaBar;
  const logits = new Float64Array(N);
  for (let j = 0; j < N; j++) {
    let d2 = 0;
    for (let k = 0; k < D; k++) d2 += (x[k]! - scale * points[j * D + k]!) ** 2;
    logits[j] = -d2 / (2 * variance) + (logWeights ? logWeights[j]! : 0);
  }
  const max = Math.max(...logits);
  let total = 0;
  for (let j = 0; j < N; j++) total += (logits[j] = Math.exp(logits[j]! - max));
  const score = new Float64Array(D);
  for (let j = 0; j < N; j++) for (let k = 0; k < D; k++) score[k]! += ((logits[j]! / total) * (scale * points[j * D + k]! - x[k]!)) / variance;
  return score;
}

/**
 * Proposition D.1: for L(e) = ||e - eps||^2 + tau_t sum_{y'} ||e - e_{y'}||^2 / |Y| with the other predictions
 * fixed, the minimiser is e* = (eps + tau_t mean_{y'} e_{y'}) / (1 + tau_t).
 */
export function cbdmOptimum(noise: ArrayLike<number>, otherPredictions: readonly ArrayLike<number>[], tau: number): Float64Array {
  if (otherPredictions.length === 0) throw new RangeError('cbdmOptimum: needs at least one other prediction');
  const D = noise.length;
  const out = new Float64Array(D);
  for (let k = 0; k < D; k++) {
    let mean = 0;
    for (const e of otherPredictions) mean += e[k]!;
    mean /= otherPredictions.length;
    out[k] = (noise[k]! + tau * mean) / (1 + tau);
  }
  return out;
}

/**
 * Proposition G.2 (Eq. 19): the kernel value of x_t under the selected clean sample z is at least
 * p_sel(z) p_t / (1 - p_sel(z)), with p_t the kernel value under the sample that produced x_t (same constant).
 * Returned in log space: log p_sel(z) + log p_t - log(1 - p_sel(z)).
 */
export function selectedSourceLogLikelihoodLowerBound(selectionProbability: number, ownLogLikelihood: number): number {
  if (!(selectionProbability > 0 && selectionProbability < 1)) throw new RangeError(`selectedSourceLogLikelihoodLowerBound: p_sel must be in (0, 1), got ${selectionProbability}`);
  return Math.log(selectionProbability) + ownLogLikelihood - Math.log1p(-selectionProbability);
}
