/**
 * Batch samplers over a labelled data set, all seeded.
 *
 * - `shuffledSampler`: plain epochs of a seeded permutation (the long-tailed baseline; batches follow q(y)).
 * - `classBalancedSampler`: each sample drawn with replacement with weight n_c^-alpha (alpha = 1: every class
 *   equally likely). A generic re-weighting sampler of this project; it is NOT from the released OC_LT code, which
 *   has no class-weighted or balanced sampler at all: its main.py defines a `bal_sample` flag that nothing reads and
 *   trains from a plain `DataLoader(..., shuffle=True)`, so its T2H command trains on long-tailed shuffled batches
 *   (what `shuffledSampler` gives).
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
  /** A JSON-able state from which `setState` continues the exact same batch stream (for checkpoints). */
  getState(): unknown;
  setState(state: unknown): void;
}

/**
 * A stream of seeded permutations of [0, size) walked with a cursor; its state is the generator state from just
 * before the current permutation was drawn (redrawing gives the same permutation) plus the cursor.
 */
class PermutationStream {
  private perm: Int32Array;
  private epochGenerator: number[];
  private cursor = 0;

  constructor(
    private readonly size: number,
    private readonly gen: Generator,
  ) {
    this.epochGenerator = gen.getState();
    this.perm = gen.permutation(size);
  }

  next(): number {
    if (this.cursor === this.size) {
      this.epochGenerator = this.gen.getState();
      this.perm = this.gen.permutation(this.size);
      this.cursor = 0;
    }
    return this.perm[this.cursor++]!;
  }

  getState(): { epochGenerator: number[]; cursor: number } {
    return { epochGenerator: [...this.epochGenerator], cursor: this.cursor };
  }

  setState(caller: string, state: unknown): void {
    const st = state as { epochGenerator?: unknown; cursor?: unknown } | null;
    if (!st || !Array.isArray(st.epochGenerator) || !Number.isInteger(st.cursor) || (st.cursor as number) < 0 || (st.cursor as number) > this.size) {
      throw new RangeError(`${caller}.setState: ${JSON.stringify(state)} is not the state of a permutation stream over ${this.size} items`);
    }
    this.gen.setState(st.epochGenerator as number[]);
    this.epochGenerator = [...(st.epochGenerator as number[])];
    this.perm = this.gen.permutation(this.size);
    this.cursor = st.cursor as number;
  }
}

export type SamplerKind = 'shuffled' | 'class-balanced' | 'exactly-balanced';

function checkBatchSize(caller: string, batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${caller}: batchSize must be a positive integer, got ${batchSize}`);
}

/**
 * Epochs of a seeded permutation of [0, size); a batch that crosses the end of an epoch continues into a fresh
 * permutation, so every batch has `batchSize` indices.
 * Every sampler owns its generator (its state is the sampler's state): do not share it with other draws.
 */
export function shuffledSampler(size: number, batchSize: number, gen: Generator): BatchSampler {
  checkBatchSize('shuffledSampler', batchSize);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`shuffledSampler: data set size must be a positive integer, got ${size}`);
  const stream = new PermutationStream(size, gen);
  return {
    batchSize,
    description: `shuffled(size=${size})`,
    nextBatch: () => Int32Array.from({ length: batchSize }, () => stream.next()),
    getState: () => stream.getState(),
    setState: (state) => stream.setState('shuffledSampler', state),
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
    getState: () => ({ generator: gen.getState() }),
    setState(state) {
      const st = state as { generator?: unknown } | null;
      if (!st || !Array.isArray(st.generator)) throw new RangeError(`classBalancedSampler.setState: ${JSON.stringify(state)} has no generator state`);
      gen.setState(st.generator as number[]);
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
  // Each class walks its own permutation stream (its own generator), so the state is small and exact.
  const streams = members.map((m) => new PermutationStream(m.length, gen.spawn()));
  const take = (c: number): number => members[c]![streams[c]!.next()]!;
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
    getState: () => ({ generator: gen.getState(), classes: streams.map((s) => s.getState()) }),
    setState(state) {
      const st = state as { generator?: unknown; classes?: unknown } | null;
      if (!st || !Array.isArray(st.generator) || !Array.isArray(st.classes) || st.classes.length !== C) {
        throw new RangeError(`exactlyBalancedSampler.setState: ${JSON.stringify(state)} is not the state of a sampler over ${C} classes`);
      }
      gen.setState(st.generator as number[]);
      streams.forEach((s, c) => s.setState('exactlyBalancedSampler', (st.classes as unknown[])[c]));
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
