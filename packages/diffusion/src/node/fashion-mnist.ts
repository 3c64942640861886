/**
 * Node-only: Fashion-MNIST (Xiao et al. 2017) from the four IDX files. Looked up in, in order: the `dir` argument
 * (a --data-dir flag), the OCLT_FASHION_MNIST_DIR environment variable, then the Debian package's path
 * /usr/share/datasets/fashion-mnist. Files may be gzipped (*.gz) or raw.
 *
 * Any image size is read as it is (the dataset's height and width are the file's); what the files hold is
 * checked before it is used, each error naming the file and the field: the images must be uint8 [N, H, W] with
 * N, H, W >= 1, the labels uint8 [N] (the same N) with values in 0..9.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImageDataset, type ImageDatasetOptions } from '../data/dataset.js';
import { readIdxFile } from './idx.js';

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_ENV = 'OCLT_FASHION_MNIST_DIR';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

export type FashionMnistSplit = 'train' | 'test';

export interface FashionMnistOptions extends ImageDatasetOptions {
  split?: FashionMnistSplit;
  /** Directory holding the IDX files; overrides the environment variable and the default. */
  dir?: string;
}

/** The directory that will be read: the argument, else $OCLT_FASHION_MNIST_DIR, else the Debian path. */
export function fashionMnistDir(dir?: string): string {
  return dir ?? process.env[FASHION_MNIST_ENV] ?? FASHION_MNIST_DEFAULT_DIR;
}

function findFile(dir: string, base: string): string | null {
  for (const name of [`${base}.gz`, base]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

export function loadFashionMnist(opts: FashionMnistOptions = {}): ImageDataset {
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new RangeError(`loadFashionMnist: split must be 'train' or 'test', got '${String(split)}'`);
  const dir = fashionMnistDir(opts.dir);
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = findFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = findFile(dir, `${prefix}-labels-idx1-ubyte`);
  if (!imagesFile || !labelsFile) {
    throw new Error(
      [
        `loadFashionMnist: the ${split} files ${prefix}-images-idx3-ubyte[.gz] and ${prefix}-labels-idx1-ubyte[.gz] are not in ${dir}.`,
        `Get them with:  apt-get update && apt-get install -y dataset-fashion-mnist   (installs into ${FASHION_MNIST_DEFAULT_DIR}),`,
        `or point ${FASHION_MNIST_ENV} (or the --data-dir flag) at a directory holding the four IDX files.`,
      ].join('\n'),
    );
  }
  const images = readIdxFile(imagesFile);
  const labels = readIdxFile(labelsFile);
  const fail = (file: string, field: string, detail: string): never => {
    throw new Error(`loadFashionMnist: ${file}: ${field}: ${detail}`);
  };
  if (!(images.data instanceof Uint8Array)) fail(imagesFile, 'type', `images must be uint8, got ${images.data.constructor.name}`);
  if (images.dims.length !== 3) fail(imagesFile, 'dims', `images must be [N, height, width], got dims [${images.dims}]`);
  const [n, h, w] = images.dims as [number, number, number];
  if (n < 1 || h < 1 || w < 1) fail(imagesFile, 'dims', `images must have N, height and width >= 1, got [${images.dims}]`);
  if (!(labels.data instanceof Uint8Array)) fail(labelsFile, 'type', `labels must be uint8, got ${labels.data.constructor.name}`);
  if (labels.dims.length !== 1) fail(labelsFile, 'dims', `labels must be [N], got dims [${labels.dims}]`);
  if (labels.dims[0] !== n) fail(labelsFile, 'count', `${labels.dims[0]} labels for the ${n} images of ${imagesFile}`);
  const ys = Int32Array.from(labels.data);
  const classes = FASHION_MNIST_CLASSES.length;
  for (let i = 0; i < ys.length; i++) if (ys[i]! >= classes) fail(labelsFile, 'label', `label ${ys[i]} of row ${i} is outside 0..${classes - 1}`);
  return new ImageDataset(images.data as Uint8Array, 1, h, w, ys, classes, { classNames: FASHION_MNIST_CLASSES, ...opts });
}
