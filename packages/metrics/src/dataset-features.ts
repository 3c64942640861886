/**
 * Feature sets of real image datasets at the experiment's image size, and the real-vs-real baselines from them.
 *
 * Real images go through the same pipeline as generated ones: resized to the experiment size (default: bilinear,
 * align_corners = false, e.g. 28x28 -> 16x16), then, inside the feature extraction, back to 28x28 for the network.
 */
import type { Tensor } from '@oclt/tensor';
import { type EvaluationOptions, type FeatureSet, type RealBaselines, featureSetOfImages, realBaselines } from './evaluate.js';
import { type FeatureNet, resizeBilinear } from './feature-net.js';

/**
 * What the metrics need of an image dataset (structurally; @oclt/diffusion's ImageDataset is one): its size, image
 * height and width, number of classes, and batches of [B, C, H, W] images in [-1, 1] with their labels (or null).
 */
export interface MetricsImageDataset {
  readonly size: number;
  readonly height: number;
  readonly width: number;
  readonly numClasses: number;
  batch(indices: ArrayLike<number>): { x: Tensor; labels: ArrayLike<number> | null };
}

export interface DatasetFeatureOptions {
  /** Side of the square images the experiment generates (default: the dataset's own size). */
  imageSize?: number;
  /** How real images are brought to `imageSize` (default: bilinear resize). */
  resize?: (images: Tensor, size: number) => Tensor;
  /** Rows of the dataset to use (default: all). */
  indices?: ArrayLike<number>;
  batchSize?: number;
}

/** Features, probabilities and labels of (some of) a dataset's images, at the experiment's image size. */
export function datasetFeatureSet(net: FeatureNet, data: MetricsImageDataset, opts: DatasetFeatureOptions = {}): FeatureSet {
  const indices = opts.indices ?? Int32Array.from({ length: data.size }, (_, i) => i);
  const size = opts.imageSize ?? data.height;
  const resize = opts.resize ?? ((x: Tensor, s: number) => resizeBilinear(x, s, s));
  const batch = data.batch(indices);
  const images = size === data.height && size === data.width ? batch.x : resize(batch.x, size);
  return featureSetOfImages(net, images, batch.labels ?? undefined, { batchSize: opts.batchSize });
}

/**
 * Real-vs-real baselines for a dataset: test half vs half (stratified), and the long-tailed training subset
 * (rows `trainLtIndices` of `train`, e.g. from oclt's long-tailed subset builder) vs the whole test set.
 */
export function datasetBaselines(
  net: FeatureNet, test: MetricsImageDataset, train: MetricsImageDataset | null, trainLtIndices: ArrayLike<number> | null,
  opts: DatasetFeatureOptions & EvaluationOptions = {},
): RealBaselines {
  const testSet = datasetFeatureSet(net, test, { ...opts, indices: undefined });
  const ltSet = train && trainLtIndices ? datasetFeatureSet(net, train, { ...opts, indices: trainLtIndices }) : null;
  return realBaselines(testSet, ltSet, { ...opts, numClasses: opts.numClasses ?? test.numClasses });
}
