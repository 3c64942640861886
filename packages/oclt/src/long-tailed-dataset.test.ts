import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classFrequencies, classGroups, countClasses, longTailedClassCounts, makeLongTailedSubset } from './long-tailed-dataset.js';
import { classBalancedSampler, exactlyBalancedSampler, makeBatchSampler, shuffledSampler, type SamplerKind } from './samplers.js';
import { Generator } from '@oclt/tensor';

/** A balanced source: `perClass` samples of each of C classes, labels interleaved like a real data set. */
function balancedLabels(C: number, perClass: number): Int32Array {
  return Int32Array.from({ length: C * perClass }, (_, i) => i % C);
}

describe('long-tailed construction (Cao et al. 2019)', () => {
  it('reproduces the published CIFAR10-LT and Fashion-MNIST-LT counts (PAPER.md)', () => {
    const cifar = longTailedClassCounts(5000, 10, 0.01);
    expect(cifar).toEqual([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
    expect(cifar.reduce((a, b) => a + b)).toBe(12406);
    const fashion = longTailedClassCounts(6000, 10, 0.01);
    expect(fashion).toEqual([6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
    expect(fashion.reduce((a, b) => a + b)).toBe(14886);
  });

  it('follows n_c = floor(n_max imb^(c/(C-1))): decreasing, head n_max, tail floor(n_max imb)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 100, max: 10000 }), fc.constantFrom(0.01, 0.001, 0.1, 0.5), (C, nMax, imb) => {
        const n = longTailedClassCounts(nMax, C, imb);
        expect(n[0]).toBe(nMax);
        expect(n[C - 1]).toBe(Math.max(1, Math.floor(nMax * imb + 1e-9)));
        for (let c = 1; c < C; c++) expect(n[c]).toBeLessThanOrEqual(n[c - 1]!);
      }),
      { numRuns: 30 },
    );
  });

  it('picks a seeded subset with the right per-class counts, honouring the class order', () => {
    const labels = balancedLabels(10, 120);
    const order = [7, 2, 6, 4, 3, 5, 9, 0, 1, 8]; // the paper's Table 5 style shift
    const a = makeLongTailedSubset(labels, { imbalance: 0.1, numClasses: 10, seed: 3, classOrder: order });
    const b = makeLongTailedSubset(labels, { imbalance: 0.1, numClasses: 10, seed: 3, classOrder: order });
    const c = makeLongTailedSubset(labels, { imbalance: 0.1, numClasses: 10, seed: 4, classOrder: order });
    const expected = longTailedClassCounts(120, 10, 0.1);
    const counts = countClasses(a.labels, 10);
    order.forEach((cls, rank) => expect(counts[cls]).toBe(expected[rank]));
    expect(a.classCounts).toEqual(counts);
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(Array.from(a.indices)).not.toEqual(Array.from(c.indices));
    expect(new Set(a.indices).size).toBe(a.indices.length); // no duplicates
    for (let k = 0; k < a.indices.length; k++) expect(a.labels[k]).toBe(labels[a.indices[k]!]);
    expect(() => makeLongTailedSubset(labels, { imbalance: 0.1, numClasses: 10, seed: 1, maxCount: 500 })).toThrow(/needs 500 samples but the source has 120/);
    expect(() => makeLongTailedSubset(labels, { imbalance: 0.1, numClasses: 10, seed: 1, classOrder: [0, 1] })).toThrow(/permutation/);
  });

  it('frequencies and head/medium/tail groups', () => {
    const counts = longTailedClassCounts(5000, 10, 0.01);
    const q = classFrequencies(counts);
    expect(q.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(q[0]).toBeCloseTo(5000 / 12406, 12);
    expect(classGroups(counts)).toEqual(['head', 'head', 'head', 'medium', 'medium', 'medium', 'medium', 'tail', 'tail', 'tail']);
    expect(classGroups([10, 500, 50, 5], { method: 'shots' })).toEqual(['tail', 'head', 'medium', 'tail']);
  });
});

describe('samplers', () => {
  const labels = Int32Array.from(longTailedClassCounts(500, 5, 0.02).flatMap((n, c) => new Array<number>(n).fill(c)));

  it('shuffled: every index exactly once per epoch, seeded', () => {
    const s = shuffledSampler(10, 4, new Generator(1));
    const epoch = [...s.nextBatch(), ...s.nextBatch(), ...s.nextBatch()];
    expect(new Set(epoch.slice(0, 10)).size).toBe(10);
    const again = shuffledSampler(10, 4, new Generator(1));
    expect(Array.from(again.nextBatch())).toEqual(epoch.slice(0, 4));
  });

  it('class-balanced with alpha = 1 draws classes uniformly (chi-square); alpha = 0 follows the data', () => {
    const counts = countClasses(labels, 5);
    for (const alpha of [1, 0, 0.5]) {
      const s = classBalancedSampler(labels, 5, 100, new Generator(9), alpha);
      const drawn = new Array<number>(5).fill(0);
      for (let b = 0; b < 40; b++) for (const i of s.nextBatch()) drawn[labels[i]!]!++;
      // P(class c) = n_c * n_c^-alpha / sum: the per-sample weight n_c^-alpha summed over the class.
      const w = counts.map((n) => Math.pow(n, 1 - alpha));
      const total = w.reduce((a, b) => a + b);
      const chi2 = drawn.reduce((s2, o, c) => s2 + (o - (4000 * w[c]!) / total) ** 2 / ((4000 * w[c]!) / total), 0);
      expect(chi2).toBeLessThan(18.47); // 4 degrees of freedom, P = 0.001
    }
  });

  it('exactly balanced: each batch holds every class floor(B/C) or ceil(B/C) times', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 1e6 }), (B, seed) => {
        const s = exactlyBalancedSampler(labels, 5, B, new Generator(seed));
        for (let r = 0; r < 3; r++) {
          const batch = s.nextBatch();
          expect(batch.length).toBe(B);
          const perClass = countClasses(Array.from(batch, (i) => labels[i]!), 5);
          for (const n of perClass) expect(n === Math.floor(B / 5) || n === Math.ceil(B / 5)).toBe(true);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('getState / setState continue the exact batch stream (JSON round trip, into a differently seeded sampler)', () => {
    for (const kind of ['shuffled', 'class-balanced', 'exactly-balanced'] as SamplerKind[]) {
      const a = makeBatchSampler(kind, labels, 5, 7, new Generator(1));
      for (let k = 0; k < 9; k++) a.nextBatch();
      const state = JSON.parse(JSON.stringify(a.getState()));
      const expected = Array.from({ length: 200 }, () => Array.from(a.nextBatch()));
      const b = makeBatchSampler(kind, labels, 5, 7, new Generator(99));
      b.setState(state);
      expect(Array.from({ length: 200 }, () => Array.from(b.nextBatch()))).toEqual(expected);
      expect(() => b.setState({ nonsense: true })).toThrow(/setState/);
    }
  });
});
