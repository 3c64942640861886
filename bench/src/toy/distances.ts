/** Distances between small point clouds, for the 2-D toy experiment. */
import { Generator } from '@oclt/tensor';

/**
 * Sliced 1-Wasserstein distance between two point sets [N, D] (row-major): the mean over `numProjections` random unit
 * directions of the 1-D Wasserstein distance of the projections. Unequal sizes are compared on a common grid of
 * quantiles. Seeded, so the same inputs give the same value.
 */
export function slicedWasserstein(a: ArrayLike<number>, b: ArrayLike<number>, dim: number, numProjections = 256, seed = 0): number {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`slicedWasserstein: dim must be a positive integer, got ${dim}`);
  if (a.length % dim !== 0 || b.length % dim !== 0) throw new RangeError(`slicedWasserstein: point arrays of length ${a.length} and ${b.length} are not multiples of dim ${dim}`);
  const na = a.length / dim;
  const nb = b.length / dim;
  if (na === 0 || nb === 0) throw new RangeError('slicedWasserstein: both point sets must be non-empty');
  const gen = new Generator(seed);
  const pa = new Float64Array(na);
  const pb = new Float64Array(nb);
  const dir = new Float64Array(dim);
  const grid = Math.max(na, nb);
  let total = 0;
  for (let p = 0; p < numProjections; p++) {
    gen.fillNormal(dir);
    const norm = Math.hypot(...dir);
    for (let i = 0; i < na; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += a[i * dim + d]! * dir[d]!;
      pa[i] = s / norm;
    }
    for (let i = 0; i < nb; i++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += b[i * dim + d]! * dir[d]!;
      pb[i] = s / norm;
    }
    pa.sort();
    pb.sort();
    // W1 of two empirical distributions = integral over u of |F^-1(u) - G^-1(u)|, on a midpoint grid.
    let w = 0;
    for (let k = 0; k < grid; k++) {
      const u = (k + 0.5) / grid;
      w += Math.abs(pa[Math.floor(u * na)]! - pb[Math.floor(u * nb)]!);
    }
    total += w / grid;
  }
  return total / numProjections;
}

/** The share of points nearest to each of `means` (points [N, D], means as D-vectors). */
export function nearestMeanShares(points: ArrayLike<number>, dim: number, means: readonly (readonly number[])[]): number[] {
  const n = points.length / dim;
  const counts = new Array<number>(means.length).fill(0);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    means.forEach((m, k) => {
      let d2 = 0;
      for (let d = 0; d < dim; d++) d2 += (points[i * dim + d]! - m[d]!) ** 2;
      if (d2 < bestD) [best, bestD] = [k, d2];
    });
    counts[best]!++;
  }
  return counts.map((c) => c / Math.max(n, 1));
}
