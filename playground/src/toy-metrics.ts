/**
 * The two numbers the playground shows live: the tail share (fraction of samples nearer the tail mean than the
 * head mean; the balanced target has 50%) and the sliced Wasserstein-1 distance between two 2-D point sets
 * (mean over fixed random directions of the 1-D Wasserstein distance of the projections, sorted and matched).
 */

/** Share of points (row-major [n, 2]) nearest to each of `means`. */
export function nearestMeanShares(points: ArrayLike<number>, means: readonly (readonly number[])[]): number[] {
  const n = points.length / 2;
  const counts = means.map(() => 0);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    means.forEach((m, k) => {
      const d = (points[2 * i]! - m[0]!) ** 2 + (points[2 * i + 1]! - m[1]!) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    });
    counts[best]!++;
  }
  return counts.map((c) => c / Math.max(1, n));
}

/** Sliced Wasserstein-1 between two 2-D point sets of any sizes (quantiles matched at `m` levels). */
export function slicedWasserstein2d(a: ArrayLike<number>, b: ArrayLike<number>, directions = 64): number {
  const na = a.length / 2;
  const nb = b.length / 2;
  if (na === 0 || nb === 0) return NaN;
  const pa = new Float64Array(na);
  const pb = new Float64Array(nb);
  const m = Math.max(na, nb);
  let total = 0;
  for (let d = 0; d < directions; d++) {
    const angle = (Math.PI * (d + 0.5)) / directions;
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    for (let i = 0; i < na; i++) pa[i] = c * a[2 * i]! + s * a[2 * i + 1]!;
    for (let i = 0; i < nb; i++) pb[i] = c * b[2 * i]! + s * b[2 * i + 1]!;
    pa.sort();
    pb.sort();
    let w = 0;
    for (let q = 0; q < m; q++) {
      const u = (q + 0.5) / m;
      w += Math.abs(pa[Math.min(na - 1, Math.floor(u * na))]! - pb[Math.min(nb - 1, Math.floor(u * nb))]!);
    }
    total += w / m;
  }
  return total / directions;
}
