/** The default batch sampler: epochs of a seeded permutation; its state checkpoints exactly. Browser-safe. */
import { Generator } from '@oclt/tensor';
import type { BatchSampler } from './hooks.js';

export interface ShuffledSamplerState {
  /** Generator state just before the current permutation was drawn (redrawing it gives the same permutation). */
  epochGenerator: number[];
  cursor: number;
}

/**
 * Walks through seeded permutations of [0, size); a batch that crosses an epoch boundary continues into the
 * next permutation, so every batch is full.
 */
export class ShuffledBatchSampler implements BatchSampler {
  private readonly gen: Generator;
  private perm: Int32Array;
  private epochGenerator: number[];
  private cursor = 0;
  readonly description: string;

  constructor(
    readonly size: number,
    readonly batchSize: number,
    seed: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ShuffledBatchSampler: size must be a positive integer, got ${size}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`ShuffledBatchSampler: batchSize must be a positive integer, got ${batchSize}`);
    this.gen = new Generator(seed);
    this.epochGenerator = this.gen.getState();
    this.perm = this.gen.permutation(size);
    this.description = `shuffled(size=${size}, seed=${seed})`;
  }

  nextBatch(): Int32Array {
    const out = new Int32Array(this.batchSize);
    for (let k = 0; k < this.batchSize; k++) {
      if (this.cursor === this.size) {
        this.epochGenerator = this.gen.getState();
        this.perm = this.gen.permutation(this.size);
        this.cursor = 0;
      }
      out[k] = this.perm[this.cursor++]!;
    }
    return out;
  }

  getState(): ShuffledSamplerState {
    return { epochGenerator: [...this.epochGenerator], cursor: this.cursor };
  }

  setState(state: unknown): void {
    const s = state as ShuffledSamplerState;
    if (!s || !Array.isArray(s.epochGenerator) || !Number.isInteger(s.cursor) || s.cursor < 0 || s.cursor > this.size) {
      throw new Error(`ShuffledBatchSampler.setState: state ${JSON.stringify(s)} does not fit a sampler over ${this.size} rows`);
    }
    this.gen.setState(s.epochGenerator);
    this.epochGenerator = [...s.epochGenerator];
    this.perm = this.gen.permutation(this.size);
    this.cursor = s.cursor;
  }
}
