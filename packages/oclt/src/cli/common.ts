/**
 * Node-only pieces shared by the `oclt` subcommands: the data (Fashion-MNIST-LT or a synthetic stand-in for
 * tests), the denoiser, the run description written next to every result (config + git commit), and atomic
 * JSON output.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Generator, fromTypedArray, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { ArrayDataset, DDIMScheduler, DDPMScheduler, MLPDenoiser, UNet2D, resizeBilinear, type Denoiser } from '@oclt/diffusion';
import { FASHION_MNIST_CLASSES, fashionMnistDir, loadFashionMnist, writeFileAtomic } from '@oclt/diffusion/node';
import { classGroups, makeLongTailedSubset } from '../long-tailed-dataset.js';
import { OC_LT_REFERENCE_SAMPLING } from '../reference-sampling.js';
import { UsageError, type OptionSpecs } from './args.js';

export const NUM_CLASSES = 10;
/** Upscaling of the PNG sample grids (16 px images become 64 px): readable when opened, exact pixels kept. */
export const GRID_SCALE = 4;

/** Options every data-using subcommand accepts. */
export const DATA_OPTIONS = {
  dataset: { type: 'string', description: "'fashion-mnist' (IDX files) or 'synthetic' (generated stripes, for tests)", default: 'fashion-mnist', choices: ['fashion-mnist', 'synthetic'] },
  'data-dir': { type: 'string', description: 'directory of the Fashion-MNIST IDX files (default: $OCLT_FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist)', default: '' },
  'image-size': { type: 'integer', description: 'images are resized (bilinear) from the size in the files (28x28 for Fashion-MNIST) to this size', default: 16, min: 8, max: 28 },
  imbalance: { type: 'number', description: 'long-tail imbalance n_min / n_max (Cao et al. 2019)', default: 0.01, above: 0, max: 1 },
  'lt-seed': { type: 'integer', description: 'seed of the within-class shuffle that picks the long-tailed subset', default: 0 },
  'class-order': {
    type: 'string',
    description: "which class takes which rank of the long tail, head first: a permutation of 0..9 as a comma list (the paper's Table 5 shifts it; default 0,1,...,9: class 0 the head)",
    default: '',
  },
} as const satisfies OptionSpecs;

export interface DataConfig {
  dataset: 'fashion-mnist' | 'synthetic';
  dataDir: string;
  imageSize: number;
  imbalance: number;
  ltSeed: number;
  /** classOrder[rank] = class label, head first; absent for the default 0, 1, ..., 9 (so older run configs compare equal). */
  classOrder?: number[];
}

/** `--class-order`: a permutation of 0..NUM_CLASSES-1 as a comma list; undefined for '' and for the identity. */
export function parseClassOrder(text: string): number[] | undefined {
  if (text === '') return undefined;
  const parts = text.split(',').map((p) => p.trim());
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) throw new UsageError(`--class-order must be a comma list of class labels 0..${NUM_CLASSES - 1}, got '${text}' ('${bad}' is not one)`);
  const order = parts.map(Number);
  const missing = [...Array(NUM_CLASSES).keys()].filter((c) => !order.includes(c));
  if (order.length !== NUM_CLASSES || missing.length || order.some((c) => c >= NUM_CLASSES)) {
    throw new UsageError(`--class-order must list each of the ${NUM_CLASSES} classes 0..${NUM_CLASSES - 1} once (head first), got '${text}'${missing.length ? ` (missing ${missing.join(', ')})` : ''}`);
  }
  return order.every((c, r) => c === r) ? undefined : order;
}

/** The data flags, checked (a UsageError naming the flag): --image-size in 8..28, --data-dir an existing directory. */
export function dataConfigFrom(o: { dataset: string; 'data-dir': string; 'image-size': number; imbalance: number; 'lt-seed': number; 'class-order'?: string }): DataConfig {
  if (!(o['image-size'] >= 8 && o['image-size'] <= 28)) throw new UsageError(`--image-size must be in 8..28 (the feature network's range), got ${o['image-size']}`);
  if (!(o.imbalance > 0 && o.imbalance <= 1)) throw new UsageError(`--imbalance must be in (0, 1], got ${o.imbalance}`);
  if (o['data-dir'] !== '') {
    let isDir = false;
    try {
      isDir = fs.statSync(o['data-dir']).isDirectory();
    } catch (err) {
      throw new UsageError(`--data-dir ${o['data-dir']} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!isDir) throw new UsageError(`--data-dir ${o['data-dir']} is not a directory`);
  }
  const cfg: DataConfig = { dataset: o.dataset as DataConfig['dataset'], dataDir: o['data-dir'], imageSize: o['image-size'], imbalance: o.imbalance, ltSeed: o['lt-seed'] };
  const classOrder = parseClassOrder(o['class-order'] ?? '');
  if (classOrder) cfg.classOrder = classOrder;
  return cfg;
}

/** Labelled images as float32 in [-1, 1], row-major [N, 1, S, S]. */
export interface ImageSet {
  pixels: Float32Array;
  labels: Int32Array;
  size: number;
  count: number;
}

export function imageTensor(set: ImageSet): Tensor {
  return fromTypedArray(set.pixels, [set.count, 1, set.size, set.size]);
}

/**
 * A synthetic stand-in for Fashion-MNIST (same format, 28x28 bytes): class c is a bright horizontal band at a
 * class-specific height with random intensity and pixel noise. Deterministic for a seed.
 */
export function syntheticImages(perClass: number, seed: number): { pixels: Uint8Array; labels: Int32Array } {
  const n = perClass * NUM_CLASSES;
  const pixels = new Uint8Array(n * 784);
  const labels = new Int32Array(n);
  const gen = new Generator(seed);
  for (let i = 0; i < n; i++) {
    const c = i % NUM_CLASSES;
    labels[i] = c;
    const top = 2 + 2 * c;
    const level = 150 + 100 * gen.random();
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const base = y >= top && y < top + 5 ? level : 10;
        pixels[i * 784 + y * 28 + x] = Math.max(0, Math.min(255, Math.round(base + 20 * (gen.random() - 0.5))));
      }
    }
  }
  return { pixels, labels };
}

/** One split as bytes: `count` images of height x width (any size; the IDX files say which), one label each. */
interface RawSplit {
  pixels: Uint8Array;
  labels: Int32Array;
  height: number;
  width: number;
  /** Where it came from, for error messages. */
  source: string;
}

function rawSplit(cfg: DataConfig, split: 'train' | 'test'): RawSplit {
  if (cfg.dataset === 'synthetic') return { ...syntheticImages(split === 'train' ? 120 : 40, split === 'train' ? 1 : 2), height: 28, width: 28, source: `synthetic ${split} split` };
  const ds = loadFashionMnist({ split, dir: cfg.dataDir || undefined });
  const raw: RawSplit = { pixels: ds.pixels, labels: ds.labels!, height: ds.height, width: ds.width, source: `the ${split} split in ${fashionMnistDir(cfg.dataDir || undefined)}` };
  if (raw.pixels.length !== raw.labels.length * raw.height * raw.width) throw new Error(`${raw.source}: ${raw.pixels.length} pixel bytes for ${raw.labels.length} labels of ${raw.height}x${raw.width} images`);
  return raw;
}

/** Resizes selected byte images (any H x W) to S x S floats in [-1, 1] (bilinear, in chunks to bound memory). */
function toImageSet(raw: RawSplit, rows: ArrayLike<number>, size: number): ImageSet {
  const n = rows.length;
  const per = raw.height * raw.width;
  const out = new Float32Array(n * size * size);
  const chunk = 1000;
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const src = new Float32Array((e - s) * per);
    for (let i = s; i < e; i++) {
      const r = rows[i]!;
      if (!(r >= 0 && r < raw.labels.length)) throw new RangeError(`toImageSet: row ${r} is outside the ${raw.labels.length} images of ${raw.source}`);
      for (let k = 0; k < per; k++) src[(i - s) * per + k] = raw.pixels[r * per + k]! / 127.5 - 1;
    }
    const resized = resizeBilinear(fromTypedArray(src, [e - s, 1, raw.height, raw.width]), size, size).toTypedArray() as Float32Array;
    out.set(resized, s * size * size);
  }
  return { pixels: out, labels: Int32Array.from(rows, (r) => raw.labels[r]!), size, count: n };
}

/** Every class must have images: a long-tailed subset and the class-balanced metrics need all ten. */
function checkAllClasses(raw: RawSplit, classNames: readonly string[]): void {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (const y of raw.labels) {
    if (!(y >= 0 && y < NUM_CLASSES)) throw new RangeError(`${raw.source}: label ${y} is outside 0..${NUM_CLASSES - 1}`);
    counts[y]!++;
  }
  const missing = counts.flatMap((c, k) => (c === 0 ? [`${k} (${classNames[k]})`] : []));
  if (missing.length) throw new Error(`${raw.source} has no image of class ${missing.join(', ')}: every one of the ${NUM_CLASSES} classes needs at least one (counts [${counts.join(', ')}])`);
}

export interface LongTailedData {
  train: ImageSet;
  classCounts: number[];
  /** Head / medium / tail class lists (rank thirds of the training counts). */
  groups: Record<string, number[]>;
  classNames: readonly string[];
}

/** The long-tailed training subset (class 0 the head), resized. */
export function loadLongTailedTrain(cfg: DataConfig): LongTailedData {
  const raw = rawSplit(cfg, 'train');
  checkAllClasses(raw, FASHION_MNIST_CLASSES);
  const lt = makeLongTailedSubset(raw.labels, { imbalance: cfg.imbalance, numClasses: NUM_CLASSES, seed: cfg.ltSeed, classOrder: cfg.classOrder });
  const groupOf = classGroups(lt.classCounts);
  const groups: Record<string, number[]> = { head: [], medium: [], tail: [] };
  groupOf.forEach((g, c) => groups[g]!.push(c));
  return { train: toImageSet(raw, lt.indices, cfg.imageSize), classCounts: lt.classCounts, groups, classNames: cfg.dataset === 'synthetic' ? [...Array(NUM_CLASSES).keys()].map((c) => `band${c}`) : FASHION_MNIST_CLASSES };
}

/** The balanced test split, resized (the reference set of every metric). */
export function loadTestSet(cfg: DataConfig): ImageSet {
  const raw = rawSplit(cfg, 'test');
  checkAllClasses(raw, FASHION_MNIST_CLASSES);
  return toImageSet(raw, Int32Array.from(raw.labels.keys()), cfg.imageSize);
}

/** `perClass` images of every class from the balanced training split (a real-data floor at a given N), seeded. */
export function balancedTrainSample(cfg: DataConfig, perClass: number, seed: number): ImageSet {
  const raw = rawSplit(cfg, 'train');
  const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
  raw.labels.forEach((y, i) => byClass[y]!.push(i));
  const gen = new Generator(seed);
  const rows: number[] = [];
  for (let k = 0; k < perClass; k++) for (let c = 0; c < NUM_CLASSES; c++) rows.push(-1);
  let p = 0;
  for (let c = 0; c < NUM_CLASSES; c++) {
    const members = byClass[c]!;
    if (members.length < perClass) throw new Error(`balancedTrainSample: class ${c} has ${members.length} images, need ${perClass}`);
    const perm = gen.permutation(members.length);
    for (let k = 0; k < perClass; k++) rows[p++] = members[perm[k]!]!;
  }
  return toImageSet(raw, rows, cfg.imageSize);
}

export const MODEL_OPTIONS = {
  model: { type: 'string', description: "denoiser: 'mlp' (residual MLP on flattened pixels) or 'unet' (UNet2D)", default: 'mlp', choices: ['mlp', 'unet'] },
  hidden: { type: 'integer', description: 'MLP hidden width', default: 512, min: 1, max: 8192 },
  layers: { type: 'integer', description: 'MLP residual layers', default: 3, min: 0, max: 256 },
  channels: { type: 'integer', description: 'UNet base channels, even (mult [1, 2], 1 res block per level, attention at the lowest resolution)', default: 16, min: 4, max: 1024 },
  'model-seed': { type: 'integer', description: 'seed of the initial weights', default: 0 },
  prediction: {
    type: 'string',
    description: "what the network outputs: 'epsilon' (the paper) or 'sample' (x0; the same Eq. 8 targets, since a transferred eps implies x0 = x0_z, with x0-space loss weighting)",
    default: 'epsilon',
    choices: ['epsilon', 'sample'],
  },
} as const satisfies OptionSpecs;

export interface ModelConfig {
  kind: 'mlp' | 'unet';
  imageSize: number;
  hidden: number;
  layers: number;
  channels: number;
  numClasses: number;
  seed: number;
  prediction: 'epsilon' | 'sample';
}

/** The model flags, checked against each other (a UsageError naming the flag). */
export function modelConfigFrom(o: { model: string; hidden: number; layers: number; channels: number; 'model-seed': number; prediction: string }, imageSize: number, numClasses: number): ModelConfig {
  if (o.model === 'unet') {
    // The sinusoidal time embedding has --channels dimensions (even, >= 4); one downsampling halves the image.
    if (!(Number.isInteger(o.channels) && o.channels >= 4 && o.channels % 2 === 0)) throw new UsageError(`--channels must be an even integer >= 4 for --model unet, got ${o.channels}`);
    if (imageSize % 2 !== 0) throw new UsageError(`--image-size must be even for --model unet (it downsamples once), got ${imageSize}`);
  }
  return { kind: o.model as ModelConfig['kind'], imageSize, hidden: o.hidden, layers: o.layers, channels: o.channels, numClasses, seed: o['model-seed'], prediction: o.prediction as ModelConfig['prediction'] };
}

/** The training scheduler: linear betas 1e-4..0.02, T = 1000 (DDPM), the model's prediction type. */
export function trainingScheduler(c: ModelConfig): DDPMScheduler {
  return new DDPMScheduler({ predictionType: c.prediction });
}

/** Options of the commands that sample (how DDIM treats x0). */
export const SAMPLING_OPTIONS = {
  'clip-x0': {
    type: 'string',
    description:
      "clip DDIM's predicted x0 at every step: 'none' (OC_LT's sampler, the paper's numbers) or '1' (to [-1, 1], as DDIM's and diffusers' reference code; the eps is then re-derived from the clipped x0). The samples themselves are always clipped to [-1, 1] at the end",
    default: 'none',
    choices: ['none', '1'],
  },
} as const satisfies OptionSpecs;

export interface SamplingConfig {
  /** The x0 clip range of every DDIM step, or null (no clipping: OC_LT's reference sampler). */
  clipX0: number | null;
}

/** The reference: OC_LT's sampler (`OC_LT_REFERENCE_SAMPLING`) does not clip x0. */
export const DEFAULT_SAMPLING: SamplingConfig = { clipX0: OC_LT_REFERENCE_SAMPLING.clipSample };

export function samplingConfigFrom(o: { 'clip-x0': string }): SamplingConfig {
  if (o['clip-x0'] === 'none') return { clipX0: null };
  if (o['clip-x0'] === '1') return { clipX0: 1 };
  throw new UsageError(`--clip-x0 must be 'none' or '1', got '${o['clip-x0']}'`);
}

/**
 * The sampling scheduler: DDIM as the released OC_LT code samples (see reference-sampling.ts): 'leading' timesteps
 * (T - T/n, ..., 0), eta 0, and a last step from t = 0 to abar_0 itself rather than to abar = 1
 * (`setAlphaToOne: false`). x0 is not clipped by default (OC_LT's clip is commented out); `clipX0: 1` clips it to
 * [-1, 1] at every step. The number of steps is the caller's (`sample`'s numInferenceSteps).
 */
export function samplingScheduler(c: ModelConfig, s: SamplingConfig = DEFAULT_SAMPLING): DDIMScheduler {
  const r = OC_LT_REFERENCE_SAMPLING;
  return new DDIMScheduler({ predictionType: c.prediction, timestepSpacing: r.timestepSpacing, eta: r.eta, setAlphaToOne: r.setAlphaToOne, clipSample: s.clipX0 });
}

export function buildModel(c: ModelConfig): Denoiser {
  if (c.kind === 'mlp') return new MLPDenoiser({ dataDim: c.imageSize * c.imageSize, hidden: c.hidden, numLayers: c.layers, numClasses: c.numClasses, seed: c.seed });
  const lowest = c.imageSize / 2;
  return new UNet2D({
    sampleSize: c.imageSize,
    inChannels: 1,
    baseChannels: c.channels,
    channelMult: [1, 2],
    numResBlocks: 1,
    attentionResolutions: Number.isInteger(lowest) ? [lowest] : [],
    dropout: 0.1,
    numClasses: c.numClasses,
    numGroups: 8,
    seed: c.seed,
  });
}

/** The shape of one model input: flattened for the MLP, [1, S, S] for the UNet. */
export function modelSampleShape(c: ModelConfig): number[] {
  return c.kind === 'mlp' ? [c.imageSize * c.imageSize] : [1, c.imageSize, c.imageSize];
}

/** The training set in the model's input layout. */
export function trainingDataset(set: ImageSet, c: ModelConfig): ArrayDataset {
  return new ArrayDataset(set.pixels, modelSampleShape(c), set.labels, NUM_CLASSES);
}

/** Model outputs [N, ...] as images [N, 1, S, S] clipped to [-1, 1] (what grids and metrics take). */
export function asImages(x: Tensor, imageSize: number): Tensor {
  return x.reshape([x.shape[0]!, 1, imageSize, imageSize]).clamp(-1, 1);
}

/** Class-balanced labels for n samples, grouped by class: [0 x n/C, 1 x n/C, ...] (n divisible by C). */
export function balancedLabels(n: number): Int32Array {
  if (n % NUM_CLASSES !== 0) throw new Error(`balancedLabels: the number of samples (${n}) must be a multiple of ${NUM_CLASSES} for class-balanced sampling`);
  return Int32Array.from({ length: n }, (_, i) => Math.floor(i / (n / NUM_CLASSES)));
}

/** HEAD of the checkout, or 'unknown' outside git. */
export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** What every result file carries: the command line, the configuration and where/when it ran. */
export function provenance(command: string, config: unknown): Record<string, unknown> {
  return {
    command: `oclt ${command}`,
    argv: process.argv.slice(2),
    config,
    gitCommit: gitCommit(),
    node: process.version,
    machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}`,
    date: new Date().toISOString(),
  };
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Rounds for reports (keeps JSON readable without losing what matters). */
export function round(x: number | null | undefined, digits = 4): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  return Number(x.toPrecision(digits));
}
