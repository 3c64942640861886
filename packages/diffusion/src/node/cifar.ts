/**
 * Node-only: CIFAR-10 and CIFAR-100 from their binary versions (cifar-10-binary.tar.gz, cifar-100-binary.tar.gz
 * from https://www.cs.toronto.edu/~kriz/cifar.html, extracted). The directory is, in order: the `dir` argument (a
 * --data-dir flag), then $OCLT_CIFAR10_DIR / $OCLT_CIFAR100_DIR. It may be the folder holding the .bin files
 * (cifar-10-batches-bin, cifar-100-binary) or the folder the archive was extracted in. Files may be gzipped.
 * The byte format and its parser are in src/data/cifar.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { cifarDataset, concatCifarRecords, parseCifarBinary, type CifarDatasetOptions, type CifarRecords, type CifarVariant } from '../data/cifar.js';
import type { ImageDataset } from '../data/dataset.js';

export const CIFAR10_ENV = 'OCLT_CIFAR10_DIR';
export const CIFAR100_ENV = 'OCLT_CIFAR100_DIR';

export type CifarSplit = 'train' | 'test';

export interface CifarLoadOptions extends CifarDatasetOptions {
  split?: CifarSplit;
  /** The directory of the .bin files (or the one above it); overrides the environment variable. */
  dir?: string;
}

const LAYOUT = {
  cifar10: {
    caller: 'loadCifar10',
    env: CIFAR10_ENV,
    folder: 'cifar-10-batches-bin',
    archive: 'cifar-10-binary.tar.gz',
    files: { train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], test: ['test_batch.bin'] },
  },
  cifar100: {
    caller: 'loadCifar100',
    env: CIFAR100_ENV,
    folder: 'cifar-100-binary',
    archive: 'cifar-100-binary.tar.gz',
    files: { train: ['train.bin'], test: ['test.bin'] },
  },
} as const;

/** Reads one CIFAR binary file (raw, or gzipped: detected by the gzip magic, which no valid first label byte has). */
export function readCifarBinaryFile(file: string, variant: CifarVariant): CifarRecords {
  let bytes: Uint8Array = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new Error(`readCifarBinaryFile: ${file} looks gzipped but does not decompress: ${(err as Error).message}`);
    }
  }
  return parseCifarBinary(bytes, variant, file);
}

/** The directory that will be read for a variant: the argument, else the environment variable (or null). */
export function cifarDir(variant: CifarVariant, dir?: string): string | null {
  return dir ?? process.env[LAYOUT[variant].env] ?? null;
}

function findFile(dir: string, base: string): string | null {
  for (const name of [base, `${base}.gz`]) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** Class names from a text file of one name per line (the archives' meta files), or undefined when absent. */
function readNames(dir: string, file: string, expected: number, caller: string): string[] | undefined {
  const p = path.join(dir, file);
  if (!fs.existsSync(p)) return undefined;
  const names = fs
    .readFileSync(p, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length !== expected) throw new Error(`${caller}: ${p} lists ${names.length} class names, expected ${expected}`);
  return names;
}

function loadCifar(variant: CifarVariant, opts: CifarLoadOptions): ImageDataset {
  const layout = LAYOUT[variant];
  const { caller } = layout;
  const { split = 'train', dir: dirOption, ...datasetOptions } = opts;
  if (split !== 'train' && split !== 'test') throw new RangeError(`${caller}: split must be 'train' or 'test', got '${String(split)}'`);
  const how = `download ${layout.archive} from https://www.cs.toronto.edu/~kriz/cifar.html, extract it, and pass its ${layout.folder} folder as dir (the --data-dir flag) or in ${layout.env}`;
  const given = cifarDir(variant, dirOption);
  if (given === null) throw new Error(`${caller}: no data directory: ${how}`);
  const nested = path.join(given, layout.folder);
  const dir = !findFile(given, layout.files[split][0]!) && fs.existsSync(nested) ? nested : given;
  const files = layout.files[split].map((base) => findFile(dir, base));
  const missing = layout.files[split].filter((_, i) => files[i] === null);
  if (missing.length > 0) throw new Error(`${caller}: the ${split} file(s) ${missing.join(', ')} are not in ${dir}: ${how}`);
  const records = concatCifarRecords(files.map((f) => readCifarBinaryFile(f!, variant)));
  let classNames = datasetOptions.classNames;
  if (!classNames) {
    if (variant === 'cifar10') classNames = readNames(dir, 'batches.meta.txt', 10, caller);
    else if (datasetOptions.labelKind === 'coarse') classNames = readNames(dir, 'coarse_label_names.txt', 20, caller);
    else classNames = readNames(dir, 'fine_label_names.txt', 100, caller);
  }
  return cifarDataset(records, { ...datasetOptions, ...(classNames ? { classNames } : {}) });
}

/** CIFAR-10 (train: the five data batches in order, 50,000 images; test: 10,000) as an ImageDataset [N, 3, 32, 32]. */
export function loadCifar10(opts: CifarLoadOptions = {}): ImageDataset {
  return loadCifar('cifar10', opts);
}

/** CIFAR-100 (train 50,000, test 10,000) with its 100 fine labels, or the 20 coarse ones with labelKind 'coarse'. */
export function loadCifar100(opts: CifarLoadOptions = {}): ImageDataset {
  return loadCifar('cifar100', opts);
}
