/**
 * `oclt eval`: FID, KID, Inception-style score, precision/recall and per-class FID (with head/medium/tail
 * averages) of generated samples against the balanced Fashion-MNIST test set, through the project's fixed
 * feature network, each reported with real-vs-real baselines.
 *
 * Per-class FID needs a class per generated image: the conditioning label for conditional models; for
 * unconditional models the feature network's predicted class (stated in the output as `labelSource`), which names
 * a data class only for 10-class data (the feature network has Fashion-MNIST's 10 classes).
 *
 * The reference set is the balanced test set, or with `--reference long-tailed` the long-tailed training subset the
 * models learn from (the paper's Table 6: the choice of reference changes which model looks better); its
 * real-vs-real baselines then say how the balanced test set itself scores against it.
 *
 * RGB data (CIFAR, 3-channel IDX) goes through the grayscale feature network as its luminance
 * 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), generated and real images alike (stated as `featureInput`).
 */
import fs from 'node:fs';
import { Generator, fromTypedArray, type Tensor } from '@oclt/tensor';
import { decodeSafetensors } from '@oclt/autograd';
import { findNonFinite } from '@oclt/diffusion';
import {
  FEATURE_NET_CLASSES,
  FeatureNet,
  evaluateFeatureSets,
  featureSetOfImages,
  selectFeatureSet,
  stratifiedHalves,
  type EvaluationOptions,
  type FeatureNetInfo,
  type FeatureSet,
  type MetricsReport,
} from '@oclt/metrics';
import { ProgressBar } from '@oclt/diffusion/node';
import { loadFeatureNet } from '@oclt/metrics/node';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { DATA_OPTIONS, NUM_CLASSES, balancedTrainSample, channelsOf, dataConfigFrom, imageTensor, numClassesOf, loadLongTailedTrain, loadTestSet, provenance, readJson, writeJson, type DataConfig, type SamplingConfig } from './common.js';
import type { GeneratedSamples } from './generate.js';

export interface EvaluationResult {
  /** Where the per-class labels of the generated images came from. */
  labelSource: 'conditioning' | 'feature-net';
  /** Generated images per class as the feature network classifies them (the class balance actually produced). */
  predictedClassCounts: number[];
  metrics: MetricsReport;
  /** Set when per-class FID could not be computed (e.g. a class never generated). */
  perClassFidError?: string;
}

/** What the generated images are compared with: the balanced test set, or the long-tailed training subset (Table 6). */
export type ReferenceSet = 'balanced' | 'long-tailed';

/** In result files: which images the reference is. */
export const REFERENCE_DESCRIPTION: Record<ReferenceSet, string> = {
  balanced: 'the balanced test set',
  'long-tailed': 'the long-tailed training subset (the data the models learn from)',
};

export interface FeatureNetChoice {
  /** A shipped version name, or 'random-untrained' (tests only: metrics from random weights are meaningless). */
  version: string;
}

export async function featureNetFor(choice: FeatureNetChoice): Promise<{ net: FeatureNet; info: FeatureNetInfo | { name: string; warning: string } }> {
  if (choice.version === 'random-untrained') {
    return { net: new FeatureNet({ generator: new Generator(0) }), info: { name: 'random-untrained', warning: 'untrained feature network: for tests only, the metrics mean nothing' } };
  }
  return loadFeatureNet(choice.version);
}

/** The feature network, the reference features and the class groups: computed once, used for every evaluation. */
export class MetricsContext {
  private constructor(
    readonly net: FeatureNet,
    readonly featureNetInfo: unknown,
    readonly data: DataConfig,
    readonly test: FeatureSet,
    readonly groups: Record<string, number[]>,
    readonly classCounts: number[],
    readonly kidSubsetSize: number,
    readonly progress: boolean,
    /** Which set `test` holds: the balanced test set (default) or the long-tailed training subset. */
    readonly reference: ReferenceSet,
  ) {}

  /** `progress`: a bar (images/s, ETA) on stderr for each pass through the feature network; default when it is a terminal. */
  static async create(data: DataConfig, choice: FeatureNetChoice, opts: { kidSubsetSize?: number; progress?: boolean; reference?: ReferenceSet } = {}): Promise<MetricsContext> {
    const { net, info } = await featureNetFor(choice);
    const reference = opts.reference ?? 'balanced';
    const lt = loadLongTailedTrain(data);
    const progress = opts.progress ?? Boolean(process.stderr.isTTY);
    const set = reference === 'balanced' ? loadTestSet(data) : lt.train;
    const features = featuresWithProgress(net, featureInput(imageTensor(set)), set.labels, `features: ${reference === 'balanced' ? 'test set' : 'long-tailed train set'}`, progress);
    return new MetricsContext(net, info, data, features, lt.groups, lt.classCounts, opts.kidSubsetSize ?? 1000, progress, reference);
  }

  private features(label: string, images: Tensor, labels?: ArrayLike<number>): FeatureSet {
    return featuresWithProgress(this.net, featureInput(images), labels, label, this.progress);
  }

  /** The classes of the data (10 for Fashion-MNIST and CIFAR-10, 100 for CIFAR-100). */
  get numClasses(): number {
    return numClassesOf(this.data);
  }

  /** What the feature network is fed: the images, or the luminance of RGB ones. */
  get featureInput(): 'images' | 'luminance of the RGB images (BT.601)' {
    return channelsOf(this.data) === 3 ? 'luminance of the RGB images (BT.601)' : 'images';
  }

  private options(nGenerated: number) {
    return { numClasses: this.numClasses, groups: this.groups, kidSubsetSize: Math.min(this.kidSubsetSize, nGenerated), seed: 0 };
  }

  evaluate(samples: GeneratedSamples): EvaluationResult {
    const fs0 = this.features('features: samples', samples.images);
    const c = fs0.probs!.length / fs0.features.rows;
    const predicted = Int32Array.from({ length: fs0.features.rows }, (_, i) => {
      let best = 0;
      for (let k = 1; k < c; k++) if (fs0.probs![i * c + k]! > fs0.probs![i * c + best]!) best = k;
      return best;
    });
    const predictedClassCounts = new Array<number>(FEATURE_NET_CLASSES).fill(0);
    predicted.forEach((y) => predictedClassCounts[y]!++);
    const labelSource = samples.labels ? 'conditioning' : 'feature-net';
    // The feature network's classes are the data's only for 10-class data: otherwise no per-class FID unconditionally.
    const predictedIsDataClass = this.numClasses === FEATURE_NET_CLASSES;
    const labels = samples.labels ?? (predictedIsDataClass ? predicted : undefined);
    const generated: FeatureSet = labels ? { ...fs0, labels } : { features: fs0.features, probs: fs0.probs };
    const metrics = evaluateWithFallback(generated, this.test, this.options(fs0.features.rows));
    // Per-class FID needs >= 2 samples of every class; an unconditional model may never produce a tail class.
    const result: EvaluationResult = { labelSource, predictedClassCounts, metrics };
    if (!labels) result.perClassFidError = `per-class FID of an unconditional model needs the feature network's predicted class to be a data class; it has ${FEATURE_NET_CLASSES} classes, the data ${this.numClasses}`;
    else if (!metrics.per_class_fid) result.perClassFidError = `per-class FID needs at least 2 generated samples of every class; got [${predictedClassCounts.join(', ')}] (${labelSource})`;
    return result;
  }

  /**
   * Real-vs-real baselines: test half vs half, the long-tailed training set vs test, and `nGenerated` class-balanced
   * real training images vs test (the floor of a perfect balanced generator at the evaluated N).
   */
  baselines(nGenerated: number): Record<string, MetricsReport> {
    if (this.reference === 'long-tailed') return this.longTailedReferenceBaselines(nGenerated);
    const lt = loadLongTailedTrain(this.data);
    const ltFeatures = this.features('features: long-tailed train set', imageTensor(lt.train), lt.train.labels);
    const opts = this.options(nGenerated);
    const real = balancedTrainSample(this.data, Math.max(1, Math.floor(nGenerated / this.numClasses)), 12345);
    const realFeatures = this.features('features: balanced real sample', imageTensor(real), real.labels);
    const [a, b] = stratifiedHalves(this.test.labels!, this.numClasses);
    // Each comparison is seconds of FID/KID/precision-recall work: a bar over them (ETA) on a terminal.
    const pairs: [string, FeatureSet, FeatureSet][] = [
      ['test_half_vs_half', selectFeatureSet(this.test, a), selectFeatureSet(this.test, b)],
      ['train_lt_vs_test', ltFeatures, this.test],
      ['balanced_train_sameN_vs_test', realFeatures, this.test],
    ];
    const bar = new ProgressBar({ total: pairs.length, enabled: this.progress, label: 'metrics: real-vs-real baselines' });
    bar.begin();
    const out: Record<string, MetricsReport> = {};
    try {
      for (const [name, x, y] of pairs) {
        out[name] = evaluateWithFallback(x, y, opts);
        bar.update(Object.keys(out).length, name);
      }
    } finally {
      bar.end();
    }
    return out;
  }

  /**
   * Against the long-tailed reference: its own stratified halves (the floor), and the balanced test set (what a
   * perfect balanced generator would score: the paper's Table 6 puts real balanced data against the LT reference).
   */
  private longTailedReferenceBaselines(nGenerated: number): Record<string, MetricsReport> {
    const opts = this.options(nGenerated);
    const test = loadTestSet(this.data);
    const testFeatures = this.features('features: balanced test set', imageTensor(test), test.labels);
    const [a, b] = stratifiedHalves(this.test.labels!, this.numClasses);
    return {
      lt_reference_half_vs_half: evaluateWithFallback(selectFeatureSet(this.test, a), selectFeatureSet(this.test, b), opts),
      balanced_test_vs_lt_reference: evaluateWithFallback(testFeatures, this.test, opts),
    };
  }
}

/** Images [N, C, H, W] as the grayscale feature network takes them: unchanged for C = 1, the BT.601 luminance for C = 3. */
export function featureInput(images: Tensor): Tensor {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (c === 1) return images;
  if (c !== 3) throw new RangeError(`featureInput: images must have 1 or 3 channels, got [${images.shape}]`);
  const v = images.contiguous().toTypedArray() as ArrayLike<number>;
  const plane = h * w;
  const out = new Float32Array(n * plane);
  for (let i = 0; i < n; i++) {
    const o = i * 3 * plane;
    for (let k = 0; k < plane; k++) out[i * plane + k] = 0.299 * v[o + k]! + 0.587 * v[o + plane + k]! + 0.114 * v[o + 2 * plane + k]!;
  }
  return fromTypedArray(out, [n, 1, h, w]);
}

/** The feature network over a set of images, with a progress bar (it/s = images/s, ETA) when asked. */
function featuresWithProgress(net: FeatureNet, images: Tensor, labels: ArrayLike<number> | undefined, label: string, progress: boolean): FeatureSet {
  const bar = new ProgressBar({ total: images.shape[0]!, enabled: progress, label });
  bar.begin();
  try {
    return featureSetOfImages(net, images, labels, { onBatch: (done) => bar.update(done) });
  } finally {
    bar.end();
  }
}

/**
 * All metrics; without per-class FID when a class has fewer than 2 samples (reported as per_class_fid null).
 * The generated rows are put in a seeded random order first: the Inception-style score averages over splits of
 * consecutive rows, and a set sorted by class (class-balanced sampling, stratified halves) would give every split
 * a single class and a score near 1. The other metrics do not depend on the order.
 */
function evaluateWithFallback(unordered: FeatureSet, reference: FeatureSet, opts: EvaluationOptions): MetricsReport {
  const generated = selectFeatureSet(unordered, new Generator(777).permutation(unordered.features.rows));
  try {
    return evaluateFeatureSets(generated, reference, opts);
  } catch (err) {
    if (!/perClassFid/.test((err as Error).message)) throw err;
    return evaluateFeatureSets({ features: generated.features, probs: generated.probs }, reference, opts);
  }
}

/** Reads samples written by `oclt sample`, checked: images [N, C, S, S] (C 1 or 3) all finite, labels [N] in 0..numClasses-1. */
export function loadSamples(file: string, numClasses = NUM_CLASSES): GeneratedSamples {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  const images = tensors.images;
  if (!images) throw new Error(`${file} has no 'images' tensor (write samples with 'oclt sample')`);
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3) || images.shape[2] !== images.shape[3] || images.shape[0]! < 1) throw new Error(`${file}: images must be [N, C, S, S] with C 1 or 3, got [${images.shape}]`);
  const bad = findNonFinite({ images });
  if (bad) throw new Error(`${file}: ${bad.count} of ${bad.size} image values are NaN or infinite (e.g. [${bad.index}] = ${bad.value}); these samples cannot be evaluated`);
  const labels = tensors.labels ? Int32Array.from(tensors.labels.toTypedArray() as ArrayLike<number>) : null;
  if (labels) {
    if (labels.length !== images.shape[0]) throw new Error(`${file}: ${labels.length} labels for ${images.shape[0]} images`);
    const i = labels.findIndex((y) => !(y >= 0 && y < numClasses));
    if (i >= 0) throw new Error(`${file}: label ${labels[i]} of sample ${i} is outside 0..${numClasses - 1}`);
  }
  return { images: images as Tensor, labels };
}

export const EVAL_OPTIONS = {
  samples: { type: 'string', description: "samples written by 'oclt sample' (<prefix>.safetensors)" },
  out: { type: 'string', description: 'result JSON (default: <samples prefix>.metrics.json)', default: '' },
  'feature-net': { type: 'string', description: "feature network version (shipped in @oclt/metrics's assets/), or 'random-untrained' for tests", default: 'fmnist-features-v1' },
  baselines: { type: 'boolean', description: 'also compute the real-vs-real baselines', default: true },
  reference: { type: 'string', description: "the real images the samples are compared with: 'balanced' (the balanced test set) or 'long-tailed' (the long-tailed training subset the models learn from: the paper's Table 6)", default: 'balanced', choices: ['balanced', 'long-tailed'] },
  progress: { type: 'boolean', description: 'progress bars on stderr (default: when it is a terminal)', default: process.stderr.isTTY ?? false },
  ...DATA_OPTIONS,
} as const satisfies OptionSpecs;

export async function evalCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('eval', argv, EVAL_OPTIONS);
  const prefix = o.samples.replace(/\.safetensors$/, '');
  if (!fs.existsSync(`${prefix}.safetensors`) || !fs.statSync(`${prefix}.safetensors`).isFile()) throw new UsageError(`--samples ${prefix}.safetensors is not a file (write samples with 'oclt sample')`);
  // The data config of the run that made the samples, when its description is beside them.
  let data = dataConfigFrom(o);
  const described = `${prefix}.json`;
  // How the samples were drawn (the sampler and its x0 clipping; `scheduler` absent: DDIM), as their description says; null where it does not say
  // (no description, or one written before `oclt sample --clip-x0`: before commit b45e427 x0 was clipped, after it not).
  let sampling: SamplingConfig | null = null;
  if (fs.existsSync(described)) {
    const c = readJson<{ config?: { train?: { data?: DataConfig }; sampling?: SamplingConfig } }>(described).config;
    if (c?.train?.data) data = c.train.data;
    if (c?.sampling) sampling = c.sampling;
  }
  const samples = loadSamples(`${prefix}.safetensors`, numClassesOf(data));
  const size = samples.images.shape[2]!;
  if (size !== data.imageSize) throw new Error(`the samples are ${size}x${size} but the data config says --image-size ${data.imageSize}`);
  const channels = samples.images.shape[1]!;
  if (channels !== channelsOf(data)) throw new Error(`the samples have ${channels} channel(s) but the data (--dataset ${data.dataset}) has ${channelsOf(data)}`);
  const t0 = performance.now();
  const reference = o.reference as ReferenceSet;
  const ctx = await MetricsContext.create(data, { version: o['feature-net'] }, { progress: o.progress, reference });
  const result = ctx.evaluate(samples);
  const baselines = o.baselines ? ctx.baselines(samples.images.shape[0]!) : null;
  const out = o.out || `${prefix}.metrics.json`;
  writeJson(out, { kind: 'oclt-eval', ...provenance('eval', { samples: o.samples, data, sampling, featureNet: ctx.featureNetInfo, featureInput: ctx.featureInput, ...(reference === 'balanced' ? {} : { reference }) }), referenceSet: REFERENCE_DESCRIPTION[reference], groups: ctx.groups, ...result, baselines, wallSeconds: (performance.now() - t0) / 1000 });
  const m = result.metrics;
  console.log(`FID ${m.fid.toFixed(2)}  KID ${m.kid_mean.toFixed(4)}  IS ${m.is_mean?.toFixed(2)}  precision ${m.precision.toFixed(3)}  recall ${m.recall.toFixed(3)} -> ${out}`);
  return 0;
}

export const EVAL_HELP = helpText('eval', 'Metrics of generated samples against the balanced test set or (--reference long-tailed) the long-tailed training subset (feature network of this project; RGB data through its BT.601 luminance), with real-vs-real baselines.', EVAL_OPTIONS);
