import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { fid, frechetDistance } from './fid.js';
import { inceptionScore } from './inception-score.js';
import { kid, kidFromSubsets, mmd2Unbiased, sampleKidSubsets, type KidSubset } from './kid.js';
import { featureMatrix, matmulSquare, meanAndCovariance, sqrtPsd, symmetricEigen } from './linalg.js';
import { pairwiseMetrics, precisionRecall } from './pairwise.js';
import { perClassFid } from './per-class-fid.js';

const fixtures = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/metrics-fixtures.json', import.meta.url)), 'utf8'));

function rel(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
}

function lowRankPsd(n: number, rank: number, gen: Generator): Float64Array {
  const b = new Float64Array(n * rank);
  gen.fillNormal(b);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < rank; k++) a[i * n + j]! += b[i * rank + k]! * b[j * rank + k]!;
  return a;
}

function randomSymmetric(n: number, gen: Generator): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = gen.normal();
  return a;
}

describe.each(['ql', 'jacobi'] as const)('symmetricEigen (%s)', (method) => {
  it('matches the closed form of a 2x2 matrix', () => {
    // [[a, b], [b, c]]: (a + c)/2 -+ sqrt(((a - c)/2)^2 + b^2).
    const [a, b, c] = [2, 1.5, -1];
    const { values } = symmetricEigen(Float64Array.of(a, b, b, c), 2, { method });
    const h = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    expect(values[0]).toBeCloseTo((a + c) / 2 - h, 14);
    expect(values[1]).toBeCloseTo((a + c) / 2 + h, 14);
  });

  it('finds the known spectrum of the second-difference matrix tridiag(-1, 2, -1)', () => {
    // Eigenvalues 2 - 2 cos(k pi / (n + 1)), k = 1..n.
    const n = 20;
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      m[i * n + i] = 2;
      if (i > 0) m[i * n + i - 1] = m[(i - 1) * n + i] = -1;
    }
    const { values } = symmetricEigen(m, n, { method });
    for (let k = 1; k <= n; k++) expect(Math.abs(values[k - 1]! - (2 - 2 * Math.cos((k * Math.PI) / (n + 1))))).toBeLessThan(1e-13);
  });

  it('handles a zero diagonal, repeated eigenvalues and the zero matrix', () => {
    expect(Array.from(symmetricEigen(Float64Array.of(0, 1, 1, 0), 2, { method }).values)).toEqual([-1, 1].map((v) => expect.closeTo(v, 14)));
    const { values } = symmetricEigen(Float64Array.of(3, 0, 0, 0, 3, 0, 0, 0, 3), 3, { method });
    expect(Array.from(values)).toEqual([3, 3, 3]);
    expect(Array.from(symmetricEigen(new Float64Array(4), 2, { method }).values)).toEqual([0, 0]);
  });

  it('reconstructs random symmetric matrices with orthonormal eigenvectors (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 12 }), (n, seed, rank) => {
        // Low-rank (B B^T with B [n, rank]) as well as general symmetric matrices.
        const a = rank > 0 && rank < n ? lowRankPsd(n, rank, new Generator(seed)) : randomSymmetric(n, new Generator(seed));
        const { values, vectors } = symmetricEigen(a, n, { method });
        for (let i = 0; i + 1 < n; i++) expect(values[i]!).toBeLessThanOrEqual(values[i + 1]!);
        // V^T V = I and V L V^T = A, to float64 rounding scaled by n.
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let vtv = 0;
            let recon = 0;
            for (let k = 0; k < n; k++) {
              vtv += vectors[k * n + i]! * vectors[k * n + j]!;
              recon += vectors[i * n + k]! * values[k]! * vectors[j * n + k]!;
            }
            expect(Math.abs(vtv - (i === j ? 1 : 0))).toBeLessThan(1e-12 * n);
            expect(Math.abs(recon - a[i * n + j]!)).toBeLessThan(1e-12 * n * 4);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('QL and Jacobi agree on eigenvalues, and eigenvalues-only QL matches (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
        const a = randomSymmetric(n, new Generator(seed));
        const ql = symmetricEigen(a, n).values;
        const jac = symmetricEigen(a, n, { method: 'jacobi' }).values;
        const valuesOnly = symmetricEigen(a, n, { vectors: false });
        expect(valuesOnly.vectors.length).toBe(0);
        const scale = Math.max(...jac.map(Math.abs), 1);
        for (let i = 0; i < n; i++) {
          expect(Math.abs(ql[i]! - jac[i]!)).toBeLessThan(1e-13 * n * scale);
          expect(Math.abs(valuesOnly.values[i]! - jac[i]!)).toBeLessThan(1e-13 * n * scale);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('converges on covariances with many exactly-zero and near-zero eigenvalues (N << D, dead features)', () => {
    // ReLU-like sparse features, 30 samples in 128 dimensions (a local convergence test used to loop forever here).
    const gen = new Generator(11);
    const n = 30;
    const d = 128;
    const x = new Float64Array(n * d);
    gen.fillNormal(x);
    for (let i = 0; i < x.length; i++) x[i] = Math.max(x[i]! - 0.5, 0);
    const { cov } = meanAndCovariance(featureMatrix(x, n, d));
    const ql = symmetricEigen(cov, d, { method });
    const jac = symmetricEigen(cov, d, { method: 'jacobi' });
    // At most N - 1 = 29 non-zero eigenvalues; the rest are zero to rounding.
    for (let i = 0; i < d; i++) expect(Math.abs(ql.values[i]! - jac.values[i]!)).toBeLessThan(1e-12 * jac.values[d - 1]!);
    expect(ql.values[d - 30]!).toBeLessThan(1e-12 * ql.values[d - 1]!);
    expect(ql.values[d - 29]!).toBeGreaterThan(1e-6);
  });

  it('rejects non-symmetric and non-finite input', () => {
    expect(() => symmetricEigen(Float64Array.of(1, 2, 3, 4), 2)).toThrow(/not symmetric/);
    expect(() => symmetricEigen(Float64Array.of(1, NaN, NaN, 1), 2)).toThrow(/finite/);
    expect(() => symmetricEigen(new Float64Array(3), 2)).toThrow(/\[2, 2\]/);
  });

  it('sqrtPsd squares back to the matrix', () => {
    const gen = new Generator(3);
    const n = 7;
    const b = randomSymmetric(n, gen);
    const a = matmulSquare(b, b, n); // PSD
    const r = sqrtPsd(a, n);
    const rr = matmulSquare(r, r, n);
    for (let i = 0; i < n * n; i++) expect(Math.abs(rr[i]! - a[i]!)).toBeLessThan(1e-11);
  });
});

describe('meanAndCovariance', () => {
  it('matches numpy (fixture mean and covariance entries)', () => {
    const c = fixtures.fid[0];
    const s = meanAndCovariance(featureMatrix(Float64Array.from(c.x), c.nx, c.dim));
    for (let k = 0; k < c.dim; k++) expect(rel(s.mean[k]!, c.mean_x[k])).toBeLessThan(1e-12);
    const [c00, c01, cll] = c.cov_x_00_01_last;
    expect(rel(s.cov[0]!, c00)).toBeLessThan(1e-12);
    expect(rel(s.cov[1]!, c01)).toBeLessThan(1e-11);
    expect(rel(s.cov[c.dim * c.dim - 1]!, cll)).toBeLessThan(1e-12);
  });

  it('needs two samples', () => {
    expect(() => meanAndCovariance(featureMatrix(new Float64Array(3), 1, 3))).toThrow(/at least 2 samples.*\[1, 3\]/);
  });
});

describe('FID', () => {
  for (const c of fixtures.fid as any[]) {
    it(`agrees with pytorch-fid (scipy sqrtm) on ${c.name}: ${c.note}`, () => {
      const r = fid(featureMatrix(Float64Array.from(c.x), c.nx, c.dim), featureMatrix(Float64Array.from(c.y), c.ny, c.dim));
      expect(r.epsUsed).toBe(0);
      if (c.name.startsWith('identical')) {
        // Exactly 0 in exact arithmetic; both sides only see rounding (pytorch-fid: -2.5e-12, unclamped).
        expect(r.fid).toBeGreaterThanOrEqual(0);
        expect(r.fid).toBeLessThan(1e-9);
        return;
      }
      // 1e-6 relative, as the issue asks. In the singular cases (N < D, rank-deficient) scipy's Schur sqrtm of a
      // singular product is itself only accurate to ~sqrt(machine eps) in the null directions: there it differs
      // from the eigen route by 2e-9..7e-9 relative, still well inside 1e-6.
      expect(rel(r.fid, c.fid_pytorch)).toBeLessThan(1e-6);
      // Against numpy's eigh on the same symmetric route, agreement is at rounding level (singular cases: sqrt of
      // eigenvalues that should be 0 but are ~1e-16, so ~1e-8 absolute per direction).
      expect(rel(r.fid, c.fid_eigen)).toBeLessThan(c.name === 'general_16d' || c.name === 'close_8d' ? 1e-11 : 1e-7);
    });
  }

  it('is the closed form for diagonal Gaussians: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0.01, max: 10, noNaN: true }), fc.double({ min: 0.01, max: 10, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true })), { minLength: 1, maxLength: 8 }), (dims) => {
        const d = dims.length;
        const cov1 = new Float64Array(d * d);
        const cov2 = new Float64Array(d * d);
        const mean1 = new Float64Array(d);
        const mean2 = new Float64Array(d);
        let expected = 0;
        dims.forEach(([a, b, dm], i) => {
          cov1[i * d + i] = a;
          cov2[i * d + i] = b;
          mean2[i] = dm;
          expected += dm * dm + (Math.sqrt(a) - Math.sqrt(b)) ** 2;
        });
        const r = frechetDistance({ mean: mean1, cov: cov1, dim: d, count: 10 }, { mean: mean2, cov: cov2, dim: d, count: 10 });
        expect(Math.abs(r.fid - expected)).toBeLessThan(1e-12 * (1 + expected) * d);
      }),
      { numRuns: 40 },
    );
  });

  it('is symmetric in its arguments', () => {
    const c = fixtures.fid[0];
    const x = featureMatrix(Float64Array.from(c.x), c.nx, c.dim);
    const y = featureMatrix(Float64Array.from(c.y), c.ny, c.dim);
    expect(rel(fid(y, x).fid, c.fid_pytorch)).toBeLessThan(1e-9);
  });

  it('adds eps and says so when a covariance is not positive semi-definite', () => {
    const bad = { mean: new Float64Array(2), cov: Float64Array.of(1, 0, 0, -1), dim: 2, count: 5 };
    const good = { mean: new Float64Array(2), cov: Float64Array.of(1, 0, 0, 1), dim: 2, count: 5 };
    expect(frechetDistance(good, bad).epsUsed).toBe(1e-6);
  });

  it('gives clear errors for mismatched dimensions, too few samples and non-finite features', () => {
    const a = featureMatrix(new Float64Array(12), 4, 3);
    const b = featureMatrix(new Float64Array(8), 4, 2);
    expect(() => fid(a, b)).toThrow(/fid: feature dimensions differ.*\[4, 3\].*\[4, 2\]/);
    expect(() => fid(featureMatrix(new Float64Array(3), 1, 3), a)).toThrow(/at least 2 samples/);
    expect(() => fid(featureMatrix(Float64Array.of(1, NaN, 0, 0, 0, 0), 2, 3), a)).toThrow(/fid: feature \[0, 1\] is NaN/);
    expect(() => featureMatrix(new Float64Array(5), 2, 3)).toThrow(/length 5.*\[2, 3\]/);
  });
});

describe('KID', () => {
  const k = fixtures.kid;
  const x = featureMatrix(Float64Array.from(k.x), k.nx, k.dim);
  const y = featureMatrix(Float64Array.from(k.y), k.ny, k.dim);
  const subsets: KidSubset[] = k.subsets.map((s: any) => ({ x: Int32Array.from(s.x), y: Int32Array.from(s.y) }));

  it('unbiased MMD^2 on the full sets matches numpy', () => {
    expect(rel(mmd2Unbiased(x, y), k.full_mmd2)).toBeLessThan(1e-9);
  });

  it('subset average and std match the reference code on the same subsets', () => {
    const r = kidFromSubsets(x, y, subsets);
    r.values.forEach((v, i) => expect(rel(v, k.subset_values[i])).toBeLessThan(1e-9));
    expect(rel(r.mean, k.mean)).toBeLessThan(1e-9);
    expect(rel(r.std, k.std)).toBeLessThan(1e-8);
  });

  it('the streamed computation (pairwiseMetrics) gives the same subsets values', () => {
    const r = pairwiseMetrics(x, y, { kidSubsets: subsets }).kid!;
    r.values.forEach((v, i) => expect(rel(v, k.subset_values[i])).toBeLessThan(1e-9));
  });

  it('draws seeded subsets without replacement, of size min(subsetSize, N)', () => {
    const a = sampleKidSubsets(60, 50, { numSubsets: 3, subsetSize: 1000, generator: new Generator(7) });
    const b = sampleKidSubsets(60, 50, { numSubsets: 3, subsetSize: 1000, generator: new Generator(7) });
    expect(a).toEqual(b);
    for (const s of a) {
      expect(s.x.length).toBe(50);
      expect(new Set(s.x).size).toBe(50);
      expect(new Set(s.y).size).toBe(50);
      expect(Math.max(...s.x)).toBeLessThan(60);
    }
    // Same seed -> same KID.
    expect(kid(x, y, { numSubsets: 4, subsetSize: 20, generator: new Generator(1) })).toEqual(kid(x, y, { numSubsets: 4, subsetSize: 20, generator: new Generator(1) }));
  });

  it('errors on too few samples and mismatched dimensions', () => {
    expect(() => kid(featureMatrix(new Float64Array(8), 1, 8), y)).toThrow(/at least 2 samples/);
    expect(() => kid(featureMatrix(new Float64Array(6), 2, 3), y)).toThrow(/kid: feature dimensions differ/);
  });
});

describe('Inception score', () => {
  const s = fixtures.inception_score;
  it('matches the original code over 10 splits (remainder dropped, 0 log 0 = 0)', () => {
    const r = inceptionScore(Float64Array.from(s.probs), s.n, s.classes, { shuffle: false });
    r.splitScores.forEach((v, i) => expect(rel(v, s.splits[i])).toBeLessThan(1e-12));
    expect(rel(r.mean, s.mean)).toBeLessThan(1e-12);
    expect(rel(r.std, s.std)).toBeLessThan(1e-9);
  });

  it('is 1 for identical predictions and C for confident, uniformly spread predictions (closed forms)', () => {
    const c = 4;
    const n = 40;
    const same = new Float64Array(n * c).fill(0.25);
    expect(inceptionScore(same, n, c, { splits: 2 }).mean).toBeCloseTo(1, 14);
    const onehot = new Float64Array(n * c);
    for (let i = 0; i < n; i++) onehot[i * c + (i % c)] = 1;
    expect(inceptionScore(onehot, n, c, { splits: 2 }).mean).toBeCloseTo(c, 12);
  });

  it('shuffles before splitting, so class-sorted samples score like mixed ones (seeded)', () => {
    const c = 10;
    const n = 1000;
    const sorted = new Float64Array(n * c);
    for (let i = 0; i < n; i++) sorted[i * c + Math.floor(i / (n / c))] = 1; // class by class, confident
    expect(inceptionScore(sorted, n, c, { shuffle: false }).mean).toBeCloseTo(1, 12);
    const shuffled = inceptionScore(sorted, n, c);
    expect(shuffled.mean).toBeGreaterThan(9); // ~C: each split of 100 holds ~10 of every class
    expect(inceptionScore(sorted, n, c).splitScores).toEqual(shuffled.splitScores);
    // The shuffled score is the unshuffled score of the explicitly permuted rows.
    const perm = new Generator(0).permutation(n);
    const permuted = new Float64Array(n * c);
    for (let i = 0; i < n; i++) permuted.set(sorted.subarray(perm[i]! * c, perm[i]! * c + c), i * c);
    expect(inceptionScore(permuted, n, c, { shuffle: false }).splitScores).toEqual(shuffled.splitScores);
  });

  it('rejects rows that are not probabilities and too few samples', () => {
    expect(() => inceptionScore(Float64Array.of(0.5, 0.6), 1, 2, { splits: 1 })).toThrow(/row 0 sums to 1.1/);
    expect(() => inceptionScore(Float64Array.of(1.5, -0.5), 1, 2, { splits: 1 })).toThrow(/probability \[0, 1\] is -0.5/);
    expect(() => inceptionScore(Float64Array.of(1, 0), 1, 2)).toThrow(/N=1 for 10 splits/);
  });
});

describe('precision and recall', () => {
  for (const c of fixtures.precision_recall as any[]) {
    it(`match the reference algorithm on ${c.name}`, () => {
      const real = featureMatrix(Float64Array.from(c.real), c.nreal, c.dim);
      const gen = featureMatrix(Float64Array.from(c.gen), c.ngen, c.dim);
      const r = pairwiseMetrics(gen, real, { k: 3 });
      // Fractions of counts: exact. Radii: squared distances, float64 rounding only.
      expect(r.precision).toBe(c.precision);
      expect(r.recall).toBe(c.recall);
      r.radiiReal.forEach((v, i) => expect(Math.abs(v - c.radii_real[i])).toBeLessThan(1e-12 * (1 + c.radii_real[i])));
      r.radiiGenerated.forEach((v, i) => expect(Math.abs(v - c.radii_gen[i])).toBeLessThan(1e-12 * (1 + c.radii_gen[i])));
    });
  }

  it('gives precision = recall = 1 for identical sets and 0 for far-apart sets', () => {
    const gen = new Generator(5);
    const n = 300; // > one 128-row tile, so the tiling and the mirrored updates are exercised
    const d = 4;
    const a = new Float64Array(n * d);
    gen.fillNormal(a);
    const b = a.map((v) => v + 1000);
    const fa = featureMatrix(a, n, d);
    expect(precisionRecall(fa, fa)).toEqual({ precision: 1, recall: 1 });
    expect(precisionRecall(featureMatrix(b, n, d), fa)).toEqual({ precision: 0, recall: 0 });
  });

  it('radii agree with brute force across tile boundaries (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 300 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 1e6 }), (n, d, seed) => {
        const x = new Float64Array(n * d);
        new Generator(seed).fillNormal(x);
        const f = featureMatrix(x, n, d);
        const { radiiReal } = pairwiseMetrics(f, f, { k: 3 });
        for (const i of [0, n >> 1, n - 1]) {
          const ds: number[] = [];
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let k = 0; k < d; k++) s += (x[i * d + k]! - x[j * d + k]!) ** 2;
            ds.push(s);
          }
          ds.sort((p, q) => p - q);
          expect(Math.abs(radiiReal[i]! - ds[3]!)).toBeLessThan(1e-10 * (1 + ds[3]!));
        }
      }),
      { numRuns: 20 },
    );
  });

  it('errors when a set has no k neighbours', () => {
    const f = featureMatrix(new Float64Array(6), 3, 2);
    expect(() => precisionRecall(f, f)).toThrow(/more than k=3 samples/);
  });
});

describe('per-class FID', () => {
  const p = fixtures.per_class_fid;
  it('matches pytorch-fid per class and averages the groups', () => {
    const gen = featureMatrix(Float64Array.from(p.gen), p.gen_labels.length, p.dim);
    const ref = featureMatrix(Float64Array.from(p.ref), p.ref_labels.length, p.dim);
    const r = perClassFid(gen, p.gen_labels, ref, p.ref_labels, { numClasses: p.classes, groups: p.groups });
    r.perClass.forEach((v, c) => expect(rel(v, p.per_class[c])).toBeLessThan(1e-9));
    expect(rel(r.mean, p.mean)).toBeLessThan(1e-9);
    expect(rel(r.groups.head!, p.group_means.head)).toBeLessThan(1e-9);
    expect(rel(r.groups.tail!, p.group_means.tail)).toBeLessThan(1e-9);
    expect(r.generatedPerClass).toBe(40);
    expect(r.referencePerClass).toBe(50);
  });

  it('errors on bad labels and classes without samples', () => {
    const f = featureMatrix(new Float64Array(8), 4, 2);
    expect(() => perClassFid(f, [0, 0, 1, 5], f, [0, 0, 1, 1], { numClasses: 2 })).toThrow(/label 3 is 5/);
    expect(() => perClassFid(f, [0, 0, 0, 1], f, [0, 0, 1, 1], { numClasses: 2 })).toThrow(/at least 2 samples/);
    expect(() => perClassFid(f, [0, 0, 1], f, [0, 0, 1, 1], { numClasses: 2 })).toThrow(/4 feature rows but 3 labels/);
  });
});
