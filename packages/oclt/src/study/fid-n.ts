/**
 * FID against the number of samples N, on one arm: how large the sampling noise of FID is at the N a study uses,
 * against the differences it reports (issue 19: "enough samples that the sampling noise of FID is below the
 * differences it reports; measure FID against N on one arm and choose N").
 *
 * The samples of one model are split into k = floor(total / N) disjoint sets of N (class-balanced for a
 * conditional model: N / C of each class), each evaluated on its own. The spread of the k FIDs is the sampling
 * noise at N with the model held fixed; their mean shows FID's small-N bias (it falls as N grows).
 */
import { meanInterval, type MeanInterval } from '@oclt/metrics';

/**
 * Disjoint row sets of size n. With labels (conditional samples): each set takes n / numClasses rows of every class,
 * in the order they appear, so every set is class-balanced; without: consecutive chunks.
 */
export function disjointSubsets(total: number, n: number, labels: ArrayLike<number> | null, numClasses: number): Int32Array[] {
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`disjointSubsets: N must be an integer >= 2, got ${n}`);
  if (n > total) throw new RangeError(`disjointSubsets: N = ${n} is more than the ${total} samples`);
  if (!labels) {
    const k = Math.floor(total / n);
    return Array.from({ length: k }, (_, j) => Int32Array.from({ length: n }, (_, i) => j * n + i));
  }
  if (labels.length !== total) throw new RangeError(`disjointSubsets: ${labels.length} labels for ${total} samples`);
  if (n % numClasses !== 0) throw new RangeError(`disjointSubsets: N = ${n} is not a multiple of the ${numClasses} classes (class-balanced sets)`);
  const perClass = n / numClasses;
  const rows: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < total; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) throw new RangeError(`disjointSubsets: label ${y} of sample ${i} is outside 0..${numClasses - 1}`);
    rows[y]!.push(i);
  }
  const k = Math.min(...rows.map((r) => Math.floor(r.length / perClass)));
  return Array.from({ length: k }, (_, j) => Int32Array.from(rows.flatMap((r) => r.slice(j * perClass, (j + 1) * perClass))));
}

export interface FidAtN {
  n: number;
  /** Disjoint sets evaluated. */
  sets: number;
  /** FID of each set. */
  fid: number[];
  /** Tail-group FID of each set (null where a set lacks it). */
  tailFid: (number | null)[];
  /** Mean and t interval over the sets (sd: the sampling noise of one FID at this N); null for one set. */
  fidSummary: MeanInterval | null;
  tailSummary: MeanInterval | null;
}

/** FID (and tail FID) of disjoint N-sets for each N; `evaluate` scores one set of rows. */
export function fidAgainstN(
  total: number,
  ns: readonly number[],
  labels: ArrayLike<number> | null,
  numClasses: number,
  evaluate: (rows: Int32Array) => { fid: number; tail: number | null },
): FidAtN[] {
  return [...ns]
    .sort((a, b) => a - b)
    .map((n) => {
      const sets = disjointSubsets(total, n, labels, numClasses);
      const scores = sets.map(evaluate);
      const fid = scores.map((s) => s.fid);
      const tailFid = scores.map((s) => s.tail);
      const tails = tailFid.filter((x): x is number => x !== null && Number.isFinite(x));
      return { n, sets: sets.length, fid, tailFid, fidSummary: fid.length > 1 ? meanInterval(fid) : null, tailSummary: tails.length > 1 ? meanInterval(tails) : null };
    });
}
