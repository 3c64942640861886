import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, fromTypedArray, rand } from '@oclt/tensor';
import { encodeSafetensors } from '@oclt/autograd';
import { FEATURE_DIM, FeatureNet, checkImages, extractFeatures, featureNetFromSafetensors, resizeBilinear, sha256Hex } from './feature-net.js';
import { evaluateFeatureSets, realBaselines, stratifiedHalves, type FeatureSet } from './evaluate.js';
import { featureMatrix } from './linalg.js';
import type { MetricsImageDataset } from './dataset-features.js';
import { fid } from './fid.js';
import { kid } from './kid.js';
import { precisionRecall } from './pairwise.js';

const fixtures = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/metrics-fixtures.json', import.meta.url)), 'utf8'));

describe('resizeBilinear (align_corners = false)', () => {
  const r = fixtures.resize_bilinear;
  for (const c of r.cases as any[]) {
    it(`matches the numpy reference ${r.h}x${r.w} -> ${c.h}x${c.w}`, () => {
      const out = resizeBilinear(fromTypedArray(Float32Array.from(r.image), [1, 1, r.h, r.w]), c.h, c.w).toTypedArray();
      // float32 storage of values in [-1, 1]: ~6e-8 rounding per value.
      out.forEach((v, i) => expect(Math.abs(v - c.out[i])).toBeLessThan(2e-7));
    });
  }

  it('keeps constant images constant at any output size (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 2, max: 30 }), fc.double({ min: -1, max: 1, noNaN: true }), (oh, ow, v) => {
        const x = fromTypedArray(new Float32Array(2 * 8 * 8).fill(v), [2, 1, 8, 8]);
        const y = resizeBilinear(x, oh, ow).toTypedArray();
        expect(y.length).toBe(2 * oh * ow);
        y.forEach((p) => expect(Math.abs(p - Math.fround(v))).toBeLessThan(1e-6));
      }),
      { numRuns: 30 },
    );
  });
});

describe('FeatureNet', () => {
  const net = new FeatureNet({ generator: new Generator(1) });
  const images = rand([6, 1, 28, 28], new Generator(2), 'float32', -1, 1);

  it('gives 128 non-negative features and probabilities that sum to 1', () => {
    const { features, probs, n } = extractFeatures(net, images, { batchSize: 4 });
    expect(n).toBe(6);
    expect(features.length).toBe(6 * FEATURE_DIM);
    expect(Math.min(...features)).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 6; i++) expect(probs.subarray(i * 10, i * 10 + 10).reduce((s, p) => s + p, 0)).toBeCloseTo(1, 6);
    // Batching does not change the result.
    expect(extractFeatures(net, images, { batchSize: 6 }).features).toEqual(features);
  });

  it('serves 16x16 images through the documented bilinear resize to 28x28', () => {
    const small = rand([3, 1, 16, 16], new Generator(3), 'float32', -1, 1);
    const viaResize = extractFeatures(net, resizeBilinear(small, 28, 28)).features;
    expect(extractFeatures(net, small).features).toEqual(viaResize);
  });

  it('rejects images of the wrong shape, size or range with a clear message', () => {
    expect(() => extractFeatures(net, rand([2, 3, 28, 28], new Generator(0)))).toThrow(/grayscale images \[N, 1, H, W\], got \[2,3,28,28\]/);
    expect(() => extractFeatures(net, rand([2, 1, 4, 4], new Generator(0)))).toThrow(/image size 4x4/);
    expect(() => extractFeatures(net, rand([2, 1, 28, 28], new Generator(0), 'float32', 0, 255))).toThrow(/in \[-1, 1\]/);
    expect(() => checkImages(fromTypedArray(new Float32Array(64).fill(NaN), [1, 1, 8, 8]), 'x')).toThrow(/pixel 0 is NaN/);
    expect(() => net.forward(rand([1, 1, 16, 16], new Generator(0)))).toThrow(/expected images \[N, 1, 28, 28\]/);
  });

  it('round-trips through safetensors bytes and refuses bytes with the wrong SHA-256', async () => {
    const bytes = encodeSafetensors(Object.fromEntries(net.namedParameters()));
    const sha = await sha256Hex(bytes);
    const loaded = await featureNetFromSafetensors(bytes, sha);
    expect(extractFeatures(loaded, images).features).toEqual(extractFeatures(net, images).features);
    const tampered = bytes.slice();
    tampered[tampered.length - 1]! ^= 1;
    await expect(featureNetFromSafetensors(tampered, sha)).rejects.toThrow(/SHA-256 .* expected/);
  });

  it('computes SHA-256 like the standard (test vector for "abc")', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('evaluateFeatureSets', () => {
  const c = fixtures.fid[0];
  const x = featureMatrix(Float64Array.from(c.x), c.nx, c.dim);
  const y = featureMatrix(Float64Array.from(c.y), c.ny, c.dim);

  it('agrees with the individual metrics (FID vs pytorch-fid fixture, KID and precision/recall on the same subsets)', () => {
    const report = evaluateFeatureSets({ features: x }, { features: y }, { kidSubsets: 5, kidSubsetSize: 50, seed: 9 });
    expect(Math.abs(report.fid - c.fid_pytorch) / c.fid_pytorch).toBeLessThan(1e-6);
    const k = kid(x, y, { numSubsets: 5, subsetSize: 50, generator: new Generator(9) });
    // Streamed vs direct sums: different summation order only.
    expect(Math.abs(report.kid_mean - k.mean)).toBeLessThan(1e-9 * Math.abs(k.mean) + 1e-12);
    expect(report.kid_subset_size).toBe(50);
    const pr = precisionRecall(x, y);
    expect([report.precision, report.recall]).toEqual([pr.precision, pr.recall]);
    expect(report.is_mean).toBeNull();
    expect(report.per_class_fid).toBeNull();
  });

  it('includes per-class FID with groups when both sets have labels, and baselines from stratified halves', () => {
    const p = fixtures.per_class_fid;
    const gen: FeatureSet = { features: featureMatrix(Float64Array.from(p.gen), p.gen_labels.length, p.dim), labels: p.gen_labels };
    const ref: FeatureSet = { features: featureMatrix(Float64Array.from(p.ref), p.ref_labels.length, p.dim), labels: p.ref_labels };
    const report = evaluateFeatureSets(gen, ref, { numClasses: 3, groups: p.groups, kidSubsets: 3 });
    report.per_class_fid!.per_class.forEach((v, i) => expect(Math.abs(v - p.per_class[i]) / p.per_class[i]).toBeLessThan(1e-9));

    const [a, b] = stratifiedHalves(p.ref_labels, 3);
    expect(a.length).toBe(75);
    expect(b.length).toBe(75);
    const countA = [0, 0, 0];
    a.forEach((i) => countA[p.ref_labels[i]]++);
    expect(countA).toEqual([25, 25, 25]);
    expect(new Set([...a, ...b]).size).toBe(150);
    const base = realBaselines(ref, gen, { numClasses: 3, kidSubsets: 3 });
    expect(base.train_lt_vs_test!.fid).toBeCloseTo(fid(gen.features, ref.features).fid, 9);
    expect(base.test_half_vs_half.n_generated).toBe(75);
  });
});

describe('datasetBaselines', () => {
  it('evaluates test halves and a long-tailed training subset at the experiment size', async () => {
    const { datasetBaselines, datasetFeatureSet } = await import('./dataset-features.js');
    const gen = new Generator(4);
    // A dataset as @oclt/diffusion's ImageDataset presents it: bytes scaled to [-1, 1] by x / 127.5 - 1.
    const make = (n: number): MetricsImageDataset => {
      const px = new Uint8Array(n * 28 * 28).map(() => gen.integer(0, 256));
      const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
      return {
        size: n, height: 28, width: 28, numClasses: 10,
        batch: (indices) => {
          const rows = Array.from(indices);
          const x = new Float32Array(rows.length * 784);
          rows.forEach((r, i) => { for (let k = 0; k < 784; k++) x[i * 784 + k] = px[r * 784 + k]! / 127.5 - 1; });
          return { x: fromTypedArray(x, [rows.length, 1, 28, 28]), labels: Int32Array.from(rows, (r) => labels[r]!) };
        },
      };
    };
    const net = new FeatureNet({ generator: new Generator(1) });
    const test = make(60);
    const train = make(80);
    const lt = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
    const base = datasetBaselines(net, test, train, lt, { imageSize: 16, kidSubsets: 2 });
    expect(base.test_half_vs_half.n_generated).toBe(30);
    expect(base.test_half_vs_half.n_reference).toBe(30);
    expect(base.train_lt_vs_test!.n_generated).toBe(30);
    expect(base.train_lt_vs_test!.n_reference).toBe(60);
    // The 16x16 path is the documented resize: same features as resizing by hand.
    const viaSet = datasetFeatureSet(net, test, { imageSize: 16, indices: [3] }).features.data;
    const byHand = extractFeatures(net, resizeBilinear(test.batch([3]).x, 16, 16)).features;
    expect(Array.from(viaSet)).toEqual(Array.from(byHand));
  });
});

describe('extractFeatures progress', () => {
  it('reports the images done after each batch, ending at the total, and the same features as without it', () => {
    const net = new FeatureNet({ generator: new Generator(0) });
    const images = rand([7, 1, 16, 16], new Generator(1)).mul(2).sub(1);
    const calls: [number, number][] = [];
    const withProgress = extractFeatures(net, images, { batchSize: 3, onBatch: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([[3, 7], [6, 7], [7, 7]]);
    expect(withProgress.features).toEqual(extractFeatures(net, images, { batchSize: 3 }).features);
  });
});
