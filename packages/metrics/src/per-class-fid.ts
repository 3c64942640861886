/**
 * Per-class FID for class-conditional generation on long-tailed data: FID between the generated samples of class
 * c and the reference samples of class c (the balanced test set), for every class, with averages over class
 * groups (e.g. head / medium / tail from the training-set frequencies).
 *
 * FID is biased upward for small N, so classes are only comparable at equal N: every class uses the same number
 * of generated samples, n_gen = min over classes of the generated counts, and the same number of reference
 * samples, n_ref = min over classes of the reference counts (the first rows of each class in input order).
 */
import { frechetDistance } from './fid.js';
import { type FeatureMatrix, assertFinite, assertSameDim, meanAndCovariance, selectRows } from './linalg.js';

export interface PerClassFidResult {
  /** FID of each class. */
  readonly perClass: Float64Array;
  /** Mean over all classes. */
  readonly mean: number;
  /** Mean over the classes of each named group. */
  readonly groups: Record<string, number>;
  readonly generatedPerClass: number;
  readonly referencePerClass: number;
}

function rowsByClass(labels: ArrayLike<number>, numClasses: number, n: number, what: string): number[][] {
  if (labels.length !== n) throw new RangeError(`perClassFid: ${what} has ${n} feature rows but ${labels.length} labels`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`perClassFid: ${what} label ${i} is ${c}; expected an integer in [0, ${numClasses})`);
    byClass[c]!.push(i);
  }
  return byClass;
}

export function perClassFid(
  generated: FeatureMatrix, generatedLabels: ArrayLike<number>,
  reference: FeatureMatrix, referenceLabels: ArrayLike<number>,
  opts: { numClasses: number; groups?: Record<string, readonly number[]> },
): PerClassFidResult {
  const { numClasses } = opts;
  assertSameDim(generated, reference, 'perClassFid', ['generated', 'reference']);
  assertFinite(generated, 'perClassFid');
  assertFinite(reference, 'perClassFid');
  const gen = rowsByClass(generatedLabels, numClasses, generated.rows, 'generated set');
  const ref = rowsByClass(referenceLabels, numClasses, reference.rows, 'reference set');
  const nGen = Math.min(...gen.map((r) => r.length));
  const nRef = Math.min(...ref.map((r) => r.length));
  if (nGen < 2 || nRef < 2) {
    throw new RangeError(`perClassFid: every class needs at least 2 samples in each set; smallest class has ${nGen} generated and ${nRef} reference samples`);
  }
  const perClass = new Float64Array(numClasses);
  for (let c = 0; c < numClasses; c++) {
    const g = meanAndCovariance(selectRows(generated, gen[c]!.slice(0, nGen)), `perClassFid (generated, class ${c})`);
    const r = meanAndCovariance(selectRows(reference, ref[c]!.slice(0, nRef)), `perClassFid (reference, class ${c})`);
    perClass[c] = frechetDistance(g, r).fid;
  }
  const average = (classes: readonly number[]) => classes.reduce((s, c) => s + perClass[c]!, 0) / classes.length;
  const groups: Record<string, number> = {};
  for (const [name, classes] of Object.entries(opts.groups ?? {})) {
    if (classes.length === 0) continue;
    for (const c of classes) if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`perClassFid: group '${name}' lists class ${c}, outside [0, ${numClasses})`);
    groups[name] = average(classes);
  }
  return { perClass, mean: average(Array.from({ length: numClasses }, (_, c) => c)), groups, generatedPerClass: nGen, referencePerClass: nRef };
}
