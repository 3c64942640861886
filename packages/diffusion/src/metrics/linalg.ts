/**
 * Small dense linear algebra in float64 for the generative metrics: feature matrices, mean and covariance,
 * a symmetric eigendecomposition and the square root of a positive semi-definite matrix.
 *
 * Everything works on plain row-major `Float64Array`s (features `[N, D]`, matrices `[D, D]`) so the metrics do
 * not depend on the tensor engine or on the feature network. D is small here (<= a few hundred), so the cubic
 * algorithms are cheap and we can afford the most accurate ones (cyclic Jacobi rather than QR iterations).
 */

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

  // Upper triangle of Xc^T Xc, one centred row at a time.
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) row[k] = x[i * d + k]! - mean[k]!;
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      if (ra === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b]! += ra * row[b]!;
    }
  }
  const scale = 1 / (n - 1);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
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
  readonly vectors: Float64Array;
  readonly sweeps: number;
}

/**
 * Eigendecomposition of a real symmetric matrix by the cyclic Jacobi method: sweep over all off-diagonal pairs
 * (p, q), zeroing each with a plane rotation A <- J^T A J, until the off-diagonal mass is negligible.
 *
 * Why Jacobi: it is simple, converges quadratically, and computes small eigenvalues to high relative accuracy,
 * which is what the trace of a matrix square root is sensitive to. Cost ~ 6 n^3 per sweep and typically 6-10
 * sweeps: milliseconds for the feature dimensions used here (n <= 256). The input is not modified.
 */
export function symmetricEigen(matrix: Float64Array, n: number, opts: { maxSweeps?: number } = {}): SymmetricEigen {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigen: buffer of length ${matrix.length} is not [${n}, ${n}]`);
  const a = Float64Array.from(matrix);
  let frob2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = a[i * n + j]!;
      if (!Number.isFinite(v)) throw new RangeError(`symmetricEigen: entry [${i}, ${j}] is ${v}; the matrix must be finite`);
      const w = a[j * n + i]!;
      if (Math.abs(v - w) > 1e-9 * (Math.abs(v) + Math.abs(w)) + 1e-300) {
        throw new RangeError(`symmetricEigen: matrix is not symmetric: [${i}, ${j}] = ${v} but [${j}, ${i}] = ${w}`);
      }
      frob2 += v * v;
    }
  }
  // Use the exact average of both triangles, so that the rotations below see a symmetric matrix.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j]! + a[j * n + i]!);

  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const maxSweeps = opts.maxSweeps ?? 60;
  // Stop once the off-diagonal Frobenius norm is at rounding level of the whole matrix.
  const tol2 = (1e-15 * 1e-15) * frob2;
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

  // Sort ascending, permuting eigenvector columns alongside.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i]! - a[j * n + j]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src]!;
  });
  return { values, vectors, sweeps };
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
