/**
 * Datasets the trainer draws batches from. A dataset knows its size, its labels (or none) and how to build a
 * batch tensor from a list of indices; augmentations that need randomness take the trainer's seeded generator.
 * Browser-safe.
 */
import { fromTypedArray, type Generator, type Tensor } from '@oclt/tensor';

export interface Batch {
  /** The clean samples x0, shape [B, ...sampleShape], float32. */
  x: Tensor;
  /** Class labels per sample (int32), or null for unlabelled data. */
  labels: Int32Array | null;
  /** Which dataset rows the batch holds. */
  indices: Int32Array;
}

export interface Dataset {
  readonly size: number;
  /** Shape of one sample, e.g. [1, 28, 28] or [2]. */
  readonly sampleShape: readonly number[];
  /** Number of classes (0 for unlabelled data). */
  readonly numClasses: number;
  /** Label of every row, or null. */
  readonly labels: Int32Array | null;
  /** Builds the batch of the given rows; `rng` drives augmentation (e.g. random flips). */
  batch(indices: ArrayLike<number>, rng: Generator): Batch;
  /** The dataset restricted to the given rows (for long-tailed subsets and train/val splits). */
  subset(indices: ArrayLike<number>): Dataset;
}

function checkIndices(fn: string, indices: ArrayLike<number>, size: number): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= size) throw new RangeError(`${fn}: index ${k} at position ${i} is outside [0, ${size})`);
    out[i] = k;
  }
  return out;
}

function checkLabels(fn: string, labels: Int32Array | null, size: number, numClasses: number): void {
  if (!labels) return;
  if (labels.length !== size) throw new RangeError(`${fn}: ${labels.length} labels for ${size} samples`);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0 || labels[i]! >= numClasses) throw new RangeError(`${fn}: label ${labels[i]} of row ${i} is outside [0, ${numClasses})`);
  }
}

/** Float samples stored row-major (e.g. 2-D toy points), used as they are. */
export class ArrayDataset implements Dataset {
  readonly size: number;
  readonly numClasses: number;
  private readonly rowSize: number;

  constructor(
    readonly data: Float32Array,
    readonly sampleShape: readonly number[],
    readonly labels: Int32Array | null = null,
    numClasses?: number,
  ) {
    this.rowSize = sampleShape.reduce((a, b) => a * b, 1);
    if (this.rowSize === 0 || data.length % this.rowSize !== 0) {
      throw new RangeError(`ArrayDataset: data of length ${data.length} is not a whole number of samples of shape [${sampleShape}]`);
    }
    this.size = data.length / this.rowSize;
    this.numClasses = labels ? (numClasses ?? labels.reduce((m, y) => Math.max(m, y + 1), 0)) : 0;
    checkLabels('ArrayDataset', labels, this.size, this.numClasses);
  }

  batch(indices: ArrayLike<number>): Batch {
    const idx = checkIndices('ArrayDataset.batch', indices, this.size);
    const out = new Float32Array(idx.length * this.rowSize);
    idx.forEach((k, i) => out.set(this.data.subarray(k * this.rowSize, (k + 1) * this.rowSize), i * this.rowSize));
    return { x: fromTypedArray(out, [idx.length, ...this.sampleShape]), labels: this.labels ? idx.map((k) => this.labels![k]!) : null, indices: idx };
  }

  subset(indices: ArrayLike<number>): ArrayDataset {
    const idx = checkIndices('ArrayDataset.subset', indices, this.size);
    const out = new Float32Array(idx.length * this.rowSize);
    idx.forEach((k, i) => out.set(this.data.subarray(k * this.rowSize, (k + 1) * this.rowSize), i * this.rowSize));
    return new ArrayDataset(out, this.sampleShape, this.labels ? idx.map((k) => this.labels![k]!) : null, this.numClasses);
  }
}

export interface ImageDatasetOptions {
  /** Flip each image left-right with probability 1/2 when batching (default false). */
  horizontalFlip?: boolean;
  classNames?: readonly string[];
}

/**
 * 8-bit images [N, C, H, W] kept as bytes (4x less memory than float32); batches are normalised to [-1, 1]
 * by x / 127.5 - 1, the range DDPM trains in (Ho et al. 2020, section 4).
 */
export class ImageDataset implements Dataset {
  readonly size: number;
  readonly sampleShape: readonly number[];
  readonly horizontalFlip: boolean;
  readonly classNames: readonly string[] | undefined;

  constructor(
    readonly pixels: Uint8Array,
    readonly channels: number,
    readonly height: number,
    readonly width: number,
    readonly labels: Int32Array | null,
    readonly numClasses: number,
    opts: ImageDatasetOptions = {},
  ) {
    const per = channels * height * width;
    if (per === 0 || pixels.length % per !== 0) throw new RangeError(`ImageDataset: ${pixels.length} bytes is not a whole number of ${channels}x${height}x${width} images`);
    this.size = pixels.length / per;
    this.sampleShape = [channels, height, width];
    this.horizontalFlip = opts.horizontalFlip ?? false;
    this.classNames = opts.classNames;
    checkLabels('ImageDataset', labels, this.size, numClasses);
  }

  /** The same images with different options (e.g. flips on for training). */
  withOptions(opts: ImageDatasetOptions): ImageDataset {
    return new ImageDataset(this.pixels, this.channels, this.height, this.width, this.labels, this.numClasses, { horizontalFlip: this.horizontalFlip, classNames: this.classNames, ...opts });
  }

  batch(indices: ArrayLike<number>, rng?: Generator): Batch {
    const idx = checkIndices('ImageDataset.batch', indices, this.size);
    if (this.horizontalFlip && !rng) throw new Error('ImageDataset.batch: horizontalFlip needs a seeded Generator');
    const { channels: C, height: H, width: W } = this;
    const per = C * H * W;
    const out = new Float32Array(idx.length * per);
    idx.forEach((k, i) => {
      const flip = this.horizontalFlip && rng!.random() < 0.5;
      const src = k * per;
      const dst = i * per;
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < H; y++) {
          const row = c * H * W + y * W;
          for (let x = 0; x < W; x++) out[dst + row + x] = this.pixels[src + row + (flip ? W - 1 - x : x)]! / 127.5 - 1;
        }
      }
    });
    return { x: fromTypedArray(out, [idx.length, C, H, W]), labels: this.labels ? idx.map((k) => this.labels![k]!) : null, indices: idx };
  }

  subset(indices: ArrayLike<number>): ImageDataset {
    const idx = checkIndices('ImageDataset.subset', indices, this.size);
    const per = this.channels * this.height * this.width;
    const px = new Uint8Array(idx.length * per);
    idx.forEach((k, i) => px.set(this.pixels.subarray(k * per, (k + 1) * per), i * per));
    return new ImageDataset(px, this.channels, this.height, this.width, this.labels ? idx.map((k) => this.labels![k]!) : null, this.numClasses, {
      horizontalFlip: this.horizontalFlip,
      classNames: this.classNames,
    });
  }
}

/** Maps a tensor of images in [-1, 1] back to bytes in [0, 255] (clipping, rounding). */
export function toUint8Images(x: Tensor): Uint8Array {
  const v = x.toTypedArray();
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.min(255, Math.max(0, Math.round((v[i]! + 1) * 127.5)));
  return out;
}
