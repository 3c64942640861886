/**
 * Kernel Inception Distance (Binkowski et al. 2018): the unbiased estimate of the squared maximum mean discrepancy
 * between two feature sets under the cubic polynomial kernel
 *
 *   k(x, y) = (x . y / D + 1)^3
 *
 *   MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1)) - 2 sum_{i, j} k(x_i, y_j) / (m n)
 *
 * Like the reference implementation (and torch-fidelity / clean-fid) we average it over random subsets:
 * `numSubsets` = 100 subsets of `subsetSize` = min(1000, N_x, N_y) rows from each set, each subset drawn without
 * replacement, independently, from a seeded generator. We report the mean and the (population, ddof = 0) standard
 * deviation over subsets. The unbiased estimate can be negative when the sets match; it is not clamped.
 */
import { Generator } from '@oclt/tensor';
import { type FeatureMatrix, assertFinite, assertSameDim } from './linalg.js';

export const KID_DEFAULT_SUBSETS = 100;
export const KID_DEFAULT_SUBSET_SIZE = 1000;

/** The cubic polynomial kernel of KID as a function of the dot product, for feature dimension `dim`. */
export function kidKernel(dot: number, dim: number): number {
  const v = dot / dim + 1;
  return v * v * v;
}

/** One KID subset: row indices into the first (x) and second (y) feature sets. */
export interface KidSubset {
  readonly x: Int32Array;
  readonly y: Int32Array;
}

export interface KidResult {
  readonly mean: number;
  readonly std: number;
  /** MMD^2_u of each subset. */
  readonly values: Float64Array;
  readonly subsetSize: number;
}

/** `count` distinct integers from [0, n), in draw order (partial Fisher-Yates). */
export function sampleWithoutReplacement(n: number, count: number, generator: Generator): Int32Array {
  if (count > n) throw new RangeError(`sampleWithoutReplacement: cannot draw ${count} distinct rows from ${n}`);
  const pool = new Int32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  for (let i = 0; i < count; i++) {
    const j = generator.integer(i, n);
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  return pool.slice(0, count);
}

export interface KidOptions {
  numSubsets?: number;
  /** Upper bound on the subset size; the size used is min(subsetSize, N_x, N_y). */
  subsetSize?: number;
  /** Seeded generator for the subsets (default: seed 0, so results are reproducible). */
  generator?: Generator;
}

/** Draws the KID subsets for sets of `nX` and `nY` rows. */
export function sampleKidSubsets(nX: number, nY: number, opts: KidOptions = {}): KidSubset[] {
  const numSubsets = opts.numSubsets ?? KID_DEFAULT_SUBSETS;
  const size = Math.min(opts.subsetSize ?? KID_DEFAULT_SUBSET_SIZE, nX, nY);
  if (!Number.isInteger(numSubsets) || numSubsets < 1) throw new RangeError(`kid: numSubsets must be a positive integer, got ${numSubsets}`);
  if (size < 2) throw new RangeError(`kid: need at least 2 samples in each set (the unbiased estimate divides by m (m - 1)), got ${nX} and ${nY}`);
  const generator = opts.generator ?? new Generator(0);
  const subsets: KidSubset[] = [];
  for (let s = 0; s < numSubsets; s++) subsets.push({ x: sampleWithoutReplacement(nX, size, generator), y: sampleWithoutReplacement(nY, size, generator) });
  return subsets;
}

function dotRows(a: FeatureMatrix, i: number, b: FeatureMatrix, j: number): number {
  const d = a.cols;
  const ai = i * d;
  const bj = j * d;
  let s = 0;
  for (let k = 0; k < d; k++) s += a.data[ai + k]! * b.data[bj + k]!;
  return s;
}

/** MMD^2_u between rows `ix` of x and rows `iy` of y (direct O((m + n)^2 D) evaluation). */
export function mmd2Unbiased(x: FeatureMatrix, y: FeatureMatrix, ix?: ArrayLike<number>, iy?: ArrayLike<number>): number {
  assertSameDim(x, y, 'mmd2Unbiased');
  const rx = ix ?? Int32Array.from({ length: x.rows }, (_, i) => i);
  const ry = iy ?? Int32Array.from({ length: y.rows }, (_, i) => i);
  const m = rx.length;
  const n = ry.length;
  if (m < 2 || n < 2) throw new RangeError(`mmd2Unbiased: need at least 2 rows in each set, got ${m} and ${n}`);
  const d = x.cols;
  let kxx = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) kxx += kidKernel(dotRows(x, rx[i]!, x, rx[j]!), d);
  let kyy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) kyy += kidKernel(dotRows(y, ry[i]!, y, ry[j]!), d);
  let kxy = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) kxy += kidKernel(dotRows(x, rx[i]!, y, ry[j]!), d);
  // Off-diagonal sums counted once above, hence the factor 2.
  return (2 * kxx) / (m * (m - 1)) + (2 * kyy) / (n * (n - 1)) - (2 * kxy) / (m * n);
}

/** Mean and population std of per-subset values. */
export function summarizeSubsets(values: Float64Array, subsetSize: number): KidResult {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let v2 = 0;
  for (const v of values) v2 += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(v2 / values.length), values, subsetSize };
}

/** KID over given subsets (direct evaluation per subset). */
export function kidFromSubsets(x: FeatureMatrix, y: FeatureMatrix, subsets: readonly KidSubset[]): KidResult {
  assertSameDim(x, y, 'kid', ['generated', 'reference']);
  if (subsets.length === 0) throw new RangeError('kid: need at least one subset');
  const values = new Float64Array(subsets.length);
  subsets.forEach((s, i) => (values[i] = mmd2Unbiased(x, y, s.x, s.y)));
  return summarizeSubsets(values, subsets[0]!.x.length);
}

/** KID between generated features x `[N_x, D]` and reference features y `[N_y, D]`. */
export function kid(x: FeatureMatrix, y: FeatureMatrix, opts: KidOptions = {}): KidResult {
  assertSameDim(x, y, 'kid', ['generated', 'reference']);
  assertFinite(x, 'kid');
  assertFinite(y, 'kid');
  return kidFromSubsets(x, y, sampleKidSubsets(x.rows, y.rows, opts));
}
