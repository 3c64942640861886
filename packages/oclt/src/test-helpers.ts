/**
 * Shared helpers for this package's tests (not exported from the package): an independent linear-beta DDPM
 * schedule, a noisy batch made the textbook way, and a float64 brute-force reference of the Eq. 8 kernel.
 */
import { Generator, Tensor, randn, fromTypedArray } from '@oclt/tensor';

/** abar_t = prod_{s<=t} (1 - beta_s), linear betas 1e-4 .. 0.02 over T steps (DDPM), in float64. */
export function linearAlphasCumprod(T = 1000, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  const abar = new Float64Array(T);
  let running = 1;
  for (let t = 0; t < T; t++) {
    const beta = T === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (T - 1);
    running *= 1 - beta;
    abar[t] = running;
  }
  return abar;
}

export interface NoisyBatch {
  x0: Tensor;
  xt: Tensor;
  noise: Tensor;
  timesteps: Int32Array;
}

/** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for given clean samples and times (float32 like training). */
export function makeNoisyBatch(x0: Tensor, timesteps: Int32Array, alphasCumprod: Float64Array, gen: Generator): NoisyBatch {
  const noise = randn(x0.shape, gen);
  const B = x0.shape[0]!;
  const D = x0.size / B;
  const a = x0.toTypedArray();
  const e = noise.toTypedArray();
  const out = new Float32Array(a.length);
  for (let i = 0; i < B; i++) {
    const abar = alphasCumprod[timesteps[i]!]!;
    for (let k = 0; k < D; k++) out[i * D + k] = Math.sqrt(abar) * a[i * D + k]! + Math.sqrt(1 - abar) * e[i * D + k]!;
  }
  return { x0, xt: fromTypedArray(out, x0.shape), noise, timesteps };
}

/**
 * Brute-force float64 reference of the Eq. 8 (Eq. 7 with logPrior) kernel: explicit loops over i, j and the
 * D pixels of x_t,i - sqrt(abar_i) x0_j, no Gram-matrix identity. Returns logits and probabilities [B][B].
 */
export function bruteForceSelection(xt: ArrayLike<number>, x0: ArrayLike<number>, B: number, D: number, alphaBar: ArrayLike<number>, logPrior?: ArrayLike<number>): { logits: number[][]; probabilities: number[][] } {
  const logits: number[][] = [];
  const probabilities: number[][] = [];
  for (let i = 0; i < B; i++) {
    const row: number[] = [];
    for (let j = 0; j < B; j++) {
      let d2 = 0;
      for (let k = 0; k < D; k++) {
        const diff = xt[i * D + k]! - Math.sqrt(alphaBar[i]!) * x0[j * D + k]!;
        d2 += diff * diff;
      }
      row.push(-d2 / (2 * (1 - alphaBar[i]!)) + (logPrior ? logPrior[j]! : 0));
    }
    const max = Math.max(...row);
    const exps = row.map((l) => Math.exp(l - max));
    const total = exps.reduce((s, v) => s + v, 0);
    logits.push(row);
    probabilities.push(exps.map((v) => v / total));
  }
  return { logits, probabilities };
}

/** Exact two-point transfer strength: along u = (m_j - m_i)/d it is E_{z ~ N(0,1)} sigmoid(log(w_j/w_i) + z d/s - d^2/(2 s^2)). */
export function twoPointTransferStrength(wi: number, wj: number, d: number, s: number): number {
  // Simpson's rule on [-12, 12]: the integrand is smooth and the Gaussian tail beyond 12 is below 1e-32.
  const n = 4000;
  const h = 24 / n;
  let acc = 0;
  for (let k = 0; k <= n; k++) {
    const z = -12 + k * h;
    const a = Math.log(wj / wi) + (z * d) / s - (d * d) / (2 * s * s);
    const f = (Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI)) / (1 + Math.exp(-a));
    acc += f * (k === 0 || k === n ? 1 : k % 2 === 1 ? 4 : 2);
  }
  return (acc * h) / 3;
}
