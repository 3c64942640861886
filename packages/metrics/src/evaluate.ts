/**
 * One call for all generative metrics of a set of generated images against a reference set, and the real-vs-real
 * baselines every evaluation should be reported with.
 *
 * The expensive part is pairwise: k-NN radii for precision/recall and the KID kernel sums need dot products between
 * all pairs of samples. `pairwiseMetrics` computes them once per pair of sets, streamed in tiles.
 */
import { Generator, type Tensor } from '@oclt/tensor';
import { frechetDistance } from './fid.js';
import { inceptionScore } from './inception-score.js';
import { KID_DEFAULT_SUBSETS, KID_DEFAULT_SUBSET_SIZE, sampleKidSubsets } from './kid.js';
import { type FeatureMatrix, assertFinite, assertSameDim, featureMatrix, meanAndCovariance, selectRows } from './linalg.js';
import { pairwiseMetrics } from './pairwise.js';
import { perClassFid } from './per-class-fid.js';
import { FEATURE_DIM, FEATURE_NET_CLASSES, type FeatureExtractionOptions, type FeatureNet, extractFeatures } from './feature-net.js';

/** Features of one image set: penultimate features, optional class probabilities (for IS) and labels (per-class FID). */
export interface FeatureSet {
  readonly features: FeatureMatrix;
  /** [N, C] softmax probabilities of the feature network. */
  readonly probs?: Float64Array;
  readonly labels?: ArrayLike<number>;
}

export interface EvaluationOptions {
  /** KID: number of subsets (100) and maximum subset size (1000), drawn from a generator seeded with `seed` (0),
   * which also seeds the shuffle before the Inception-style score's splits. */
  kidSubsets?: number;
  kidSubsetSize?: number;
  seed?: number;
  /** Neighbourhood size for precision/recall (3). */
  k?: number;
  /** Splits of the Inception-style score (10). */
  isSplits?: number;
  /** Classes for per-class FID; computed when both sets have labels. */
  numClasses?: number;
  /** Named class groups (e.g. head/medium/tail) to average per-class FID over. */
  groups?: Record<string, readonly number[]>;
}

export interface MetricsReport {
  n_generated: number;
  n_reference: number;
  fid: number;
  kid_mean: number;
  kid_std: number;
  kid_subsets: number;
  kid_subset_size: number;
  /** Inception-style score of the generated set (null when no probabilities were given). */
  is_mean: number | null;
  is_std: number | null;
  precision: number;
  recall: number;
  k: number;
  per_class_fid: { per_class: number[]; mean: number; groups: Record<string, number>; n_generated_per_class: number; n_reference_per_class: number } | null;
}

/** All metrics of `generated` against `reference` from their features. */
export function evaluateFeatureSets(generated: FeatureSet, reference: FeatureSet, opts: EvaluationOptions = {}): MetricsReport {
  const g = generated.features;
  const r = reference.features;
  assertSameDim(g, r, 'evaluateFeatureSets', ['generated', 'reference']);
  assertFinite(g, 'evaluateFeatureSets (generated)');
  assertFinite(r, 'evaluateFeatureSets (reference)');
  const k = opts.k ?? 3;
  const fid = frechetDistance(meanAndCovariance(g, 'evaluateFeatureSets (generated)'), meanAndCovariance(r, 'evaluateFeatureSets (reference)')).fid;
  const subsets = sampleKidSubsets(g.rows, r.rows, {
    numSubsets: opts.kidSubsets ?? KID_DEFAULT_SUBSETS,
    subsetSize: opts.kidSubsetSize ?? KID_DEFAULT_SUBSET_SIZE,
    generator: new Generator(opts.seed ?? 0),
  });
  const pairwise = pairwiseMetrics(g, r, { k, kidSubsets: subsets });
  const kid = pairwise.kid!;
  let isMean: number | null = null;
  let isStd: number | null = null;
  if (generated.probs) {
    const classes = generated.probs.length / g.rows;
    const is = inceptionScore(generated.probs, g.rows, classes, { splits: opts.isSplits ?? 10, generator: new Generator(opts.seed ?? 0) });
    isMean = is.mean;
    isStd = is.std;
  }
  let perClass: MetricsReport['per_class_fid'] = null;
  if (generated.labels && reference.labels) {
    const pc = perClassFid(g, generated.labels, r, reference.labels, { numClasses: opts.numClasses ?? FEATURE_NET_CLASSES, groups: opts.groups });
    perClass = { per_class: Array.from(pc.perClass), mean: pc.mean, groups: pc.groups, n_generated_per_class: pc.generatedPerClass, n_reference_per_class: pc.referencePerClass };
  }
  return {
    n_generated: g.rows,
    n_reference: r.rows,
    fid,
    kid_mean: kid.mean,
    kid_std: kid.std,
    kid_subsets: subsets.length,
    kid_subset_size: kid.subsetSize,
    is_mean: isMean,
    is_std: isStd,
    precision: pairwise.precision,
    recall: pairwise.recall,
    k,
    per_class_fid: perClass,
  };
}

/** Features, probabilities and labels of images [N, 1, H, W] in [-1, 1] through the feature network. */
export function featureSetOfImages(net: FeatureNet, images: Tensor, labels?: ArrayLike<number>, opts: FeatureExtractionOptions = {}): FeatureSet {
  const { features, probs, n } = extractFeatures(net, images, opts);
  if (labels && labels.length !== n) throw new RangeError(`featureSetOfImages: ${n} images but ${labels.length} labels`);
  return { features: featureMatrix(features, n, FEATURE_DIM), probs, labels };
}

/** All metrics of generated images [N, 1, H, W] in [-1, 1] (labels: the classes they were generated for) against a reference feature set. */
export function evaluateImages(net: FeatureNet, images: Tensor, labels: ArrayLike<number> | undefined, reference: FeatureSet, opts: EvaluationOptions = {}): MetricsReport {
  return evaluateFeatureSets(featureSetOfImages(net, images, labels), reference, opts);
}

/** Rows of a feature set (features, probabilities and labels together). */
export function selectFeatureSet(set: FeatureSet, rows: ArrayLike<number>): FeatureSet {
  const features = selectRows(set.features, rows);
  let probs: Float64Array | undefined;
  if (set.probs) {
    const c = set.probs.length / set.features.rows;
    probs = new Float64Array(rows.length * c);
    for (let i = 0; i < rows.length; i++) probs.set(set.probs.subarray(rows[i]! * c, (rows[i]! + 1) * c), i * c);
  }
  const labels = set.labels ? Int32Array.from({ length: rows.length }, (_, i) => set.labels![rows[i]!]!) : undefined;
  return { features, probs, labels };
}

/**
 * Splits a labelled set into two halves with the same number of samples per class (the first half of each class's
 * rows, in input order, vs the second half). A balanced test set gives two balanced halves.
 */
export function stratifiedHalves(labels: ArrayLike<number>, numClasses: number): [Int32Array, Int32Array] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new RangeError(`stratifiedHalves: label ${i} is ${c}; expected an integer in [0, ${numClasses})`);
    byClass[c]!.push(i);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (const rows of byClass) {
    const half = rows.length >> 1;
    a.push(...rows.slice(0, half));
    b.push(...rows.slice(half, 2 * half));
  }
  return [Int32Array.from(a), Int32Array.from(b)];
}

export interface RealBaselines {
  /** One half of the (balanced) test set as if it were generated, against the other half. */
  test_half_vs_half: MetricsReport;
  /** The long-tailed training subset as if it were generated, against the whole test set (when given). */
  train_lt_vs_test: MetricsReport | null;
}

/**
 * Real-vs-real baselines, so a reader can tell what a metric difference means: what the metrics give for two
 * independent real samples (test half vs half: the floor for a perfect generator at that N), and for the long-tailed
 * training data itself against the balanced test set (what "reproducing the training set" would score).
 */
export function realBaselines(test: FeatureSet, trainLt: FeatureSet | null, opts: EvaluationOptions = {}): RealBaselines {
  if (!test.labels) throw new RangeError('realBaselines: the test feature set needs labels for a stratified split');
  const [a, b] = stratifiedHalves(test.labels, opts.numClasses ?? FEATURE_NET_CLASSES);
  return {
    test_half_vs_half: evaluateFeatureSets(selectFeatureSet(test, a), selectFeatureSet(test, b), opts),
    train_lt_vs_test: trainLt ? evaluateFeatureSets(trainLt, test, opts) : null,
  };
}

