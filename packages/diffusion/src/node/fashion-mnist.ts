/**
 * Node-only: Fashion-MNIST (Xiao et al. 2017) from the four IDX files. Looked up in, in order: the `dir` argument
 * (a --data-dir flag), the OCLT_FASHION_MNIST_DIR environment variable, then the Debian package's path
 * /usr/share/datasets/fashion-mnist. Files may be gzipped (*.gz) or raw.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImageDataset, type ImageDatasetOptions } from '../data/dataset.js';
import { readIdxFile } from './idx-node.js';

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
  if (images.dims.length !== 3 || !(images.data instanceof Uint8Array)) throw new Error(`loadFashionMnist: ${imagesFile} should hold uint8 [N, 28, 28], got dims [${images.dims}]`);
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) throw new Error(`loadFashionMnist: ${labelsFile} has dims [${labels.dims}], expected [${images.dims[0]}]`);
  const [, h, w] = images.dims as [number, number, number];
  return new ImageDataset(images.data, 1, h, w, Int32Array.from(labels.data), 10, { classNames: FASHION_MNIST_CLASSES, ...opts });
}
