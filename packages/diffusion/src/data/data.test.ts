import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, tensor } from '@oclt/tensor';
import { IdxFormatError, parseIdx } from './idx.js';
import { ArrayDataset, ImageDataset, toUint8Images } from './dataset.js';
import { appendixJToy, gaussianMixtureDataset, mixtureNoisePredictor } from './toy.js';
import { imageGrid } from './grid.js';

/** Writes an IDX file by the spec: magic [0, 0, type, ndims], big-endian uint32 dims, big-endian elements. */
function idxBytes(typeCode: number, dims: number[], values: number[], bytesPer: number, write: (v: DataView, off: number, x: number) => void): Uint8Array {
  const buf = new Uint8Array(4 + 4 * dims.length + values.length * bytesPer);
  const v = new DataView(buf.buffer);
  buf[2] = typeCode;
  buf[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  values.forEach((x, i) => write(v, 4 + 4 * dims.length + i * bytesPer, x));
  return buf;
}

describe('parseIdx', () => {
  it('reads uint8 images and big-endian int32 / float32 / float64 arrays', () => {
    const u8 = parseIdx(idxBytes(0x08, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255], 1, (v, o, x) => v.setUint8(o, x)));
    expect(u8.dims).toEqual([2, 2, 3]);
    expect([...u8.data]).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    const i32 = parseIdx(idxBytes(0x0c, [3], [-5, 70000, 1], 4, (v, o, x) => v.setInt32(o, x, false)));
    expect([...i32.data]).toEqual([-5, 70000, 1]);
    const f32 = parseIdx(idxBytes(0x0d, [2], [1.5, -0.25], 4, (v, o, x) => v.setFloat32(o, x, false)));
    expect([...f32.data]).toEqual([1.5, -0.25]);
    const f64 = parseIdx(idxBytes(0x0e, [1], [Math.PI], 8, (v, o, x) => v.setFloat64(o, x, false)));
    expect(f64.data[0]).toBe(Math.PI);
  });
  it('rejects bad magic, gzip bytes, unknown types and truncation with clear messages', () => {
    expect(() => parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0]), 'x.idx')).toThrow(/x\.idx: magic: does not start with the IDX magic/);
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0]))).toThrow(/gzip-compressed/);
    expect(() => parseIdx(new Uint8Array([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))).toThrow(/unknown element type code 0x42/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))).toThrow(/truncated: has 10 bytes but dims \[5\] of uint8 need 13/);
    // Each field a hostile file can get wrong is named, with the file.
    const hostile: [number[], RegExp][] = [
      [[0, 0], /f\.idx: header: the file is 2 bytes/],
      [[0, 0, 8, 3, 0, 0, 0, 2], /f\.idx: dims: the file is 8 bytes, cut short inside its list of 3 dimensions/],
      [[0, 0, 8, 1, 0, 0, 0, 2, 7, 7, 7], /f\.idx: count: has 11 bytes but dims \[2\] of uint8 need 10 \(1 bytes more/],
      [[0, 0, 0x0e, 3, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 1, 0], /f\.idx: dims: dims \[4294967295,4294967295,256\] give .* elements, too many/],
      [[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 8, 0, 0, 0, 8], /f\.idx: truncated: has 16 bytes but dims \[2,8,8\] of uint8 need 144/],
    ];
    for (const [bytes, message] of hostile) expect(() => parseIdx(Uint8Array.from(bytes), 'f.idx')).toThrow(message);
    expect(() => parseIdx(new Uint8Array(2), 'f.idx')).toThrow(IdxFormatError);
  });
});

describe('ImageDataset', () => {
  // Two 1x2x3 images with known bytes.
  const px = Uint8Array.from([0, 51, 255, 127, 128, 200, 10, 20, 30, 40, 50, 60]);
  const ds = new ImageDataset(px, 1, 2, 3, Int32Array.from([1, 0]), 2);

  it('normalises bytes to [-1, 1] by x / 127.5 - 1 and keeps labels', () => {
    const b = ds.batch([1, 0]);
    expect(b.x.shape).toEqual([2, 1, 2, 3]);
    const v = b.x.toTypedArray();
    [10, 20, 30, 40, 50, 60, 0, 51, 255, 127, 128, 200].forEach((p, i) => expect(v[i]).toBeCloseTo(p / 127.5 - 1, 6));
    expect([...b.labels!]).toEqual([0, 1]);
    // round trip back to bytes
    expect([...toUint8Images(b.x)]).toEqual([10, 20, 30, 40, 50, 60, 0, 51, 255, 127, 128, 200]);
  });

  it('horizontal flip reverses rows for about half of the images, seeded', () => {
    const big = new ImageDataset(new Uint8Array(400 * 6).map((_, i) => i % 6), 1, 2, 3, null, 0, { horizontalFlip: true });
    const b = big.batch([...Array(400).keys()], new Generator(5));
    const v = toUint8Images(b.x);
    let flipped = 0;
    for (let i = 0; i < 400; i++) {
      const row = [...v.subarray(i * 6, i * 6 + 6)];
      if (row.join() === '2,1,0,5,4,3') flipped++;
      else expect(row).toEqual([0, 1, 2, 3, 4, 5]);
    }
    // Binomial(400, 1/2): 4 standard deviations = 40
    expect(Math.abs(flipped - 200)).toBeLessThan(40);
    expect([...toUint8Images(big.batch([0, 1, 2], new Generator(5)).x)]).toEqual([...v.subarray(0, 18)]);
    expect(() => big.batch([0])).toThrow(/horizontalFlip needs a seeded Generator/);
  });

  it('subset keeps the chosen rows; bad indices and labels are refused', () => {
    const s = ds.subset([1]);
    expect(s.size).toBe(1);
    expect([...s.labels!]).toEqual([0]);
    expect(() => ds.batch([2])).toThrow(/index 2 at position 0 is outside \[0, 2\)/);
    expect(() => new ImageDataset(px, 1, 2, 3, Int32Array.from([0, 5]), 2)).toThrow(/label 5 of row 1/);
    expect(() => new ImageDataset(px, 1, 5, 5, null, 0)).toThrow(/not a whole number of 1x5x5 images/);
  });
});

describe('toy data', () => {
  it('Appendix J toy: 10,000 head points near (0, 4) and 100 tail points near (0, -4), variance 0.2', () => {
    const ds = appendixJToy(new Generator(1));
    expect(ds.size).toBe(10_100);
    expect(ds.numClasses).toBe(2);
    let sx = 0;
    let sy = 0;
    let syy = 0;
    for (let i = 0; i < 10_000; i++) {
      expect(ds.labels![i]).toBe(0);
      sx += ds.data[2 * i]!;
      sy += ds.data[2 * i + 1]!;
      syy += (ds.data[2 * i + 1]! - 4) ** 2;
    }
    // mean within 4 standard errors (sqrt(0.2 / 10000) = 0.0045); variance within 4 * sqrt(2/n) * 0.2
    expect(Math.abs(sx / 10_000)).toBeLessThan(0.018);
    expect(Math.abs(sy / 10_000 - 4)).toBeLessThan(0.018);
    expect(Math.abs(syy / 10_000 - 0.2)).toBeLessThan(4 * Math.sqrt(2 / 10_000) * 0.2);
    let ty = 0;
    for (let i = 10_000; i < 10_100; i++) ty += ds.data[2 * i + 1]!;
    expect(ds.labels![10_050]).toBe(1);
    expect(Math.abs(ty / 100 + 4)).toBeLessThan(4 * Math.sqrt(0.2 / 100));
  });

  it('mixtureNoisePredictor equals -sqrt(1 - abar) * grad log q_t (finite differences of the closed-form density)', () => {
    const comps = [
      { mean: [1, 2], std: 0.3, weight: 0.7 },
      { mean: [-2, 0], std: 0.8, weight: 0.3 },
    ];
    const logq = (abar: number, x: number[]) =>
      Math.log(
        comps.reduce((s, c) => {
          const v = abar * c.std ** 2 + 1 - abar;
          const d2 = (x[0]! - Math.sqrt(abar) * c.mean[0]!) ** 2 + (x[1]! - Math.sqrt(abar) * c.mean[1]!) ** 2;
          return s + (c.weight * Math.exp(-d2 / (2 * v))) / (2 * Math.PI * v);
        }, 0),
      );
    fc.assert(
      fc.property(fc.double({ min: 0.05, max: 0.99, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), (abar, a, b) => {
        const eps = mixtureNoisePredictor(comps, abar, [a, b]);
        const h = 1e-5;
        const g0 = (logq(abar, [a + h, b]) - logq(abar, [a - h, b])) / (2 * h);
        const g1 = (logq(abar, [a, b + h]) - logq(abar, [a, b - h])) / (2 * h);
        // central differences in float64: error ~h^2 * third derivative + 1e-16/h, well below 1e-5
        expect(eps[0]).toBeCloseTo(-Math.sqrt(1 - abar) * g0, 5);
        expect(eps[1]).toBeCloseTo(-Math.sqrt(1 - abar) * g1, 5);
      }),
      { numRuns: 40 },
    );
  });

  it('gaussianMixtureDataset labels rows by component and validates input', () => {
    const ds = gaussianMixtureDataset([{ mean: [0, 0], std: 0, count: 2 }, { mean: [3, 3], std: 0, count: 1 }], new Generator(0));
    expect([...ds.data]).toEqual([0, 0, 0, 0, 3, 3]);
    expect([...ds.labels!]).toEqual([0, 0, 1]);
    expect(() => gaussianMixtureDataset([{ mean: [0], std: 1, count: 1 }, { mean: [0, 0], std: 1, count: 1 }], new Generator(0))).toThrow(/component 1 has a 2-D mean/);
    expect(() => new ArrayDataset(new Float32Array(5), [2])).toThrow(/not a whole number of samples/);
  });
});

describe('imageGrid scale', () => {
  it('upscales the whole grid by an integer, each pixel a scale x scale block', () => {
    const imgs = tensor([[[[-1, 0], [1, 0.5]]], [[[1, -0.5], [0.25, 1]]]]);
    const one = imageGrid(imgs, { nrow: 2, padding: 1, padValue: 7 });
    const three = imageGrid(imgs, { nrow: 2, padding: 1, padValue: 7, scale: 3 });
    expect([three.width, three.height]).toEqual([one.width * 3, one.height * 3]);
    for (let y = 0; y < three.height; y++) {
      for (let x = 0; x < three.width; x++) {
        for (let ch = 0; ch < 4; ch++) {
          const want = one.data[(Math.floor(y / 3) * one.width + Math.floor(x / 3)) * 4 + ch];
          if (three.data[(y * three.width + x) * 4 + ch] !== want) throw new Error(`pixel (${x}, ${y}) channel ${ch}`);
        }
      }
    }
    expect(imageGrid(imgs, { scale: 1 }).data).toEqual(imageGrid(imgs).data);
    for (const bad of [0, 1.5, -2, 65]) expect(() => imageGrid(imgs, { scale: bad })).toThrow(/imageGrid: scale must be an integer in \[1, 64\], got/);
  });
});
