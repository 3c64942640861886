/**
 * Pairwise computations over feature sets, streamed tile by tile so that 10,000 x 10,000 Gram matrices are never
 * held in memory: k-nearest-neighbour radii and manifold coverage (precision/recall) and the KID subset sums
 * all come from the same dot products, so one pass over each of real-real, generated-generated and
 * generated-real serves them all.
 *
 * Squared distances are computed as |a|^2 + |b|^2 - 2 a.b, clamped at 0, like the reference implementation of
 * improved precision and recall.
 */
import { gramTile } from './gram.js';
import { type FeatureMatrix } from './linalg.js';
import { type KidResult, type KidSubset, kidKernel, summarizeSubsets } from './kid.js';

/** Rows per tile on each side: a 128 x 128 tile of D=128 features keeps both panels (256 KiB) in L2. */
const TILE = 128;

export function toFloat64(f: FeatureMatrix): Float64Array {
  return f.data instanceof Float64Array ? f.data : Float64Array.from(f.data);
}

export function squaredNorms(x: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += x[i * d + k]! * x[i * d + k]!;
    out[i] = s;
  }
  return out;
}

/**
 * Visits the Gram matrix of rows of `a` against rows of `b` tile by tile. With `symmetric` (a and b the same
 * set) only tiles with j0 >= i0 are visited: the visitor mirrors off-diagonal tiles itself.
 */
function forEachGramTile(
  a: Float64Array, nA: number, b: Float64Array, nB: number, d: number, symmetric: boolean,
  visit: (i0: number, rows: number, j0: number, cols: number, gram: Float64Array) => void,
): void {
  const buf = new Float64Array(TILE * TILE);
  for (let i0 = 0; i0 < nA; i0 += TILE) {
    const rows = Math.min(TILE, nA - i0);
    for (let j0 = symmetric ? i0 : 0; j0 < nB; j0 += TILE) {
      const cols = Math.min(TILE, nB - j0);
      gramTile(a, i0, rows, b, j0, cols, d, buf);
      visit(i0, rows, j0, cols, buf);
    }
  }
}

/** Keeps the `size` smallest values per row, ascending, in `best[row * size ...]`. */
function insertSmallest(best: Float64Array, row: number, size: number, v: number): void {
  const base = row * size;
  let p = base + size - 1;
  if (!(v < best[p]!)) return;
  while (p > base && best[p - 1]! > v) {
    best[p] = best[p - 1]!;
    p--;
  }
  best[p] = v;
}

/** KID subset bookkeeping for one feature set: sorted members per subset and, per row, the subsets it is in. */
interface SubsetIndex {
  sorted: Int32Array[];
  /** CSR: subsets of row i are ids[start[i] .. start[i + 1]). */
  start: Int32Array;
  ids: Int32Array;
}

function indexSubsets(members: readonly Int32Array[], n: number): SubsetIndex {
  const sorted = members.map((m) => Int32Array.from(m).sort());
  const count = new Int32Array(n + 1);
  for (const m of sorted) for (const i of m) count[i + 1]!++;
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const fill = count.slice(0, n);
  const ids = new Int32Array(count[n]!);
  sorted.forEach((m, s) => {
    for (const i of m) ids[fill[i]!++] = s;
  });
  return { sorted, start: count, ids };
}

/** First position in ascending `xs` whose value is >= v. */
function lowerBound(xs: Int32Array, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Adds kernel values of tile entries (i, j) with i in subset s of `rowsIdx` and j in subset s of `colsIdx` to
 * sums[s]. With `strictUpper`, only pairs with j > i count (within-set sums over unordered pairs).
 */
function accumulateKid(
  gram: Float64Array, i0: number, rows: number, j0: number, cols: number, d: number,
  rowsIdx: SubsetIndex, colsIdx: SubsetIndex, strictUpper: boolean, sums: Float64Array,
): void {
  const numSubsets = colsIdx.sorted.length;
  const lo = new Int32Array(numSubsets);
  const hi = new Int32Array(numSubsets);
  for (let s = 0; s < numSubsets; s++) {
    lo[s] = lowerBound(colsIdx.sorted[s]!, j0);
    hi[s] = lowerBound(colsIdx.sorted[s]!, j0 + cols);
  }
  for (let r = 0; r < rows; r++) {
    const i = i0 + r;
    for (let p = rowsIdx.start[i]!; p < rowsIdx.start[i + 1]!; p++) {
      const s = rowsIdx.ids[p]!;
      const members = colsIdx.sorted[s]!;
      let acc = 0;
      for (let q = lo[s]!; q < hi[s]!; q++) {
        const j = members[q]!;
        if (strictUpper && j <= i) continue;
        acc += kidKernel(gram[r * cols + (j - j0)]!, d);
      }
      sums[s]! += acc;
    }
  }
}

/** One set's side of the computation: squared k-NN radii and, optionally, the within-set KID sums. */
function selfPass(x: Float64Array, n: number, d: number, norms: Float64Array, k: number, kidIdx: SubsetIndex | null, kidSums: Float64Array | null): Float64Array {
  const size = k + 1; // the k + 1 smallest distances including the row itself (distance 0)
  const best = new Float64Array(n * size).fill(Infinity);
  forEachGramTile(x, n, x, n, d, true, (i0, rows, j0, cols, gram) => {
    const diagonal = i0 === j0;
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const ni = norms[i]!;
      for (let c = 0; c < cols; c++) {
        const j = j0 + c;
        const d2 = Math.max(ni + norms[j]! - 2 * gram[r * cols + c]!, 0);
        insertSmallest(best, i, size, d2);
        if (!diagonal) insertSmallest(best, j, size, d2);
      }
    }
    if (kidIdx && kidSums) accumulateKid(gram, i0, rows, j0, cols, d, kidIdx, kidIdx, true, kidSums);
  });
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) radii[i] = best[i * size + k]!;
  return radii;
}

export interface PairwiseResult {
  readonly precision: number;
  readonly recall: number;
  /** Squared k-NN radii of the real and generated sets. */
  readonly radiiReal: Float64Array;
  readonly radiiGenerated: Float64Array;
  readonly kid: KidResult | null;
}

/**
 * Improved precision and recall (Kynkaanniemi et al. 2019) and, when subsets are given, KID, in one streamed pass.
 *
 * - Radius of a sample: squared distance to its k-th nearest neighbour in its own set. Self-distance rule (as in
 *   the reference code): distances to the whole set are sorted *including the sample itself* (distance 0, at
 *   position 0) and position k is taken, i.e. the k-th neighbour other than itself; an exact duplicate counts as a
 *   neighbour at distance 0.
 * - precision = fraction of generated samples inside at least one real sample's ball (d^2 <= radius^2);
 *   recall = fraction of real samples inside at least one generated sample's ball.
 */
export function pairwiseMetrics(generated: FeatureMatrix, real: FeatureMatrix, opts: { k?: number; kidSubsets?: readonly KidSubset[] | null } = {}): PairwiseResult {
  const k = opts.k ?? 3;
  const d = real.cols;
  if (generated.cols !== d) throw new RangeError(`pairwiseMetrics: feature dimensions differ: generated [${generated.rows}, ${generated.cols}], real [${real.rows}, ${real.cols}]`);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`precisionRecall: k must be a positive integer, got ${k}`);
  if (real.rows <= k || generated.rows <= k) {
    throw new RangeError(`precisionRecall: each set needs more than k=${k} samples to have k nearest neighbours, got real ${real.rows} and generated ${generated.rows}`);
  }
  const g = toFloat64(generated);
  const r = toFloat64(real);
  const nG = generated.rows;
  const nR = real.rows;
  const normsG = squaredNorms(g, nG, d);
  const normsR = squaredNorms(r, nR, d);

  const subsets = opts.kidSubsets ?? null;
  let idxG: SubsetIndex | null = null;
  let idxR: SubsetIndex | null = null;
  let kxx: Float64Array | null = null;
  let kyy: Float64Array | null = null;
  let kxy: Float64Array | null = null;
  if (subsets) {
    if (subsets.length === 0) throw new RangeError('kid: need at least one subset');
    idxG = indexSubsets(subsets.map((s) => s.x), nG);
    idxR = indexSubsets(subsets.map((s) => s.y), nR);
    kxx = new Float64Array(subsets.length);
    kyy = new Float64Array(subsets.length);
    kxy = new Float64Array(subsets.length);
  }

  const radiiReal = selfPass(r, nR, d, normsR, k, idxR, kyy);
  const radiiGenerated = selfPass(g, nG, d, normsG, k, idxG, kxx);

  const genCovered = new Uint8Array(nG);
  const realCovered = new Uint8Array(nR);
  forEachGramTile(g, nG, r, nR, d, false, (i0, rows, j0, cols, gram) => {
    for (let a = 0; a < rows; a++) {
      const i = i0 + a;
      const ni = normsG[i]!;
      for (let c = 0; c < cols; c++) {
        const j = j0 + c;
        const d2 = Math.max(ni + normsR[j]! - 2 * gram[a * cols + c]!, 0);
        if (d2 <= radiiReal[j]!) genCovered[i] = 1;
        if (d2 <= radiiGenerated[i]!) realCovered[j] = 1;
      }
    }
    if (idxG && idxR && kxy) accumulateKid(gram, i0, rows, j0, cols, d, idxG, idxR, false, kxy);
  });
  let precision = 0;
  for (const v of genCovered) precision += v;
  let recall = 0;
  for (const v of realCovered) recall += v;

  let kid: KidResult | null = null;
  if (subsets && kxx && kyy && kxy) {
    const values = new Float64Array(subsets.length);
    subsets.forEach((s, i) => {
      const m = s.x.length;
      const n = s.y.length;
      values[i] = (2 * kxx[i]!) / (m * (m - 1)) + (2 * kyy[i]!) / (n * (n - 1)) - (2 * kxy[i]!) / (m * n);
    });
    kid = summarizeSubsets(values, subsets[0]!.x.length);
  }
  return { precision: precision / nG, recall: recall / nR, radiiReal, radiiGenerated, kid };
}

/** Improved precision and recall with k-NN balls (k = 3 by default). */
export function precisionRecall(generated: FeatureMatrix, real: FeatureMatrix, opts: { k?: number } = {}): { precision: number; recall: number } {
  const { precision, recall } = pairwiseMetrics(generated, real, { k: opts.k ?? 3 });
  return { precision, recall };
}
