/**
 * The CIFAR-10 / CIFAR-100 binary format (Krizhevsky 2009; the "binary version" at
 * https://www.cs.toronto.edu/~kriz/cifar.html): a file is a plain sequence of fixed-size records, no header.
 * - CIFAR-10 (cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin; 10,000 records each):
 *     1 byte label (0-9), then 3,072 pixel bytes.
 * - CIFAR-100 (cifar-100-binary/train.bin 50,000 records, test.bin 10,000):
 *     1 byte coarse label (0-19), 1 byte fine label (0-99), then 3,072 pixel bytes.
 * The pixels of a record are channel-major: the 1,024 red values, then the green, then the blue, each plane a
 * 32 x 32 image stored row by row (so byte 32 y + x of a plane is row y, column x). That is exactly the [C, H, W]
 * layout of `ImageDataset`, so records are copied as they are.
 *
 * This parser works on bytes and is browser-safe; reading the files is in src/node/cifar.ts.
 */
import { ImageDataset, type ImageDatasetOptions } from './dataset.js';

export type CifarVariant = 'cifar10' | 'cifar100';

/** Which CIFAR-100 label a dataset uses: the 100 fine classes (the paper's CIFAR100-LT) or the 20 superclasses. */
export type Cifar100LabelKind = 'fine' | 'coarse';

export const CIFAR_IMAGE_SIZE = 32;
export const CIFAR_CHANNELS = 3;
/** Pixel bytes per record: 3 planes of 32 x 32. */
export const CIFAR_PIXEL_BYTES = CIFAR_CHANNELS * CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE;

/** The class names of CIFAR-10 (batches.meta.txt), in label order. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

interface VariantLayout {
  /** Label bytes before the pixels, each with its number of classes. */
  labels: { name: string; numClasses: number }[];
}

const LAYOUTS: Record<CifarVariant, VariantLayout> = {
  cifar10: { labels: [{ name: 'label', numClasses: 10 }] },
  cifar100: {
    labels: [
      { name: 'coarse label', numClasses: 20 },
      { name: 'fine label', numClasses: 100 },
    ],
  },
};

function layoutOf(caller: string, variant: CifarVariant): VariantLayout {
  const layout = LAYOUTS[variant];
  if (!layout) throw new RangeError(`${caller}: unknown CIFAR variant '${String(variant)}', expected 'cifar10' or 'cifar100'`);
  return layout;
}

/** Bytes per record: 3,073 for CIFAR-10, 3,074 for CIFAR-100. */
export function cifarRecordBytes(variant: CifarVariant): number {
  return layoutOf('cifarRecordBytes', variant).labels.length + CIFAR_PIXEL_BYTES;
}

export interface CifarRecords {
  variant: CifarVariant;
  /** Number of records (images). */
  count: number;
  /** The images, [count, 3, 32, 32] bytes, channel-major as in the file. */
  pixels: Uint8Array;
  /** CIFAR-10: the label (0-9); CIFAR-100: the fine label (0-99). */
  labels: Int32Array;
  /** CIFAR-100 only: the coarse label (0-19) of every record. */
  coarseLabels?: Int32Array;
}

/**
 * Parses one CIFAR binary file. `source` names the file in error messages. Throws, naming the file and the
 * record, when the file does not hold a whole number of records (a truncated last record) or a label byte is out
 * of range (which is also what reading a CIFAR-100 file as CIFAR-10, or the reverse, usually looks like).
 */
export function parseCifarBinary(bytes: Uint8Array, variant: CifarVariant, source = `${variant} data`): CifarRecords {
  const caller = 'parseCifarBinary';
  const layout = layoutOf(caller, variant);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${caller}: ${source} must be given as a Uint8Array of bytes`);
  const recordBytes = layout.labels.length + CIFAR_PIXEL_BYTES;
  if (bytes.length === 0) throw new Error(`${caller}: ${source} is empty (expected ${variant} records of ${recordBytes} bytes)`);
  const count = Math.floor(bytes.length / recordBytes);
  const rest = bytes.length - count * recordBytes;
  if (rest !== 0) {
    throw new Error(
      `${caller}: ${source} has ${bytes.length} bytes, not a whole number of ${recordBytes}-byte ${variant} records: ` +
        `record ${count} (0-indexed, from byte ${count * recordBytes}) is truncated, ${rest} of ${recordBytes} bytes present`,
    );
  }
  const labelArrays = layout.labels.map(() => new Int32Array(count));
  const pixels = new Uint8Array(count * CIFAR_PIXEL_BYTES);
  for (let r = 0; r < count; r++) {
    const offset = r * recordBytes;
    layout.labels.forEach((field, k) => {
      const y = bytes[offset + k]!;
      if (y >= field.numClasses) {
        throw new Error(`${caller}: ${source} record ${r} (0-indexed, byte ${offset + k}) has ${field.name} ${y}, outside [0, ${field.numClasses}) for ${variant}`);
      }
      labelArrays[k]![r] = y;
    });
    pixels.set(bytes.subarray(offset + layout.labels.length, offset + recordBytes), r * CIFAR_PIXEL_BYTES);
  }
  if (variant === 'cifar10') return { variant, count, pixels, labels: labelArrays[0]! };
  return { variant, count, pixels, labels: labelArrays[1]!, coarseLabels: labelArrays[0]! };
}

/** Records of several files (e.g. the five CIFAR-10 training batches) joined in the given order. */
export function concatCifarRecords(parts: readonly CifarRecords[]): CifarRecords {
  if (parts.length === 0) throw new RangeError('concatCifarRecords: no records given');
  const variant = parts[0]!.variant;
  for (const p of parts) if (p.variant !== variant) throw new RangeError(`concatCifarRecords: cannot join ${variant} and ${p.variant} records`);
  const count = parts.reduce((n, p) => n + p.count, 0);
  const pixels = new Uint8Array(count * CIFAR_PIXEL_BYTES);
  const labels = new Int32Array(count);
  const coarseLabels = variant === 'cifar100' ? new Int32Array(count) : undefined;
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * CIFAR_PIXEL_BYTES);
    labels.set(p.labels, at);
    if (coarseLabels) coarseLabels.set(p.coarseLabels!, at);
    at += p.count;
  }
  return coarseLabels ? { variant, count, pixels, labels, coarseLabels } : { variant, count, pixels, labels };
}

export interface CifarDatasetOptions extends ImageDatasetOptions {
  /** CIFAR-100 only: 'fine' (default, 100 classes) or 'coarse' (20 superclasses). */
  labelKind?: Cifar100LabelKind;
}

/**
 * The records as an `ImageDataset` [N, 3, 32, 32] (batches in [-1, 1]) with 10, 100 or 20 classes. Class names
 * default to CIFAR10_CLASSES for CIFAR-10; pass `classNames` (e.g. read from the meta files) otherwise.
 */
export function cifarDataset(records: CifarRecords, opts: CifarDatasetOptions = {}): ImageDataset {
  const { labelKind, ...imageOptions } = opts;
  if (labelKind !== undefined && labelKind !== 'fine' && labelKind !== 'coarse') throw new RangeError(`cifarDataset: labelKind must be 'fine' or 'coarse', got '${String(labelKind)}'`);
  if (records.variant === 'cifar10' && labelKind !== undefined) throw new RangeError("cifarDataset: labelKind is for CIFAR-100 records; CIFAR-10 has one label");
  const coarse = records.variant === 'cifar100' && labelKind === 'coarse';
  const labels = coarse ? records.coarseLabels! : records.labels;
  const numClasses = records.variant === 'cifar10' ? 10 : coarse ? 20 : 100;
  const classNames = imageOptions.classNames ?? (records.variant === 'cifar10' ? CIFAR10_CLASSES : undefined);
  if (classNames && classNames.length !== numClasses) throw new RangeError(`cifarDataset: ${classNames.length} class names for ${numClasses} classes`);
  return new ImageDataset(records.pixels, CIFAR_CHANNELS, CIFAR_IMAGE_SIZE, CIFAR_IMAGE_SIZE, labels, numClasses, { ...imageOptions, classNames });
}
