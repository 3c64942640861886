/**
 * Small dense linear algebra in float64 for the generative metrics: feature matrices, mean and covariance,
 * a symmetric eigendecomposition and the square root of a positive semi-definite matrix.
 *
 * Everything works on plain row-major `Float64Array`s (features `[N, D]`, matrices `[D, D]`) so the metrics do
 * not depend on the tensor engine or on the feature network. D is small here (<= a few hundred), so the cubic
 * algorithms take milliseconds.
 */

import { gramTile } from './gram.js';

/** A matrix of features: `rows` samples of dimension `cols`, row-major. Float32 input is read as float64. */
export interface FeatureMatrix {
  readonly data: Float64Array | Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** Wraps and validates a row-major feature buffer; `what` names the caller in error messages. */
export function featureMatrix(data: Float64Array | Float32Array, rows: number, cols: number, what = 'featureMatrix'): FeatureMatrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 1) {
    throw new RangeError(`${what}: need integer rows >= 0 and cols >= 1, got rows=${rows}, cols=${cols}`);
  }
  if (data.length !== rows * cols) {
    throw new RangeError(`${what}: buffer of length ${data.length} does not hold [${rows}, ${cols}] = ${rows * cols} values`);
  }
  return { data, rows, cols };
}

/** Checks that a feature matrix holds only finite numbers (a NaN feature would silently poison every metric). */
export function assertFinite(f: FeatureMatrix, what: string): void {
  const d = f.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      throw new RangeError(`${what}: feature [${Math.floor(i / f.cols)}, ${i % f.cols}] is ${d[i]}; features must be finite`);
    }
  }
}

/** Checks two feature sets have the same dimension, naming both in the error. */
export function assertSameDim(a: FeatureMatrix, b: FeatureMatrix, what: string, names: [string, string] = ['first', 'second']): void {
  if (a.cols !== b.cols) {
    throw new RangeError(`${what}: feature dimensions differ: ${names[0]} set is [${a.rows}, ${a.cols}], ${names[1]} set is [${b.rows}, ${b.cols}]; both need the same D`);
  }
}

/** Selects rows of a feature matrix (copy, float64). */
export function selectRows(f: FeatureMatrix, rows: ArrayLike<number>): FeatureMatrix {
  const d = f.cols;
  const out = new Float64Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= f.rows) throw new RangeError(`selectRows: row index ${r} out of range [0, ${f.rows})`);
    for (let k = 0; k < d; k++) out[i * d + k] = f.data[r * d + k]!;
  }
  return { data: out, rows: rows.length, cols: d };
}

/** The sample mean and the unbiased sample covariance (divided by N - 1, like `numpy.cov`). */
export interface GaussianStats {
  readonly mean: Float64Array;
  /** `[D, D]` row-major, symmetric. */
  readonly cov: Float64Array;
  readonly dim: number;
  /** Number of samples the statistics came from. */
  readonly count: number;
}

/**
 * Mean and covariance of features `[N, D]` in two passes (centre first, then accumulate), which keeps the
 * covariance accurate when the mean is large compared with the spread. Needs N >= 2.
 */
export function meanAndCovariance(f: FeatureMatrix, what = 'meanAndCovariance'): GaussianStats {
  const n = f.rows;
  const d = f.cols;
  if (n < 2) throw new RangeError(`${what}: need at least 2 samples to estimate a covariance, got [${n}, ${d}]`);
  const x = f.data;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k]! += x[i * d + k]!;
  for (let k = 0; k < d; k++) mean[k]! /= n;

  // Xc^T Xc as the Gram matrix of the columns of the centred features (register-blocked dot products over N).
  const xt = new Float64Array(d * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) xt[k * n + i] = x[i * d + k]! - mean[k]!;
  const cov = new Float64Array(d * d);
  gramTile(xt, 0, d, xt, 0, d, n, cov);
  const scale = 1 / (n - 1);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      // Both triangles from the same entry, so the result is exactly symmetric.
      const v = cov[a * d + b]! * scale;
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov, dim: d, count: n };
}

/** `A B` for square `[n, n]` row-major matrices. */
export function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[oi + k]!;
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) out[oi + j]! += aik * b[bk + j]!;
    }
  }
  return out;
}

export function trace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i]!;
  return t;
}

/** Eigenvalues (ascending) and eigenvectors (columns of `vectors`, row-major `[n, n]`) of a symmetric matrix. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  /** Empty when only eigenvalues were requested. */
  readonly vectors: Float64Array;
}

export interface EigenOptions {
  /** 'ql' (default): Householder tridiagonalisation + implicit QL, ~10x faster; 'jacobi': cyclic Jacobi. */
  method?: 'ql' | 'jacobi';
  /** Compute eigenvectors (default true); eigenvalues alone are O(n^2) after the reduction with 'ql'. */
  vectors?: boolean;
}

/**
 * Eigendecomposition of a real symmetric matrix. Both methods are backward stable: eigenvalues are exact for a
 * matrix within ~1e-16 ||A|| of the input. The input is validated (finite, symmetric) and not modified.
 */
export function symmetricEigen(matrix: Float64Array, n: number, opts: EigenOptions = {}): SymmetricEigen {
  const a = symmetricCopy(matrix, n);
  const wantVectors = opts.vectors ?? true;
  const { values, vectors } = opts.method === 'jacobi' ? jacobiEigen(a, n) : tridiagonalQlEigen(a, n, wantVectors);
  // Sort ascending, permuting eigenvector columns alongside.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i]! - values[j]!);
  const sorted = Float64Array.from(order, (i) => values[i]!);
  if (!wantVectors) return { values: sorted, vectors: new Float64Array(0) };
  const v = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) v[k * n + dst] = vectors[k * n + src]!;
  });
  return { values: sorted, vectors: v };
}

/** A validated copy of a symmetric matrix with both triangles set to their exact average. */
function symmetricCopy(matrix: Float64Array, n: number): Float64Array {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigen: buffer of length ${matrix.length} is not [${n}, ${n}]`);
  const a = Float64Array.from(matrix);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = a[i * n + j]!;
      if (!Number.isFinite(v)) throw new RangeError(`symmetricEigen: entry [${i}, ${j}] is ${v}; the matrix must be finite`);
      const w = a[j * n + i]!;
      if (Math.abs(v - w) > 1e-9 * (Math.abs(v) + Math.abs(w)) + 1e-300) {
        throw new RangeError(`symmetricEigen: matrix is not symmetric: [${i}, ${j}] = ${v} but [${j}, ${i}] = ${w}`);
      }
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j]! + a[j * n + i]!);
  return a;
}

/**
 * Householder reduction to tridiagonal form, A = Q T Q^T, then the implicit QL algorithm with Wilkinson-type
 * shifts on T, accumulating the plane rotations into Q (so Q's columns end as eigenvectors of A).
 * Reduction step k: with x = A[k+1.., k], v = unit(x - alpha e1), alpha = -sign(x0) ||x||, H = I - 2 v v^T,
 * H A H = A - 2 (v w^T + w v^T) where p = A v, w = p - (v . p) v.
 */
function tridiagonalQlEigen(a: Float64Array, n: number, wantVectors: boolean): { values: Float64Array; vectors: Float64Array } {
  const q = new Float64Array(wantVectors ? n * n : 0);
  if (wantVectors) for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) norm2 += a[i * n + k]! * a[i * n + k]!;
    const x0 = a[(k + 1) * n + k]!;
    const tail2 = norm2 - x0 * x0;
    if (tail2 === 0) continue; // already tridiagonal in this column
    const alpha = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    v.fill(0);
    v[k + 1] = x0 - alpha;
    for (let i = k + 2; i < n; i++) v[i] = a[i * n + k]!;
    const vnorm = Math.sqrt(v[k + 1]! * v[k + 1]! + tail2);
    for (let i = k + 1; i < n; i++) v[i]! /= vnorm;
    // p = A v over the trailing block (rows/cols k..n-1; v is 0 at k).
    let kdot = 0;
    for (let i = k; i < n; i++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[i * n + j]! * v[j]!;
      p[i] = s;
      kdot += v[i]! * s;
    }
    for (let i = k; i < n; i++) p[i] = p[i]! - kdot * v[i]!; // w
    for (let i = k; i < n; i++) {
      const vi = v[i]!;
      const wi = p[i]!;
      for (let j = k; j < n; j++) a[i * n + j]! -= 2 * (vi * p[j]! + wi * v[j]!);
    }
    if (wantVectors) {
      // Q <- Q H: subtract 2 (Q v) v^T.
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let j = k + 1; j < n; j++) s += q[r * n + j]! * v[j]!;
        if (s === 0) continue;
        s *= 2;
        for (let j = k + 1; j < n; j++) q[r * n + j]! -= s * v[j]!;
      }
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[i] couples i and i + 1; e[n - 1] = 0
  for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
  for (let i = 0; i + 1 < n; i++) e[i] = 0.5 * (a[(i + 1) * n + i]! + a[i * n + i + 1]!);

  // Off-diagonal elements below eps * ||T|| are negligible. A norm-wide (not local) test: with a local one,
  // blocks of zero eigenvalues (rank-deficient covariances) never look converged.
  let normT = 0;
  for (let i = 0; i < n; i++) normT = Math.max(normT, Math.abs(d[i]!) + Math.abs(e[i]!) + (i > 0 ? Math.abs(e[i - 1]!) : 0));
  const negligible = Number.EPSILON * normT;
  for (let l = 0; l < n; l++) {
    for (let iter = 0; ; iter++) {
      // Find the first negligible off-diagonal element at or after l: T splits there.
      let m = l;
      for (; m < n - 1; m++) if (Math.abs(e[m]!) <= negligible) break;
      if (m === l) break;
      if (iter === 60) throw new Error(`symmetricEigen: QL did not converge for eigenvalue ${l} (n=${n})`);
      // Shift from the leading 2x2 block's eigenvalue closer to d[l].
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let shiftAcc = 0;
      let i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Recover from underflow: deflate and restart this eigenvalue.
          d[i + 1]! -= shiftAcc;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - shiftAcc;
        r = (d[i]! - g) * s + 2 * c * b;
        shiftAcc = s * r;
        d[i + 1] = g + shiftAcc;
        g = c * r - b;
        if (wantVectors) {
          for (let k = 0; k < n; k++) {
            const zk1 = q[k * n + i + 1]!;
            const zk = q[k * n + i]!;
            q[k * n + i + 1] = s * zk + c * zk1;
            q[k * n + i] = c * zk - s * zk1;
          }
        }
      }
      if (underflow) continue;
      d[l]! -= shiftAcc;
      e[l] = g;
      e[m] = 0;
    }
  }
  return { values: d, vectors: q };
}

/**
 * Cyclic Jacobi: sweep over all off-diagonal pairs (p, q), zeroing each with a plane rotation A <- J^T A J, until
 * the off-diagonal mass is at rounding level. Slower (~6 n^3 per sweep, 6-10 sweeps) but simple and very accurate:
 * kept as an independent cross-check of the QL path.
 */
function jacobiEigen(a: Float64Array, n: number, maxSweeps = 60): { values: Float64Array; vectors: Float64Array } {
  let frob2 = 0;
  for (let i = 0; i < n * n; i++) frob2 += a[i]! * a[i]!;
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const tol2 = 1e-15 * 1e-15 * frob2;
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    let off2 = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off2 += a[p * n + q]! * a[p * n + q]!;
    if (off2 <= tol2 || off2 === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle phi with cot(2 phi) = (aqq - app) / (2 apq); t = tan(phi), the smaller root.
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- A J (columns p, q), then A <- J^T A (rows p, q), V <- V J.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        const rp = p * n;
        const rq = q * n;
        for (let k = 0; k < n; k++) {
          const apk = a[rp + k]!;
          const aqk = a[rq + k]!;
          a[rp + k] = c * apk - s * aqk;
          a[rq + k] = s * apk + c * aqk;
        }
        a[rp + q] = 0;
        a[rq + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  if (sweeps === maxSweeps) throw new Error(`symmetricEigen: Jacobi did not converge in ${maxSweeps} sweeps (n=${n})`);
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: v };
}

/**
 * The principal square root of a symmetric positive semi-definite matrix, V sqrt(max(L, 0)) V^T.
 * Eigenvalues that rounding pushed slightly below zero are clamped to zero.
 */
export function sqrtPsd(matrix: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const root = new Float64Array(n * n);
  for (let e = 0; e < n; e++) {
    const s = Math.sqrt(Math.max(values[e]!, 0));
    if (s === 0) continue;
    for (let i = 0; i < n; i++) {
      const vis = vectors[i * n + e]! * s;
      if (vis === 0) continue;
      for (let j = 0; j < n; j++) root[i * n + j]! += vis * vectors[j * n + e]!;
    }
  }
  // Symmetrize the rounding error away.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) root[i * n + j] = root[j * n + i] = 0.5 * (root[i * n + j]! + root[j * n + i]!);
  return root;
}
