import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { readIdxFile } from './idx.js';
import { FASHION_MNIST_DEFAULT_DIR, loadFashionMnist } from './fashion-mnist.js';

function writeIdxU8(file: string, dims: number[], values: Uint8Array, gzip: boolean): void {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => new DataView(head.buffer).setUint32(4 + 4 * i, d, false));
  const bytes = Buffer.concat([head, values]);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(bytes) : bytes);
}

describe('IDX files on disk and Fashion-MNIST', () => {
  it('reads gzipped and raw IDX files, and a directory of fake Fashion-MNIST test files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-idx-'));
    const img = new Uint8Array(3 * 28 * 28).map((_, i) => i % 256);
    writeIdxU8(path.join(dir, 't10k-images-idx3-ubyte.gz'), [3, 28, 28], img, true);
    writeIdxU8(path.join(dir, 't10k-labels-idx1-ubyte'), [3], Uint8Array.from([9, 0, 4]), false);
    expect(readIdxFile(path.join(dir, 't10k-images-idx3-ubyte.gz')).dims).toEqual([3, 28, 28]);
    const ds = loadFashionMnist({ dir, split: 'test' });
    expect(ds.size).toBe(3);
    expect([...ds.labels!]).toEqual([9, 0, 4]);
    expect(ds.classNames![9]).toBe('Ankle boot');
    expect(ds.pixels[785]).toBe(785 % 256);
    fs.rmSync(dir, { recursive: true });
  });

  it('says how to get the data when the files are missing', () => {
    expect(() => loadFashionMnist({ dir: '/nonexistent/fmnist' })).toThrow(/apt-get install -y dataset-fashion-mnist[\s\S]*OCLT_FASHION_MNIST_DIR/);
  });

  it.skipIf(!fs.existsSync(path.join(FASHION_MNIST_DEFAULT_DIR, 't10k-labels-idx1-ubyte.gz')))('the installed test split has 10,000 images, 1,000 per class', () => {
    const ds = loadFashionMnist({ dir: FASHION_MNIST_DEFAULT_DIR, split: 'test' });
    expect(ds.size).toBe(10_000);
    expect(ds.sampleShape).toEqual([1, 28, 28]);
    const counts = new Array(10).fill(0);
    for (const y of ds.labels!) counts[y]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});
