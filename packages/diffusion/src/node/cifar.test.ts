import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { CIFAR10_ENV, loadCifar10, loadCifar100, readCifarBinaryFile } from './cifar.js';

/** A record with every pixel byte = fill, except byte 0 of the green plane (row 0, column 0) = tag. */
function record(labels: number[], fill: number, tag: number): Uint8Array {
  const px = new Uint8Array(3072).fill(fill);
  px[1024] = tag;
  return Uint8Array.from([...labels, ...px]);
}
const join = (...parts: Uint8Array[]) => Buffer.concat(parts);

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-cifar-'));
  dirs.push(d);
  return d;
}
const savedEnv = process.env[CIFAR10_ENV];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  if (savedEnv === undefined) delete process.env[CIFAR10_ENV];
  else process.env[CIFAR10_ENV] = savedEnv;
});

describe('CIFAR files on disk', () => {
  it('CIFAR-10: the five training batches in order (one gzipped), the test batch, names from batches.meta.txt', () => {
    const root = tempDir();
    const dir = path.join(root, 'cifar-10-batches-bin');
    fs.mkdirSync(dir);
    for (let b = 1; b <= 5; b++) {
      const bytes = join(record([b], 10 * b, 200 + b), record([(b + 5) % 10], 10 * b + 1, 100 + b));
      fs.writeFileSync(path.join(dir, `data_batch_${b}.bin${b === 3 ? '.gz' : ''}`), b === 3 ? zlib.gzipSync(bytes) : bytes);
    }
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), record([4], 7, 8));
    const names = ['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    fs.writeFileSync(path.join(dir, 'batches.meta.txt'), names.join('\n') + '\n\n');
    // The folder above cifar-10-batches-bin works too (where the archive was extracted).
    for (const d of [dir, root]) {
      const train = loadCifar10({ dir: d });
      expect(train.size).toBe(10);
      expect(Array.from(train.labels!)).toEqual([1, 6, 2, 7, 3, 8, 4, 9, 5, 0]);
      expect(train.classNames).toEqual(names);
      // Record 4 is batch 3's first: fill 30, green (0, 0) = 203.
      expect(train.pixels[4 * 3072]).toBe(30);
      expect(train.pixels[4 * 3072 + 1024]).toBe(203);
    }
    const test = loadCifar10({ dir, split: 'test', horizontalFlip: true });
    expect(test.size).toBe(1);
    expect(test.horizontalFlip).toBe(true);
    process.env[CIFAR10_ENV] = root;
    expect(loadCifar10({ split: 'test' }).labels![0]).toBe(4);
  });

  it('CIFAR-100: fine labels (default) or coarse, names from the label-name files', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'train.bin'), join(record([3, 42], 1, 2), record([19, 99], 3, 4), record([0, 0], 5, 6)));
    fs.writeFileSync(path.join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `fine${i}`).join('\n'));
    const fine = loadCifar100({ dir });
    expect(fine.numClasses).toBe(100);
    expect(Array.from(fine.labels!)).toEqual([42, 99, 0]);
    expect(fine.classNames![99]).toBe('fine99');
    const coarse = loadCifar100({ dir, labelKind: 'coarse' });
    expect(coarse.numClasses).toBe(20);
    expect(Array.from(coarse.labels!)).toEqual([3, 19, 0]);
    expect(coarse.classNames).toBeUndefined(); // no coarse_label_names.txt here
    expect(coarse.pixels[3072 + 1024]).toBe(4);
  });

  it('errors name the missing files, the truncated file and its record, and how to get the data', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), record([1], 0, 0));
    expect(() => loadCifar10({ dir })).toThrow(/data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin are not in .*cifar-10-binary\.tar\.gz/);
    delete process.env[CIFAR10_ENV];
    expect(() => loadCifar10()).toThrow(/no data directory: download cifar-10-binary\.tar\.gz[\s\S]*OCLT_CIFAR10_DIR/);
    const truncated = path.join(dir, 'test_batch.bin');
    fs.writeFileSync(truncated, join(record([1], 0, 0), record([2], 0, 0).subarray(0, 3000)));
    expect(() => loadCifar10({ dir, split: 'test' })).toThrow(new RegExp(`${truncated.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has 6073 bytes.*record 1 .*truncated`));
    fs.writeFileSync(truncated, join(record([1], 0, 0), record([12], 0, 0)));
    expect(() => readCifarBinaryFile(truncated, 'cifar10')).toThrow(/test_batch\.bin record 1 \(0-indexed, byte 3073\) has label 12/);
    expect(() => loadCifar10({ dir, split: 'val' as never })).toThrow(/split must be 'train' or 'test'/);
    fs.writeFileSync(path.join(dir, 'batches.meta.txt'), 'a\nb\n');
    fs.writeFileSync(truncated, record([1], 0, 0));
    expect(() => loadCifar10({ dir, split: 'test' })).toThrow(/batches\.meta\.txt lists 2 class names, expected 10/);
  });
});
