import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { CIFAR10_CLASSES, cifarDataset, cifarRecordBytes, concatCifarRecords, parseCifarBinary } from './cifar.js';

/** The value written at (record r, channel c, row y, column x): distinct for nearby (c, y, x), to catch a swapped layout. */
const value = (r: number, c: number, y: number, x: number) => (r * 101 + c * 67 + y * 7 + x * 3) % 256;

/** One record as the format's documentation describes it: label byte(s), then the R, G and B planes, each row-major 32 x 32. */
function record(labels: number[], r: number): number[] {
  const out = [...labels];
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out.push(value(r, c, y, x));
  return out;
}

describe('CIFAR binary format', () => {
  it('CIFAR-10: 1 label byte + 3,072 channel-major pixel bytes per record', () => {
    expect(cifarRecordBytes('cifar10')).toBe(3073);
    const bytes = Uint8Array.from([...record([3], 0), ...record([9], 1), ...record([0], 2)]);
    const recs = parseCifarBinary(bytes, 'cifar10', 'fake.bin');
    expect(recs.count).toBe(3);
    expect(Array.from(recs.labels)).toEqual([3, 9, 0]);
    expect(recs.coarseLabels).toBeUndefined();
    for (const [r, c, y, x] of [[0, 0, 0, 1], [0, 0, 1, 0], [1, 1, 5, 31], [2, 2, 31, 0], [2, 0, 17, 9]] as const) {
      expect(recs.pixels[r * 3072 + c * 1024 + y * 32 + x]).toBe(value(r, c, y, x));
    }
    // As a dataset: [N, 3, 32, 32] with x[n, c, y, x] = byte / 127.5 - 1 (red plane first, rows top to bottom).
    const ds = cifarDataset(recs);
    expect(ds.sampleShape).toEqual([3, 32, 32]);
    expect(ds.numClasses).toBe(10);
    expect(ds.classNames).toEqual(CIFAR10_CLASSES);
    const batch = ds.batch([2, 1], new Generator(0));
    expect(batch.x.shape).toEqual([2, 3, 32, 32]);
    expect(Array.from(batch.labels!)).toEqual([0, 9]);
    const x = batch.x.toTypedArray();
    const at = (n: number, c: number, yy: number, xx: number) => x[((n * 3 + c) * 32 + yy) * 32 + xx]!;
    for (const [c, y, xx] of [[0, 0, 0], [0, 2, 5], [1, 2, 5], [2, 2, 5], [2, 31, 30], [1, 30, 31]] as const) {
      expect(at(0, c, y, xx)).toBeCloseTo(value(2, c, y, xx) / 127.5 - 1, 6);
      expect(at(1, c, y, xx)).toBeCloseTo(value(1, c, y, xx) / 127.5 - 1, 6);
    }
  });

  it('CIFAR-100: coarse label byte, then fine label byte, then the pixels', () => {
    expect(cifarRecordBytes('cifar100')).toBe(3074);
    const bytes = Uint8Array.from([...record([19, 99], 0), ...record([4, 30], 1)]);
    const recs = parseCifarBinary(bytes, 'cifar100');
    expect(Array.from(recs.labels)).toEqual([99, 30]);
    expect(Array.from(recs.coarseLabels!)).toEqual([19, 4]);
    expect(recs.pixels[3072 + 1024 + 33]).toBe(value(1, 1, 1, 1));
    const fine = cifarDataset(recs);
    expect(fine.numClasses).toBe(100);
    expect(fine.classNames).toBeUndefined();
    const coarse = cifarDataset(recs, { labelKind: 'coarse', classNames: Array.from({ length: 20 }, (_, i) => `super${i}`) });
    expect(coarse.numClasses).toBe(20);
    expect(Array.from(coarse.labels!)).toEqual([19, 4]);
    expect(() => cifarDataset(recs, { classNames: ['a', 'b'] })).toThrow(/2 class names for 100 classes/);
    expect(() => cifarDataset(parseCifarBinary(Uint8Array.from(record([1], 0)), 'cifar10'), { labelKind: 'coarse' })).toThrow(/labelKind is for CIFAR-100/);
  });

  it('joins files in order', () => {
    const a = parseCifarBinary(Uint8Array.from([...record([1], 0), ...record([2], 1)]), 'cifar10');
    const b = parseCifarBinary(Uint8Array.from(record([7], 2)), 'cifar10');
    const all = concatCifarRecords([a, b]);
    expect(all.count).toBe(3);
    expect(Array.from(all.labels)).toEqual([1, 2, 7]);
    expect(all.pixels[2 * 3072 + 5]).toBe(value(2, 0, 0, 5));
    expect(() => concatCifarRecords([a, parseCifarBinary(Uint8Array.from(record([0, 0], 0)), 'cifar100')])).toThrow(/cannot join cifar10 and cifar100/);
  });

  it('names the file and the record when a record is truncated or a label is out of range', () => {
    const two = [...record([1], 0), ...record([2], 1)];
    expect(() => parseCifarBinary(Uint8Array.from([...two, ...record([3], 2).slice(0, 100)]), 'cifar10', 'data_batch_1.bin')).toThrow(
      /data_batch_1\.bin has 6246 bytes, not a whole number of 3073-byte cifar10 records: record 2 .*truncated, 100 of 3073 bytes present/,
    );
    const badLabel = Uint8Array.from([...record([1], 0), ...record([10], 1)]);
    expect(() => parseCifarBinary(badLabel, 'cifar10', 'test_batch.bin')).toThrow(/test_batch\.bin record 1 \(0-indexed, byte 3073\) has label 10, outside \[0, 10\)/);
    expect(() => parseCifarBinary(Uint8Array.from(record([20, 5], 0)), 'cifar100', 'train.bin')).toThrow(/train\.bin record 0 .* coarse label 20, outside \[0, 20\)/);
    expect(() => parseCifarBinary(Uint8Array.from(record([5, 100], 0)), 'cifar100', 'train.bin')).toThrow(/train\.bin record 0 \(0-indexed, byte 1\) has fine label 100, outside \[0, 100\)/);
    expect(() => parseCifarBinary(new Uint8Array(0), 'cifar10', 'empty.bin')).toThrow(/empty\.bin is empty/);
    // A CIFAR-100 file read as CIFAR-10 does not parse (3 records of 3,074 bytes are not a whole number of 3,073).
    expect(() => parseCifarBinary(Uint8Array.from([...record([0, 1], 0), ...record([0, 1], 1), ...record([0, 1], 2)]), 'cifar10', 'train.bin')).toThrow(/train\.bin has 9222 bytes/);
    expect(() => parseCifarBinary(new Uint8Array(3073), 'cifar1000' as never)).toThrow(/unknown CIFAR variant 'cifar1000'/);
  });
});
