/**
 * Batch samplers over a labelled data set, all seeded.
 *
 * - `shuffledSampler`: plain epochs of a seeded permutation (the long-tailed baseline; batches follow q(y)).
 * - `classBalancedSampler`: each sample drawn with replacement with weight n_c^-alpha (alpha = 1: every class
 *   equally likely; the only sampler found in the released OC-LT code).
 * - `exactlyBalancedSampler`: every batch holds each class the same number of times (+-1 when the batch size
 *   is not a multiple of the class count). This is the paper's "Batch Re-sample" (Algorithm 1: "Sample
 *   mini-batch with balanced distribution"), which undoes the q(y_H) q(y_T) factor of Proposition 3.1 (Eq. 9).
 */
import { Generator } from '@oclt/tensor';
import { indicesByClass, type Labels } from './long-tailed-dataset.js';

/** Produces the sample indices of one training batch at a time. */
export interface BatchSampler {
  readonly batchSize: number;
  /** Indices (into the data set) of the next batch. */
  nextBatch(): Int32Array;
  /** Which sampler this is, for logs. */
  readonly description: string;
}

export type SamplerKind = 'shuffled' | 'class-balanced' | 'exactly-balanced';

function checkBatchSize(caller: string, batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${caller}: batchSize must be a positive integer, got ${batchSize}`);
}

/**
 * Epochs of a seeded permutation of [0, size); a batch that crosses the end of an epoch continues into a fresh
 * permutation, so every batch has `batchSize` indices.
 */
export function shuffledSampler(size: number, batchSize: number, gen: Generator): BatchSampler {
  checkBatchSize('shuffledSampler', batchSize);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`shuffledSampler: data set size must be a positive integer, got ${size}`);
  let perm = gen.permutation(size);
  let cursor = 0;
  return {
    batchSize,
    description: `shuffled(size=${size})`,
    nextBatch() {
      const batch = new Int32Array(batchSize);
      for (let k = 0; k < batchSize; k++) {
        if (cursor === size) {
          perm = gen.permutation(size);
          cursor = 0;
        }
        batch[k] = perm[cursor++]!;
      }
      return batch;
    },
  };
}

/**
 * Draws every sample with replacement, with probability proportional to n_{y}^-alpha.
 * Sampled as: class c with probability n_c^(1-alpha) / sum_c' n_c'^(1-alpha), then a uniform member of c,
 * which is the same distribution (n_c members, each of weight n_c^-alpha) without a per-sample table.
 */
export function classBalancedSampler(labels: Labels, numClasses: number, batchSize: number, gen: Generator, alpha = 1): BatchSampler {
  checkBatchSize('classBalancedSampler', batchSize);
  if (!Number.isFinite(alpha)) throw new RangeError(`classBalancedSampler: alpha must be finite, got ${alpha}`);
  const members = indicesByClass(labels, numClasses, 'classBalancedSampler');
  const classWeights = members.map((m) => (m.length === 0 ? 0 : Math.pow(m.length, 1 - alpha)));
  if (!classWeights.some((w) => w > 0)) throw new RangeError('classBalancedSampler: the data set is empty');
  return {
    batchSize,
    description: `class-balanced(alpha=${alpha})`,
    nextBatch() {
      const batch = new Int32Array(batchSize);
      for (let k = 0; k < batchSize; k++) {
        const m = members[gen.categorical(classWeights)]!;
        batch[k] = m[gen.integer(0, m.length)]!;
      }
      return batch;
    },
  };
}

/**
 * Every batch holds floor(B / C) samples of each non-empty class, and the B mod C remaining slots go to
 * distinct classes chosen at random; within a class, samples cycle through seeded permutations (so a tail
 * class repeats its few samples, a head class is walked without replacement). The batch order is shuffled.
 */
export function exactlyBalancedSampler(labels: Labels, numClasses: number, batchSize: number, gen: Generator): BatchSampler {
  checkBatchSize('exactlyBalancedSampler', batchSize);
  const members = indicesByClass(labels, numClasses, 'exactlyBalancedSampler').filter((m) => m.length > 0);
  const C = members.length;
  if (C === 0) throw new RangeError('exactlyBalancedSampler: the data set is empty');
  const perms = members.map((m) => gen.permutation(m.length));
  const cursors = new Array<number>(C).fill(0);
  const take = (c: number): number => {
    if (cursors[c] === members[c]!.length) {
      perms[c] = gen.permutation(members[c]!.length);
      cursors[c] = 0;
    }
    return members[c]![perms[c]![cursors[c]!++]!]!;
  };
  return {
    batchSize,
    description: `exactly-balanced(classes=${C})`,
    nextBatch() {
      const batch: number[] = [];
      const perClass = Math.floor(batchSize / C);
      for (let c = 0; c < C; c++) for (let k = 0; k < perClass; k++) batch.push(take(c));
      const extra = gen.permutation(C);
      for (let k = 0; k < batchSize - perClass * C; k++) batch.push(take(extra[k]!));
      const order = gen.permutation(batchSize);
      return Int32Array.from(order, (o) => batch[o]!);
    },
  };
}

/** Builds a sampler by kind (for recipes and the CLI). */
export function makeBatchSampler(kind: SamplerKind, labels: Labels, numClasses: number, batchSize: number, gen: Generator, alpha = 1): BatchSampler {
  switch (kind) {
    case 'shuffled':
      return shuffledSampler(labels.length, batchSize, gen);
    case 'class-balanced':
      return classBalancedSampler(labels, numClasses, batchSize, gen, alpha);
    case 'exactly-balanced':
      return exactlyBalancedSampler(labels, numClasses, batchSize, gen);
    default:
      throw new RangeError(`makeBatchSampler: unknown sampler kind '${kind as string}'; expected shuffled, class-balanced or exactly-balanced`);
  }
}
