/**
 * Inception-style score (Salimans et al. 2016) from class probabilities p(y|x) of a classifier — here the
 * project's Fashion-MNIST feature network, so the numbers are comparable only with other scores from that network:
 *
 *   IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = mean of p(y|x) over the split
 *
 * The N rows are cut into `splits` = 10 consecutive parts of floor(N / splits) rows (a remainder is dropped), as
 * in the original implementation; we report the mean and the population std of the per-split scores; 0 log 0 = 0.
 * The rows are first shuffled with a seeded generator (as torch-fidelity does): class-conditional samples are
 * often stored class by class, and unshuffled splits would then each hold one class and score ~1.
 * `shuffle: false` gives the original, order-dependent splits.
 */
import { Generator } from '@oclt/tensor';

export interface InceptionScoreResult {
  readonly mean: number;
  readonly std: number;
  readonly splitScores: Float64Array;
}

/** Probabilities `[N, C]` row-major (rows must be non-negative and sum to 1 within 1e-3). */
export function inceptionScore(
  probs: Float64Array | Float32Array, n: number, numClasses: number,
  opts: { splits?: number; shuffle?: boolean; generator?: Generator } = {},
): InceptionScoreResult {
  const splits = opts.splits ?? 10;
  if (probs.length !== n * numClasses) throw new RangeError(`inceptionScore: buffer of length ${probs.length} does not hold [${n}, ${numClasses}] probabilities`);
  if (!Number.isInteger(splits) || splits < 1) throw new RangeError(`inceptionScore: splits must be a positive integer, got ${splits}`);
  if (n < splits) throw new RangeError(`inceptionScore: need at least one sample per split: got N=${n} for ${splits} splits`);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < numClasses; c++) {
      const p = probs[i * numClasses + c]!;
      if (!(p >= 0)) throw new RangeError(`inceptionScore: probability [${i}, ${c}] is ${p}; expected values in [0, 1]`);
      s += p;
    }
    if (Math.abs(s - 1) > 1e-3) throw new RangeError(`inceptionScore: row ${i} sums to ${s}; expected softmax probabilities summing to 1`);
  }
  const order = opts.shuffle === false ? Int32Array.from({ length: n }, (_, i) => i) : (opts.generator ?? new Generator(0)).permutation(n);
  const part = Math.floor(n / splits);
  const splitScores = new Float64Array(splits);
  const marginal = new Float64Array(numClasses);
  for (let k = 0; k < splits; k++) {
    const r0 = k * part;
    marginal.fill(0);
    for (let r = r0; r < r0 + part; r++) for (let c = 0; c < numClasses; c++) marginal[c]! += probs[order[r]! * numClasses + c]!;
    for (let c = 0; c < numClasses; c++) marginal[c]! /= part;
    let kl = 0;
    for (let r = r0; r < r0 + part; r++) {
      const i = order[r]!;
      for (let c = 0; c < numClasses; c++) {
        const p = probs[i * numClasses + c]!;
        if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c]!));
      }
    }
    splitScores[k] = Math.exp(kl / part);
  }
  let mean = 0;
  for (const s of splitScores) mean += s;
  mean /= splits;
  let v2 = 0;
  for (const s of splitScores) v2 += (s - mean) * (s - mean);
  return { mean, std: Math.sqrt(v2 / splits), splitScores };
}
