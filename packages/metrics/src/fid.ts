/**
 * Frechet distance between two Gaussians fitted to feature sets (FID, Heusel et al. 2017):
 *
 *   FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})
 *
 * pytorch-fid computes (S1 S2)^{1/2} with a general (Schur) matrix square root of the non-symmetric product and
 * discards a small imaginary part. Only its trace is needed, and S1 S2 is similar to the symmetric PSD matrix
 * M = S1^{1/2} S2 S1^{1/2} (S1 S2 = S1^{1/2} M S1^{-1/2} when S1 is invertible, and by continuity otherwise),
 * so tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i(M)). We use that symmetric eigen route in float64 (M is formed as
 * R^T S2 R with S1 = R R^T, R = V L^{1/2}, which has the same eigenvalues): it never produces complex numbers, and
 * rounding can only push eigenvalues of M slightly below zero, which we clamp.
 */
import { type FeatureMatrix, type GaussianStats, assertFinite, assertSameDim, matmulSquare, meanAndCovariance, symmetricEigen, trace } from './linalg.js';

export interface FrechetResult {
  /** The distance, clamped at 0 (rounding can make identical statistics give -1e-13). */
  readonly fid: number;
  /** ||mu1 - mu2||^2. */
  readonly meanTerm: number;
  /** tr(S1) + tr(S2) - 2 tr (S1 S2)^{1/2}. */
  readonly covTerm: number;
  /** The eps added to both diagonals (0 unless the first attempt was numerically unreliable). */
  readonly epsUsed: number;
}

/** tr (S1 S2)^{1/2} via the eigenvalues of S1^{1/2} S2 S1^{1/2}; `minRatio` reports the most negative eigenvalue relative to the largest. */
function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number): { value: number; minRatio: number } {
  // S1 = V L V^T; with R = V L^{1/2}, R^T S2 R has the eigenvalues of S1 S2 (and of S1^{1/2} S2 S1^{1/2}).
  const e1 = symmetricEigen(s1, d);
  const r = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) r[i * d + j] = e1.vectors[i * d + j]! * Math.sqrt(Math.max(e1.values[j]!, 0));
  const rt = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rt[j * d + i] = r[i * d + j]!;
  const m = matmulSquare(rt, matmulSquare(s2, r, d), d);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) m[i * d + j] = m[j * d + i] = 0.5 * (m[i * d + j]! + m[j * d + i]!);
  const { values } = symmetricEigen(m, d, { vectors: false });
  let value = 0;
  let maxEig = 0;
  for (const v of values) if (v > maxEig) maxEig = v;
  for (const v of values) value += Math.sqrt(Math.max(v, 0));
  return { value, minRatio: maxEig > 0 ? values[0]! / maxEig : 0 };
}

/**
 * FID between two Gaussian statistics (from `meanAndCovariance`).
 *
 * eps retry (as pytorch-fid does when its sqrtm fails): if M = S1^{1/2} S2 S1^{1/2} has an eigenvalue below
 * -1e-9 times its largest (far beyond float64 rounding, so an input covariance was not positive semi-definite),
 * the computation is repeated with eps * I added to both covariances, and `epsUsed` says so.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats, opts: { eps?: number } = {}): FrechetResult {
  const d = a.dim;
  if (b.dim !== d) throw new RangeError(`frechetDistance: feature dimensions differ: first statistics have D=${a.dim}, second D=${b.dim}`);
  if (a.mean.length !== d || b.mean.length !== d || a.cov.length !== d * d || b.cov.length !== d * d) {
    throw new RangeError(`frechetDistance: statistics must hold a mean of length D and a [D, D] covariance (D=${d})`);
  }
  const eps = opts.eps ?? 1e-6;
  let meanTerm = 0;
  for (let k = 0; k < d; k++) {
    const diff = a.mean[k]! - b.mean[k]!;
    meanTerm += diff * diff;
  }
  let s1 = a.cov;
  let s2 = b.cov;
  let epsUsed = 0;
  let tr = traceSqrtProduct(s1, s2, d);
  if (!Number.isFinite(tr.value) || tr.minRatio < -1e-9) {
    epsUsed = eps;
    s1 = Float64Array.from(s1);
    s2 = Float64Array.from(s2);
    for (let i = 0; i < d; i++) {
      s1[i * d + i]! += eps;
      s2[i * d + i]! += eps;
    }
    tr = traceSqrtProduct(s1, s2, d);
  }
  const covTerm = trace(s1, d) + trace(s2, d) - 2 * tr.value;
  const fid = meanTerm + covTerm;
  if (!Number.isFinite(fid)) throw new Error(`frechetDistance: result is ${fid}; are the statistics finite?`);
  return { fid: Math.max(fid, 0), meanTerm, covTerm, epsUsed };
}

/** FID between two feature sets `[N1, D]` and `[N2, D]` (each needs N >= 2; N < D is allowed: rank-deficient covariances are handled). */
export function fid(features1: FeatureMatrix, features2: FeatureMatrix, opts: { eps?: number } = {}): FrechetResult {
  assertSameDim(features1, features2, 'fid');
  assertFinite(features1, 'fid');
  assertFinite(features2, 'fid');
  return frechetDistance(meanAndCovariance(features1, 'fid (first set)'), meanAndCovariance(features2, 'fid (second set)'), opts);
}
