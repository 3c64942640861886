/**
 * Synthetic 2-D data for toy work: Gaussian mixtures with class labels, the paper's Appendix J head/tail toy,
 * and the exact noise predictor of such a mixture (a closed form, useful as an oracle model). Browser-safe.
 */
import type { Generator } from '@oclt/tensor';
import { ArrayDataset } from './dataset.js';

export interface MixtureComponent {
  mean: readonly number[];
  /** Isotropic standard deviation of the component. */
  std: number;
  /** Number of samples drawn from this component; its class label is the component index. */
  count: number;
}

/** Draws `count` points from each isotropic Gaussian component; labels are component indices. */
export function gaussianMixtureDataset(components: readonly MixtureComponent[], rng: Generator): ArrayDataset {
  if (components.length === 0) throw new RangeError('gaussianMixtureDataset: needs at least one component');
  const dim = components[0]!.mean.length;
  components.forEach((c, k) => {
    if (c.mean.length !== dim) throw new RangeError(`gaussianMixtureDataset: component ${k} has a ${c.mean.length}-D mean, component 0 a ${dim}-D one`);
    if (!(c.std >= 0) || !Number.isInteger(c.count) || c.count < 0) throw new RangeError(`gaussianMixtureDataset: component ${k} needs std >= 0 and an integer count >= 0, got std=${c.std}, count=${c.count}`);
  });
  const n = components.reduce((a, c) => a + c.count, 0);
  const data = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  let row = 0;
  components.forEach((c, k) => {
    for (let i = 0; i < c.count; i++, row++) {
      for (let d = 0; d < dim; d++) data[row * dim + d] = c.mean[d]! + c.std * rng.normal();
      labels[row] = k;
    }
  });
  return new ArrayDataset(data, [dim], labels, components.length);
}

export interface AppendixJToyOptions {
  headCount?: number;
  tailCount?: number;
  headMean?: readonly [number, number];
  /** The paper's text lost the tail mean; a clearly separated default is used. */
  tailMean?: readonly [number, number];
  /** Per-coordinate variance (the paper: 0.2 I). */
  variance?: number;
}

/**
 * The paper's Appendix J toy: head class 0 ~ N((0, 4), 0.2 I) x 10,000 and tail class 1 ~ N((0, -4), 0.2 I) x 100
 * (imbalance 0.01).
 */
export function appendixJToy(rng: Generator, opts: AppendixJToyOptions = {}): ArrayDataset {
  const std = Math.sqrt(opts.variance ?? 0.2);
  return gaussianMixtureDataset(
    [
      { mean: opts.headMean ?? [0, 4], std, count: opts.headCount ?? 10_000 },
      { mean: opts.tailMean ?? [0, -4], std, count: opts.tailCount ?? 100 },
    ],
    rng,
  );
}

/**
 * The exact noise predictor E[eps | x_t] of a mixture of isotropic Gaussians sum_k w_k N(m_k, s_k^2 I) under the
 * forward process: x_t | k ~ N(sqrt(abar) m_k, v_k I) with v_k = abar s_k^2 + 1 - abar, and
 * E[eps | x_t, k] = sqrt(1 - abar) (x_t - sqrt(abar) m_k) / v_k, averaged with the posterior p(k | x_t).
 * `x` is [N, D] row-major; returns the same layout. Computed in float64.
 */
export function mixtureNoisePredictor(components: readonly { mean: readonly number[]; std: number; weight: number }[], abar: number, x: ArrayLike<number>): Float64Array {
  const D = components[0]!.mean.length;
  const n = x.length / D;
  const out = new Float64Array(x.length);
  const sa = Math.sqrt(abar);
  const logits = new Float64Array(components.length);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    components.forEach((c, k) => {
      const v = abar * c.std * c.std + 1 - abar;
      let d2 = 0;
      for (let d = 0; d < D; d++) d2 += (x[i * D + d]! - sa * c.mean[d]!) ** 2;
      logits[k] = Math.log(c.weight) - (D / 2) * Math.log(v) - d2 / (2 * v);
      mx = Math.max(mx, logits[k]!);
    });
    let z = 0;
    components.forEach((_, k) => (z += Math.exp(logits[k]! - mx)));
    components.forEach((c, k) => {
      const p = Math.exp(logits[k]! - mx) / z;
      const v = abar * c.std * c.std + 1 - abar;
      for (let d = 0; d < D; d++) out[i * D + d] += (p * Math.sqrt(1 - abar) * (x[i * D + d]! - sa * c.mean[d]!)) / v;
    });
  }
  return out;
}
