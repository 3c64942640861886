/**
 * Long-tailed versions of balanced labelled data sets (Cao et al. 2019, "LDAM"; the construction the paper
 * uses for CIFAR10-LT / CIFAR100-LT), class counts, label frequencies q(y) and head/medium/tail groups.
 *
 * Works on label arrays only: a data set is whatever indexes the returned sample indices.
 */
import { Generator } from '@oclt/tensor';

/** Labels as any integer array (Int32Array, number[], ...). */
export type Labels = ArrayLike<number>;

/**
 * Per-class sample counts of the long-tailed construction: n_c = floor(n_max * imb^(c / (C - 1))) for the class
 * at rank c (rank 0 is the head). With n_max 5000, C 10, imb 0.01 this gives CIFAR10-LT's
 * [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50].
 */
export function longTailedClassCounts(maxCount: number, numClasses: number, imbalance: number): number[] {
  if (!Number.isInteger(maxCount) || maxCount < 1) throw new RangeError(`longTailedClassCounts: maxCount must be a positive integer, got ${maxCount}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`longTailedClassCounts: numClasses must be a positive integer, got ${numClasses}`);
  if (!(imbalance > 0 && imbalance <= 1)) throw new RangeError(`longTailedClassCounts: imbalance must be in (0, 1], got ${imbalance}`);
  if (numClasses === 1) return [maxCount];
  const counts: number[] = [];
  for (let rank = 0; rank < numClasses; rank++) {
    // Same arithmetic as Cao et al.'s int(n_max * imb ** (c / (C - 1.0))); at least one sample per class.
    counts.push(Math.max(1, Math.floor(maxCount * Math.pow(imbalance, rank / (numClasses - 1)))));
  }
  return counts;
}

export interface LongTailedSubsetOptions {
  /** Imbalance factor n_min / n_max, e.g. 0.01 (CIFAR10-LT) or 0.001. */
  imbalance: number;
  numClasses: number;
  /** Seed of the within-class shuffle; the subset keeps the first n_c shuffled samples of each class. */
  seed: number;
  /**
   * Which class takes which rank: classOrder[rank] = class label. Default [0, 1, ..., C-1] (class 0 the head).
   * The paper's Table 5 shifts it (animals as head, vehicles as tail).
   */
  classOrder?: readonly number[];
  /** n_max; default: the size of the smallest class in the source (so every class can supply its count). */
  maxCount?: number;
}

export interface LongTailedSubset {
  /** Indices into the source data set, sorted ascending (so reading the subset keeps the source order). */
  indices: Int32Array;
  /** The labels of `indices`. */
  labels: Int32Array;
  /** Samples per class, indexed by class label (not by rank). */
  classCounts: number[];
  /** classOrder[rank] = class label, as used. */
  classOrder: number[];
}

/**
 * Picks a long-tailed subset of a labelled data set: the class at rank c keeps n_c samples chosen by a seeded
 * shuffle within the class (Cao et al. 2019; see `longTailedClassCounts`).
 */
export function makeLongTailedSubset(labels: Labels, opts: LongTailedSubsetOptions): LongTailedSubset {
  const { imbalance, numClasses, seed } = opts;
  const classOrder = opts.classOrder ? [...opts.classOrder] : [...Array(numClasses).keys()];
  if (classOrder.length !== numClasses || new Set(classOrder).size !== numClasses || classOrder.some((c) => !Number.isInteger(c) || c < 0 || c >= numClasses)) {
    throw new RangeError(`makeLongTailedSubset: classOrder must be a permutation of 0..${numClasses - 1}, got [${classOrder}]`);
  }
  const byClass = indicesByClass(labels, numClasses, 'makeLongTailedSubset');
  const smallest = Math.min(...byClass.map((ix) => ix.length));
  const maxCount = opts.maxCount ?? smallest;
  const rankCounts = longTailedClassCounts(maxCount, numClasses, imbalance);
  const gen = new Generator(seed);
  const classCounts = new Array<number>(numClasses).fill(0);
  const chosen: number[] = [];
  for (let rank = 0; rank < numClasses; rank++) {
    const cls = classOrder[rank]!;
    const members = byClass[cls]!;
    const want = rankCounts[rank]!;
    if (want > members.length) {
      throw new RangeError(`makeLongTailedSubset: class ${cls} (rank ${rank}) needs ${want} samples but the source has ${members.length}`);
    }
    const perm = gen.permutation(members.length);
    for (let k = 0; k < want; k++) chosen.push(members[perm[k]!]!);
    classCounts[cls] = want;
  }
  const indices = Int32Array.from(chosen).sort();
  const subsetLabels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) subsetLabels[k] = labels[indices[k]!]!;
  return { indices, labels: subsetLabels, classCounts, classOrder };
}

/** Indices of each class's samples, in source order. Throws on labels outside [0, numClasses). */
export function indicesByClass(labels: Labels, numClasses: number, caller = 'indicesByClass'): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new RangeError(`${caller}: label ${y} at index ${i} is outside [0, ${numClasses})`);
    byClass[y]!.push(i);
  }
  return byClass;
}

/** Number of samples of each class. */
export function countClasses(labels: Labels, numClasses: number): number[] {
  return indicesByClass(labels, numClasses, 'countClasses').map((ix) => ix.length);
}

/** Empirical label frequencies q(y) = n_y / sum_c n_c (what the released OC-LT code's gate compares). */
export function classFrequencies(classCounts: readonly number[]): Float64Array {
  const total = classCounts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new RangeError('classFrequencies: class counts sum to zero');
  return Float64Array.from(classCounts, (n) => n / total);
}

export type ClassGroup = 'head' | 'medium' | 'tail';

export interface ClassGroupOptions {
  /**
   * 'rank-thirds' (default): sort classes by count (descending, ties by label); the first round(C/3) are head,
   * the last round(C/3) tail, the rest medium. For 10 classes: 3 head, 4 medium, 3 tail. Suits CIFAR10-LT,
   * where every class has more than 20 samples and the shot thresholds below would call all of them "many".
   * 'shots': the long-tailed recognition convention (Liu et al. 2019): head (many-shot) n > manyShot (100),
   * tail (few-shot) n < fewShot (20), medium otherwise.
   */
  method?: 'rank-thirds' | 'shots';
  manyShot?: number;
  fewShot?: number;
}

/** Head / medium / tail group of every class (indexed by class label). */
export function classGroups(classCounts: readonly number[], opts: ClassGroupOptions = {}): ClassGroup[] {
  const method = opts.method ?? 'rank-thirds';
  const C = classCounts.length;
  if (method === 'shots') {
    const many = opts.manyShot ?? 100;
    const few = opts.fewShot ?? 20;
    return classCounts.map((n) => (n > many ? 'head' : n < few ? 'tail' : 'medium'));
  }
  const byCount = [...Array(C).keys()].sort((a, b) => classCounts[b]! - classCounts[a]! || a - b);
  const third = Math.round(C / 3);
  const groups = new Array<ClassGroup>(C).fill('medium');
  byCount.forEach((cls, rank) => {
    if (rank < third) groups[cls] = 'head';
    else if (rank >= C - third) groups[cls] = 'tail';
  });
  return groups;
}
