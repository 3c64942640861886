/**
 * Node-only pieces shared by the `oclt` subcommands: the data (Fashion-MNIST-LT, CIFAR-10/100-LT from the binary
 * files, any labelled IDX pair, or a synthetic stand-in for tests), the denoiser, the run description written next to every result (config + git commit), and atomic
 * JSON output.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Generator, fromTypedArray, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { ArrayDataset, CIFAR10_CLASSES, DDPMScheduler, MLPDenoiser, ReferenceUNet, SCHEDULERS, SCHEDULER_NAMES, UNet2D, createScheduler, isSchedulerName, type DDIMScheduler, type Denoiser, type ResolvedReferenceUNetConfig, type SchedulerBase, type SchedulerConfig, type SchedulerConfigOf, type SchedulerName } from '@oclt/diffusion';
import { resizeBilinear } from '@oclt/metrics';
import { FASHION_MNIST_CLASSES, cifarDir, fashionMnistDir, loadCifar10, loadCifar100, loadFashionMnist, readIdxFile, writeFileAtomic } from '@oclt/diffusion/node';
import { classGroups, makeLongTailedSubset } from '../long-tailed-dataset.js';
import { OC_LT_REFERENCE_SAMPLING } from '../reference-sampling.js';
import { UsageError, type OptionSpecs } from './args.js';

/** The number of classes of Fashion-MNIST, CIFAR-10 and the synthetic set (the default of a DataConfig). */
export const NUM_CLASSES = 10;
/** Upscaling of the PNG sample grids (16 px images become 64 px): readable when opened, exact pixels kept. */
export const GRID_SCALE = 4;

/** Options every data-using subcommand accepts. */
export const DATA_OPTIONS = {
  dataset: {
    type: 'string',
    description:
      "'fashion-mnist' (IDX files, 10 classes, grayscale), 'cifar10' / 'cifar100' (the CIFAR binary version: data_batch_1..5.bin + test_batch.bin / train.bin + test.bin with the 100 fine labels; RGB), 'idx' (any labelled IDX pair in --data-dir: *train*images*idx* + *train*labels*idx*, *t10k* or *test* for the test split; images uint8 [N, H, W] grayscale or [N, C, H, W] with C 1 or 3) or 'synthetic' (generated stripes, for tests)",
    default: 'fashion-mnist',
    choices: ['fashion-mnist', 'cifar10', 'cifar100', 'idx', 'synthetic'],
  },
  'data-dir': {
    type: 'string',
    description:
      'directory of the data files (fashion-mnist: default $OCLT_FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist; cifar10 / cifar100: default $OCLT_CIFAR10_DIR / $OCLT_CIFAR100_DIR, the folder of the .bin files or the one above it; idx: required)',
    default: '',
  },
  'num-classes': { type: 'integer', description: "--dataset idx: the number of classes, labels 0..n-1 (0: 10; the other data sets have their own: 10, CIFAR-100 100)", default: 0, min: 0, max: 1000 },
  'image-size': { type: 'integer', description: 'images are resized (bilinear) from the size in the files (28x28 for Fashion-MNIST, 32x32 for CIFAR) to this size: 8..28, up to 32 for cifar10, cifar100 and idx', default: 16, min: 8, max: 32 },
  imbalance: { type: 'number', description: 'long-tail imbalance n_min / n_max (Cao et al. 2019)', default: 0.01, above: 0, max: 1 },
  'lt-seed': { type: 'integer', description: 'seed of the within-class shuffle that picks the long-tailed subset', default: 0 },
  'class-order': {
    type: 'string',
    description: "which class takes which rank of the long tail, head first: a permutation of the labels (0..9 for 10 classes) as a comma list (the paper's Table 5 shifts it; default 0,1,...,9: class 0 the head)",
    default: '',
  },
} as const satisfies OptionSpecs;

export type DatasetName = 'fashion-mnist' | 'cifar10' | 'cifar100' | 'idx' | 'synthetic';

export interface DataConfig {
  dataset: DatasetName;
  dataDir: string;
  imageSize: number;
  imbalance: number;
  ltSeed: number;
  /** classOrder[rank] = class label, head first; absent for the default 0, 1, ..., 9 (so older run configs compare equal). */
  classOrder?: number[];
  /** The number of classes; absent for NUM_CLASSES (10), so older run configs compare equal. */
  numClasses?: number;
  /** Image channels (1 grayscale, 3 RGB); absent for 1. */
  channels?: number;
}

/** The number of classes of a data config (10 unless it says otherwise). */
export function numClassesOf(d: Pick<DataConfig, 'numClasses'>): number {
  return d.numClasses ?? NUM_CLASSES;
}

/** The data set's name in reports: Fashion-MNIST-LT, CIFAR-10-LT, CIFAR-100-LT or the IDX directory's, -LT. */
export function dataSetTitle(d: Pick<DataConfig, 'dataset' | 'dataDir'>): string {
  if (d.dataset === 'cifar10') return 'CIFAR-10-LT';
  if (d.dataset === 'cifar100') return 'CIFAR-100-LT';
  if (d.dataset === 'idx') return `the IDX data of ${d.dataDir}, long-tailed`;
  if (d.dataset === 'synthetic') return 'synthetic stripes (test data), long-tailed';
  return 'Fashion-MNIST-LT';
}

/** The image channels of a data config (1 unless it says otherwise). */
export function channelsOf(d: Pick<DataConfig, 'channels'>): number {
  return d.channels ?? 1;
}

/** `--class-order`: a permutation of 0..numClasses-1 as a comma list; undefined for '' and for the identity. */
export function parseClassOrder(text: string, numClasses = NUM_CLASSES): number[] | undefined {
  if (text === '') return undefined;
  const parts = text.split(',').map((p) => p.trim());
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) throw new UsageError(`--class-order must be a comma list of class labels 0..${numClasses - 1}, got '${text}' ('${bad}' is not one)`);
  const order = parts.map(Number);
  const missing = [...Array(numClasses).keys()].filter((c) => !order.includes(c));
  if (order.length !== numClasses || missing.length || order.some((c) => c >= numClasses)) {
    throw new UsageError(`--class-order must list each of the ${numClasses} classes 0..${numClasses - 1} once (head first), got '${text}'${missing.length ? ` (missing ${missing.join(', ')})` : ''}`);
  }
  return order.every((c, r) => c === r) ? undefined : order;
}

/**
 * The data flags, checked (a UsageError naming the flag): --image-size in 8..28 (8..32 for CIFAR and IDX data),
 * --data-dir an existing directory (required for --dataset idx), --num-classes only for idx. The channels of IDX
 * images are read from the training images' header.
 */
export function dataConfigFrom(o: { dataset: string; 'data-dir': string; 'image-size': number; imbalance: number; 'lt-seed': number; 'class-order'?: string; 'num-classes'?: number }): DataConfig {
  const dataset = o.dataset as DatasetName;
  if (!['fashion-mnist', 'cifar10', 'cifar100', 'idx', 'synthetic'].includes(dataset)) throw new UsageError(`--dataset must be one of fashion-mnist, cifar10, cifar100, idx, synthetic, got '${o.dataset}'`);
  const maxSize = dataset === 'fashion-mnist' || dataset === 'synthetic' ? 28 : 32;
  if (!(o['image-size'] >= 8 && o['image-size'] <= maxSize)) throw new UsageError(`--image-size must be in 8..${maxSize} (the feature network's range${maxSize === 32 ? '; 32 is CIFAR\'s own size' : ''}), got ${o['image-size']}`);
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
  const givenClasses = o['num-classes'] ?? 0;
  if (givenClasses !== 0 && dataset !== 'idx') throw new UsageError(`--num-classes only applies to --dataset idx (${dataset} has ${dataset === 'cifar100' ? 100 : NUM_CLASSES} classes)`);
  if (givenClasses === 1) throw new UsageError('--num-classes must be at least 2 (a long tail needs a head and a tail), got 1');
  if (dataset === 'idx' && o['data-dir'] === '') throw new UsageError('--dataset idx needs --data-dir <directory of the IDX files>');
  const cfg: DataConfig = { dataset, dataDir: o['data-dir'], imageSize: o['image-size'], imbalance: o.imbalance, ltSeed: o['lt-seed'] };
  const numClasses = dataset === 'cifar100' ? 100 : dataset === 'idx' && givenClasses > 0 ? givenClasses : NUM_CLASSES;
  if (numClasses !== NUM_CLASSES) cfg.numClasses = numClasses;
  const channels = dataset === 'cifar10' || dataset === 'cifar100' ? 3 : dataset === 'idx' ? idxSplitFiles(o['data-dir'], 'train').channels : 1;
  if (channels !== 1) cfg.channels = channels;
  const classOrder = parseClassOrder(o['class-order'] ?? '', numClasses);
  if (classOrder) cfg.classOrder = classOrder;
  return cfg;
}

/** The IDX files of one split in `dir` (by name: 'train' or 't10k'/'test', 'images' or 'labels', 'idx') and the images' channels. */
export function idxSplitFiles(dir: string, split: 'train' | 'test'): { images: string; labels: string; channels: number } {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new UsageError(`--data-dir ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const splitWords = split === 'train' ? ['train'] : ['t10k', 'test'];
  const pick = (kind: 'images' | 'labels'): string => {
    const found = names.filter((n) => {
      const l = n.toLowerCase();
      return l.includes('idx') && l.includes(kind) && splitWords.some((w) => l.includes(w));
    });
    if (found.length === 0) {
      throw new UsageError(`--data-dir ${dir} has no ${split} ${kind} IDX file (a name containing ${splitWords.map((w) => `'${w}'`).join(' or ')}, '${kind}' and 'idx', e.g. ${split === 'train' ? 'train' : 't10k'}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte[.gz])`);
    }
    if (found.length > 1) throw new UsageError(`--data-dir ${dir} has more than one ${split} ${kind} IDX file (${found.join(', ')}); keep one pair per split`);
    return path.join(dir, found[0]!);
  };
  const images = pick('images');
  const labels = pick('labels');
  return { images, labels, channels: idxImageChannels(images) };
}

/** The channels of an IDX image file from its header: [N, H, W] is 1, [N, C, H, W] is C (1 or 3). */
function idxImageChannels(file: string): number {
  const dims = readIdxHeaderDims(file);
  if (dims.length === 3) return 1;
  if (dims.length === 4 && (dims[1] === 1 || dims[1] === 3)) return dims[1]!;
  throw new Error(`${file}: dims: images must be [N, height, width] (grayscale) or [N, C, height, width] with C 1 or 3, got dims [${dims}]`);
}

/** The dims of an IDX file (its header only; a gzipped file is decompressed up to the header). */
function readIdxHeaderDims(file: string): number[] {
  let bytes: Uint8Array = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new Error(`${file} looks gzipped but does not decompress: ${(err as Error).message}`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${file}: magic: not an IDX file (it does not start with the IDX magic 0x0000)`);
  const ndims = bytes[3]!;
  if (bytes.length < 4 + 4 * ndims) throw new Error(`${file}: dims: the file is ${bytes.length} bytes, cut short inside its list of ${ndims} dimensions`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
}

/** Labelled images as float32 in [-1, 1], row-major [N, C, S, S] (C = `channels`, absent: 1). */
export interface ImageSet {
  pixels: Float32Array;
  labels: Int32Array;
  size: number;
  count: number;
  channels?: number;
}

export function imageTensor(set: ImageSet): Tensor {
  return fromTypedArray(set.pixels, [set.count, set.channels ?? 1, set.size, set.size]);
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

/** One split as bytes: `count` images of channels x height x width (the files say which), one label each. */
interface RawSplit {
  pixels: Uint8Array;
  labels: Int32Array;
  channels: number;
  height: number;
  width: number;
  /** Where it came from, for error messages. */
  source: string;
  /** The label file (or data file) named in label errors. */
  labelSource: string;
  classNames?: readonly string[];
}

function rawSplit(cfg: DataConfig, split: 'train' | 'test'): RawSplit {
  if (cfg.dataset === 'synthetic') {
    const source = `synthetic ${split} split`;
    return { ...syntheticImages(split === 'train' ? 120 : 40, split === 'train' ? 1 : 2), channels: 1, height: 28, width: 28, source, labelSource: source };
  }
  let raw: RawSplit;
  if (cfg.dataset === 'cifar10' || cfg.dataset === 'cifar100') {
    const dir = cfg.dataDir || undefined;
    const ds = cfg.dataset === 'cifar10' ? loadCifar10({ split, dir }) : loadCifar100({ split, dir });
    const source = `the ${cfg.dataset} ${split} split in ${cifarDir(cfg.dataset, dir) ?? '(no directory)'}`;
    raw = { pixels: ds.pixels, labels: ds.labels!, channels: ds.channels, height: ds.height, width: ds.width, source, labelSource: source, classNames: ds.classNames ?? (cfg.dataset === 'cifar10' ? CIFAR10_CLASSES : undefined) };
  } else if (cfg.dataset === 'idx') {
    raw = idxSplit(cfg, split);
  } else {
    const ds = loadFashionMnist({ split, dir: cfg.dataDir || undefined });
    const source = `the ${split} split in ${fashionMnistDir(cfg.dataDir || undefined)}`;
    raw = { pixels: ds.pixels, labels: ds.labels!, channels: 1, height: ds.height, width: ds.width, source, labelSource: source, classNames: FASHION_MNIST_CLASSES };
  }
  if (raw.pixels.length !== raw.labels.length * raw.channels * raw.height * raw.width) throw new Error(`${raw.source}: ${raw.pixels.length} pixel bytes for ${raw.labels.length} labels of ${raw.channels}x${raw.height}x${raw.width} images`);
  if (raw.channels !== channelsOf(cfg)) throw new Error(`${raw.source}: images have ${raw.channels} channel(s), the data config says ${channelsOf(cfg)}`);
  return raw;
}

/** A labelled IDX pair: images uint8 [N, H, W] or [N, C, H, W], labels [N] integers; errors name the file and field. */
function idxSplit(cfg: DataConfig, split: 'train' | 'test'): RawSplit {
  const files = idxSplitFiles(cfg.dataDir, split);
  const images = readIdxFile(files.images);
  const labels = readIdxFile(files.labels);
  const fail = (file: string, field: string, detail: string): never => {
    throw new Error(`${file}: ${field}: ${detail}`);
  };
  if (!(images.data instanceof Uint8Array)) fail(files.images, 'type', `images must be uint8 (IDX type 0x08), got ${images.data.constructor.name}`);
  const d = images.dims;
  if (!(d.length === 3 || (d.length === 4 && (d[1] === 1 || d[1] === 3)))) fail(files.images, 'dims', `images must be [N, height, width] or [N, C, height, width] with C 1 or 3, got dims [${d}]`);
  const [n, c, h, w] = d.length === 3 ? [d[0]!, 1, d[1]!, d[2]!] : (d as [number, number, number, number]);
  if (n < 1 || h < 1 || w < 1) fail(files.images, 'dims', `images must have N, height and width >= 1, got dims [${d}]`);
  if (labels.data instanceof Float32Array || labels.data instanceof Float64Array) fail(files.labels, 'type', `labels must be integers (uint8, int8, int16 or int32), got ${labels.data.constructor.name}`);
  if (!(labels.dims.length === 1 || (labels.dims.length === 2 && labels.dims[1] === 1))) fail(files.labels, 'dims', `labels must be [N], got dims [${labels.dims}]`);
  if (labels.dims[0] !== n) fail(files.labels, 'count', `${labels.dims[0]} labels for the ${n} images of ${files.images}`);
  return { pixels: images.data as Uint8Array, labels: Int32Array.from(labels.data as ArrayLike<number>), channels: c, height: h, width: w, source: `the ${split} split (${files.images})`, labelSource: files.labels };
}

/** Resizes selected byte images (any C x H x W) to C x S x S floats in [-1, 1] (bilinear, in chunks to bound memory). */
function toImageSet(raw: RawSplit, rows: ArrayLike<number>, size: number): ImageSet {
  const n = rows.length;
  const C = raw.channels;
  const per = C * raw.height * raw.width;
  const outPer = C * size * size;
  const out = new Float32Array(n * outPer);
  const chunk = 1000;
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const src = new Float32Array((e - s) * per);
    for (let i = s; i < e; i++) {
      const r = rows[i]!;
      if (!(r >= 0 && r < raw.labels.length)) throw new RangeError(`toImageSet: row ${r} is outside the ${raw.labels.length} images of ${raw.source}`);
      for (let k = 0; k < per; k++) src[(i - s) * per + k] = raw.pixels[r * per + k]! / 127.5 - 1;
    }
    const resized = resizeBilinear(fromTypedArray(src, [e - s, C, raw.height, raw.width]), size, size).toTypedArray() as Float32Array;
    out.set(resized, s * outPer);
  }
  const set: ImageSet = { pixels: out, labels: Int32Array.from(rows, (r) => raw.labels[r]!), size, count: n };
  if (C !== 1) set.channels = C;
  return set;
}

/** Every class must have images: a long-tailed subset and the class-balanced metrics need all of them. */
function checkAllClasses(raw: RawSplit, classNames: readonly string[], numClasses: number): void {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < raw.labels.length; i++) {
    const y = raw.labels[i]!;
    if (!(y >= 0 && y < numClasses)) throw new RangeError(`${raw.labelSource}: label: label ${y} of row ${i} is outside 0..${numClasses - 1}${numClasses === NUM_CLASSES ? ' (--num-classes sets the count for --dataset idx)' : ''}`);
    counts[y]!++;
  }
  const missing = counts.flatMap((c, k) => (c === 0 ? [`${k} (${classNames[k] ?? `class ${k}`})`] : []));
  if (missing.length) throw new Error(`${raw.source} has no image of class ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}: every one of the ${numClasses} classes needs at least one (counts [${counts.join(', ')}])`);
}

/** The class names of a data set: its own where the files give them, else 'band<k>' (synthetic) or 'class<k>'. */
function classNamesOf(cfg: DataConfig, raw: RawSplit): readonly string[] {
  if (cfg.dataset === 'synthetic') return [...Array(NUM_CLASSES).keys()].map((c) => `band${c}`);
  if (raw.classNames && raw.classNames.length === numClassesOf(cfg)) return raw.classNames;
  return [...Array(numClassesOf(cfg)).keys()].map((c) => `class${c}`);
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
  const numClasses = numClassesOf(cfg);
  const classNames = classNamesOf(cfg, raw);
  checkAllClasses(raw, classNames, numClasses);
  const lt = makeLongTailedSubset(raw.labels, { imbalance: cfg.imbalance, numClasses, seed: cfg.ltSeed, classOrder: cfg.classOrder });
  const groupOf = classGroups(lt.classCounts);
  const groups: Record<string, number[]> = { head: [], medium: [], tail: [] };
  groupOf.forEach((g, c) => groups[g]!.push(c));
  return { train: toImageSet(raw, lt.indices, cfg.imageSize), classCounts: lt.classCounts, groups, classNames };
}

/** The balanced test split, resized (the reference set of every metric). */
export function loadTestSet(cfg: DataConfig): ImageSet {
  const raw = rawSplit(cfg, 'test');
  checkAllClasses(raw, classNamesOf(cfg, raw), numClassesOf(cfg));
  return toImageSet(raw, Int32Array.from(raw.labels.keys()), cfg.imageSize);
}

/** `perClass` images of every class from the balanced training split (a real-data floor at a given N), seeded. */
export function balancedTrainSample(cfg: DataConfig, perClass: number, seed: number): ImageSet {
  const raw = rawSplit(cfg, 'train');
  const numClasses = numClassesOf(cfg);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  raw.labels.forEach((y, i) => byClass[y]!.push(i));
  const gen = new Generator(seed);
  const rows: number[] = [];
  for (let k = 0; k < perClass; k++) for (let c = 0; c < numClasses; c++) rows.push(-1);
  let p = 0;
  for (let c = 0; c < numClasses; c++) {
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

/**
 * What builds a denoiser (`buildModel`) and how it is sampled (`trainingScheduler`, `samplingScheduler`).
 * - 'mlp' and 'unet': the models `oclt train` trains (`modelConfigFrom`, the --model flags).
 * - 'reference-unet': the ReferenceUNet of an `oclt import` directory (the PyTorch UNet of OC_LT / CBDM), made by
 *   `referenceModelConfig`: its architecture is `reference`; `hidden` and `layers` are 0, `channels` is its ch.
 */
export interface ModelConfig {
  kind: 'mlp' | 'unet' | 'reference-unet';
  imageSize: number;
  hidden: number;
  layers: number;
  channels: number;
  numClasses: number;
  seed: number;
  prediction: 'epsilon' | 'sample';
  /** Image channels the model takes and predicts (3 for RGB data); absent for 1, so older run configs compare equal. */
  inChannels?: number;
  /** kind 'reference-unet': the architecture (their flags T, ch, ch_mult, attn, num_res_blocks, dropout, classes, img_size). */
  reference?: ResolvedReferenceUNetConfig;
  /** The linear beta schedule when it is not DDPM's T = 1000, 1e-4..0.02 (an imported model's --T, --beta_1, --beta_T); absent: DDPM's. */
  schedule?: LinearSchedule;
}

/** A linear beta schedule: betas from betaStart to betaEnd over numTrainTimesteps steps. */
export interface LinearSchedule {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
}

/** DDPM's schedule (and OC_LT's / CBDM's main.py defaults): T = 1000, betas 1e-4..0.02. */
export const DDPM_SCHEDULE: LinearSchedule = { numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 };

/**
 * The ModelConfig of a ReferenceUNet (an imported PyTorch model): epsilon prediction (their main.py), its image
 * size, channels and classes, and its schedule (stated only when it is not DDPM's).
 */
export function referenceModelConfig(reference: ResolvedReferenceUNetConfig, schedule: LinearSchedule = { ...DDPM_SCHEDULE, numTrainTimesteps: reference.T }): ModelConfig {
  if (schedule.numTrainTimesteps !== reference.T) throw new Error(`referenceModelConfig: the schedule has ${schedule.numTrainTimesteps} steps but the model's time table T is ${reference.T}`);
  const config: ModelConfig = { kind: 'reference-unet', imageSize: reference.imgSize, hidden: 0, layers: 0, channels: reference.ch, numClasses: reference.numClasses, seed: reference.seed, prediction: 'epsilon', reference: { ...reference } };
  if (reference.inChannels !== 1) config.inChannels = reference.inChannels;
  const isDdpm = (Object.keys(DDPM_SCHEDULE) as (keyof LinearSchedule)[]).every((k) => schedule[k] === DDPM_SCHEDULE[k]);
  if (!isDdpm) config.schedule = { ...schedule };
  return config;
}

/** Their linear schedule from their flags beta_1 and beta_T (main.py's defaults 1e-4 and 0.02 where absent). */
export function referenceSchedule(T: number, flags: Record<string, unknown> | null, where: (name: string) => string = (name) => `flag '${name}'`): LinearSchedule {
  const get = (name: 'beta_1' | 'beta_T', dflt: number): number => {
    const v = flags?.[name];
    if (v === undefined) return dflt;
    if (!(typeof v === 'number' && v > 0 && v < 1)) throw new Error(`${where(name)} must be a number in (0, 1), got ${JSON.stringify(v)}`);
    return v;
  };
  const betaStart = get('beta_1', DDPM_SCHEDULE.betaStart);
  const betaEnd = get('beta_T', DDPM_SCHEDULE.betaEnd);
  if (betaStart > betaEnd) throw new Error(`${where('beta_1')} is ${betaStart}, above beta_T ${betaEnd}; their linear schedule rises from beta_1 to beta_T`);
  return { numTrainTimesteps: T, betaStart, betaEnd };
}

/** The image channels of a model (1 unless its config says otherwise). */
export function inChannelsOf(c: Pick<ModelConfig, 'inChannels'>): number {
  return c.inChannels ?? 1;
}

/** The model flags, checked against each other (a UsageError naming the flag). `inChannels`: the data's channels. */
export function modelConfigFrom(o: { model: string; hidden: number; layers: number; channels: number; 'model-seed': number; prediction: string }, imageSize: number, numClasses: number, inChannels = 1): ModelConfig {
  if (o.model === 'unet') {
    // The sinusoidal time embedding has --channels dimensions (even, >= 4); one downsampling halves the image.
    if (!(Number.isInteger(o.channels) && o.channels >= 4 && o.channels % 2 === 0)) throw new UsageError(`--channels must be an even integer >= 4 for --model unet, got ${o.channels}`);
    if (imageSize % 2 !== 0) throw new UsageError(`--image-size must be even for --model unet (it downsamples once), got ${imageSize}`);
  }
  const config: ModelConfig = { kind: o.model as ModelConfig['kind'], imageSize, hidden: o.hidden, layers: o.layers, channels: o.channels, numClasses, seed: o['model-seed'], prediction: o.prediction as ModelConfig['prediction'] };
  if (inChannels !== 1) config.inChannels = inChannels;
  return config;
}

/** The training scheduler: linear betas 1e-4..0.02, T = 1000 (DDPM) unless the config's `schedule` says otherwise, the model's prediction type. */
export function trainingScheduler(c: ModelConfig): DDPMScheduler {
  return new DDPMScheduler({ ...c.schedule, predictionType: c.prediction });
}

/** The sampler of the commands that sample when --scheduler is not given: OC_LT's DDIM. */
export const DEFAULT_SCHEDULER = 'ddim' satisfies SchedulerName;

/** Options of the commands that sample: which sampler (from @oclt/diffusion's registry) and how it treats x0. */
export const SAMPLING_OPTIONS = {
  scheduler: {
    type: 'string',
    description: `the sampler (@oclt/diffusion's SCHEDULERS) on the model's noise schedule and prediction type, 'leading' timesteps, n = the command's steps: ${SCHEDULER_NAMES.map((n) => `'${n}': ${SCHEDULERS[n].description}`).join('; ')}. '${DEFAULT_SCHEDULER}' is OC_LT's sampler (eta 0, abar_0 after the last step: the paper's numbers); 'ddpm' is DDPM's 1000-step sampler only with the steps set to the model's T (1000 unless imported with another)`,
    default: DEFAULT_SCHEDULER,
    choices: SCHEDULER_NAMES,
  },
  'clip-x0': {
    type: 'string',
    description:
      "clip the sampler's predicted x0 at every step: 'none' (OC_LT's sampler, the paper's numbers) or '1' (to [-1, 1], as DDIM's and diffusers' reference code; DDIM then re-derives the eps from the clipped x0, DDPM takes the posterior of the clipped x0). The samples themselves are always clipped to [-1, 1] at the end",
    default: 'none',
    choices: ['none', '1'],
  },
} as const satisfies OptionSpecs;

export interface SamplingConfig {
  /** The x0 clip range of every step, or null (no clipping: OC_LT's reference sampler). */
  clipX0: number | null;
  /** The sampler (a name of @oclt/diffusion's SCHEDULERS); absent for DEFAULT_SCHEDULER ('ddim'), so older run configs compare equal. */
  scheduler?: SchedulerName;
}

/** A SamplingConfig of OC_LT's DDIM (no `scheduler`, or 'ddim'): `samplingScheduler` gives a DDIMScheduler. */
export type DdimSamplingConfig = SamplingConfig & { scheduler?: typeof DEFAULT_SCHEDULER };

/** The reference: OC_LT's sampler (`OC_LT_REFERENCE_SAMPLING`): DDIM, and it does not clip x0. */
export const DEFAULT_SAMPLING: DdimSamplingConfig = { clipX0: OC_LT_REFERENCE_SAMPLING.clipSample };

/** The sampler of a sampling config (DEFAULT_SCHEDULER where it names none). */
export function schedulerNameOf(s: Pick<SamplingConfig, 'scheduler'>): SchedulerName {
  return s.scheduler ?? DEFAULT_SCHEDULER;
}

/** Whether a sampling config is OC_LT's sampler (DEFAULT_SAMPLING): results recorded without one compare equal to it. */
export function isDefaultSampling(s: SamplingConfig): boolean {
  return s.clipX0 === DEFAULT_SAMPLING.clipX0 && schedulerNameOf(s) === DEFAULT_SCHEDULER;
}

/**
 * The sampling flags (--scheduler, --clip-x0), checked (a UsageError naming the flag). `scheduler` is recorded only
 * when it is not DEFAULT_SCHEDULER, so the config of a default run is `{ clipX0: null }` as before --scheduler.
 */
export function samplingConfigFrom(o: { 'clip-x0': string; scheduler?: typeof DEFAULT_SCHEDULER }): DdimSamplingConfig;
export function samplingConfigFrom(o: { 'clip-x0': string; scheduler?: string }): SamplingConfig;
export function samplingConfigFrom(o: { 'clip-x0': string; scheduler?: string }): SamplingConfig {
  let clipX0: number | null;
  if (o['clip-x0'] === 'none') clipX0 = null;
  else if (o['clip-x0'] === '1') clipX0 = 1;
  else throw new UsageError(`--clip-x0 must be 'none' or '1', got '${o['clip-x0']}'`);
  const name = o.scheduler ?? DEFAULT_SCHEDULER;
  if (!isSchedulerName(name)) throw new UsageError(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}, got '${name}'`);
  const config: SamplingConfig = { clipX0 };
  if (name !== DEFAULT_SCHEDULER) config.scheduler = name;
  return config;
}

/**
 * What the CLI's samplers take beyond the shared settings, per registry name: DDIM as the released OC_LT code
 * samples (see reference-sampling.ts), eta 0 and a last step from t = 0 to abar_0 itself rather than to abar = 1
 * (`setAlphaToOne: false`). A scheduler without an entry takes its own defaults.
 */
const SAMPLER_SETTINGS: { readonly [N in SchedulerName]?: Omit<SchedulerConfigOf<N>, keyof SchedulerConfig> } = {
  ddim: { eta: OC_LT_REFERENCE_SAMPLING.eta, setAlphaToOne: OC_LT_REFERENCE_SAMPLING.setAlphaToOne },
};

/**
 * The sampling scheduler, made through @oclt/diffusion's registry (`s.scheduler`, default 'ddim'), with the
 * config's noise schedule (`schedule`; absent: DDPM's) and prediction type and 'leading' timesteps (T - T/n, ...,
 * 0). The default is DDIM as the released OC_LT code samples (see reference-sampling.ts): eta 0 and a last step
 * from t = 0 to abar_0 (`SAMPLER_SETTINGS`). x0 is not clipped by default (OC_LT's clip is commented out);
 * `clipX0: 1` clips it to [-1, 1] at every step. The number of steps is the caller's (`sample`'s numInferenceSteps).
 */
export function samplingScheduler(c: ModelConfig, s?: DdimSamplingConfig): DDIMScheduler;
export function samplingScheduler(c: ModelConfig, s: SamplingConfig): SchedulerBase;
export function samplingScheduler(c: ModelConfig, s: SamplingConfig = DEFAULT_SAMPLING): SchedulerBase {
  const name = schedulerNameOf(s);
  const shared: SchedulerConfig = { ...c.schedule, predictionType: c.prediction, timestepSpacing: OC_LT_REFERENCE_SAMPLING.timestepSpacing, clipSample: s.clipX0 };
  return createScheduler(name, { ...shared, ...SAMPLER_SETTINGS[name] });
}

export function buildModel(c: ModelConfig): Denoiser {
  if (c.kind === 'reference-unet') {
    if (!c.reference) throw new Error("buildModel: a 'reference-unet' model config needs its architecture ('reference')");
    return new ReferenceUNet(c.reference);
  }
  if (c.kind === 'mlp') return new MLPDenoiser({ dataDim: inChannelsOf(c) * c.imageSize * c.imageSize, hidden: c.hidden, numLayers: c.layers, numClasses: c.numClasses, seed: c.seed });
  const lowest = c.imageSize / 2;
  return new UNet2D({
    sampleSize: c.imageSize,
    inChannels: inChannelsOf(c),
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

/** The shape of one model input: flattened for the MLP, [C, S, S] for the UNet. */
export function modelSampleShape(c: ModelConfig): number[] {
  const C = inChannelsOf(c);
  return c.kind === 'mlp' ? [C * c.imageSize * c.imageSize] : [C, c.imageSize, c.imageSize];
}

/** The training set in the model's input layout (`numClasses`: the data's, default 10). */
export function trainingDataset(set: ImageSet, c: ModelConfig, numClasses = NUM_CLASSES): ArrayDataset {
  return new ArrayDataset(set.pixels, modelSampleShape(c), set.labels, numClasses);
}

/** Model outputs [N, ...] as images [N, C, S, S] clipped to [-1, 1] (what grids and metrics take). */
export function asImages(x: Tensor, imageSize: number, channels = 1): Tensor {
  return x.reshape([x.shape[0]!, channels, imageSize, imageSize]).clamp(-1, 1);
}

/** Class-balanced labels for n samples, grouped by class: [0 x n/C, 1 x n/C, ...] (n divisible by C). */
export function balancedLabels(n: number, numClasses = NUM_CLASSES): Int32Array {
  if (n % numClasses !== 0) throw new Error(`balancedLabels: the number of samples (${n}) must be a multiple of ${numClasses} for class-balanced sampling`);
  return Int32Array.from({ length: n }, (_, i) => Math.floor(i / (n / numClasses)));
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
