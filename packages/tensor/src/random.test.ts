/**
 * Seeded randomness. Oracles: an independent BigInt implementation of xoshiro128** (from Blackman & Vigna's
 * reference C code) for the raw stream; for distributions, moments and Kolmogorov-Smirnov / chi-square tests
 * with fixed seeds, whose thresholds are set at significance 0.001 (stated per test), so a correct generator
 * passes and a biased one (wrong scale, off-by-one range, wrong weights) fails by a wide margin.
 */
import { describe, expect, it } from 'vitest';
import { categorical, Generator, rand, randint, randn, tensor, type Tensor } from './index.js';
import { expectOpError } from './test-helpers.js';

/** xoshiro128** on BigInt words, written from the reference C code. */
function* xoshiroReference(state: [bigint, bigint, bigint, bigint]): IterableIterator<number> {
  const M = 0xffffffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  let [s0, s1, s2, s3] = state;
  for (;;) {
    const result = (rotl((s1 * 5n) & M, 7n) * 9n) & M;
    const t = (s1 << 9n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
    yield Number(result);
  }
}

const bits = (t: Tensor) => Array.from(new Uint8Array(t.dataSync().slice().buffer));

/** Standard normal CDF via Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, far below the KS thresholds used). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return 0.5 * (1 + (x < 0 ? -erf : erf));
}

/** The Kolmogorov-Smirnov statistic of a sample against a CDF. */
function ksStatistic(sample: ArrayLike<number>, cdf: (x: number) => number): number {
  const s = Array.from(sample).sort((a, b) => a - b);
  let d = 0;
  s.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs(f - i / s.length), Math.abs((i + 1) / s.length - f));
  });
  return d;
}

function chiSquare(counts: number[], probs: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((s, c, i) => s + (c - n * probs[i]!) ** 2 / (n * probs[i]!), 0);
}

/** Chi-square critical values at significance 0.001 by degrees of freedom. */
const CHI2_999: Record<number, number> = { 2: 13.82, 3: 16.27, 4: 18.47, 6: 22.46 };

describe('Generator stream', () => {
  it('is xoshiro128** (checked against an independent BigInt implementation)', () => {
    const g = new Generator().setState([1, 2, 3, 4]);
    const ref = xoshiroReference([1n, 2n, 3n, 4n]);
    const ours = Array.from({ length: 1000 }, () => g.nextUint32());
    const theirs = Array.from({ length: 1000 }, () => ref.next().value as number);
    expect(ours[0]).toBe(11520); // rotl(2 * 5, 7) * 9, by hand
    expect(ours).toEqual(theirs);
    // A state with the top bits set exercises the signed/unsigned conversions.
    const g2 = new Generator().setState([0xffffffff, 0x80000000, 0x7fffffff, 0xdeadbeef]);
    const ref2 = xoshiroReference([0xffffffffn, 0x80000000n, 0x7fffffffn, 0xdeadbeefn]);
    expect(Array.from({ length: 200 }, () => g2.nextUint32())).toEqual(Array.from({ length: 200 }, () => ref2.next().value as number));
  });

  it('same seed, same bits; different seeds, different streams', () => {
    for (const seed of [0, 1, 42, -7, 2 ** 40 + 3]) {
      const a = new Generator(seed);
      const b = new Generator(seed);
      expect(bits(randn([33], a))).toEqual(bits(randn([33], b)));
      expect(bits(rand([5, 3], a, 'float64'))).toEqual(bits(rand([5, 3], b, 'float64')));
      expect(randint(-3, 9, [17], a).toArray()).toEqual(randint(-3, 9, [17], b).toArray());
      expect(categorical(tensor([[1, 2, 3]]), a, 9).toArray()).toEqual(categorical(tensor([[1, 2, 3]]), b, 9).toArray());
      expect(Array.from(a.permutation(10))).toEqual(Array.from(b.permutation(10)));
      expect(a.getState()).toEqual(b.getState());
    }
    expect(bits(randn([8], new Generator(1)))).not.toEqual(bits(randn([8], new Generator(2))));
  });

  it('getState / setState resume the exact stream (also in a fresh generator)', () => {
    const g = new Generator(123);
    randn([7], g);
    const state = g.getState();
    expect(state.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
    const first = [bits(randn([11], g)), randint(0, 100, [5], g).toArray(), g.random()];
    g.setState(state);
    expect([bits(randn([11], g)), randint(0, 100, [5], g).toArray(), g.random()]).toEqual(first);
    const h = new Generator(999).setState(state);
    expect([bits(randn([11], h)), randint(0, 100, [5], h).toArray(), h.random()]).toEqual(first);
  });

  it('spawn derives a deterministic child and advances the parent', () => {
    const a = new Generator(5);
    const b = new Generator(5);
    const ca = a.spawn();
    const cb = b.spawn();
    expect(ca.getState()).toEqual(cb.getState());
    expect(a.getState()).toEqual(b.getState());
    expect(a.getState()).not.toEqual(new Generator(5).getState());
    expect(ca.nextUint32()).not.toBe(a.nextUint32());
  });

  it('rejects invalid seeds and states', () => {
    expect(() => new Generator(NaN)).toThrow(/seed/);
    expect(() => new Generator().setState([0, 0, 0, 0])).toThrow(/all-zero/);
    expect(() => new Generator().setState([1, 2, 3])).toThrow(/four/);
    expect(() => new Generator().setState([1, 2, 3, 2 ** 32])).toThrow(/unsigned/);
  });
});

describe('distributions (fixed seeds, thresholds at significance 0.001)', () => {
  it('randn: moments of N(mean, std^2) and a KS test against the normal CDF', () => {
    const n = 40000;
    const x = Float64Array.from(randn([n], new Generator(2024), 'float64').dataSync());
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const m2 = x.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const m3 = x.reduce((a, b) => a + (b - mean) ** 3, 0) / n;
    const m4 = x.reduce((a, b) => a + (b - mean) ** 4, 0) / n;
    // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), skewness sqrt(6/n), excess kurtosis sqrt(24/n); allow 4 of them.
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(m3 / m2 ** 1.5)).toBeLessThan(4 * Math.sqrt(6 / n));
    expect(Math.abs(m4 / m2 ** 2 - 3)).toBeLessThan(4 * Math.sqrt(24 / n));
    // Draws are independent: the correlation of neighbours (both within and across Box-Muller pairs) is ~0,
    // with standard error 1/sqrt(n/2).
    for (const shift of [0, 1]) {
      let c = 0;
      for (let i = shift; i + 1 < n; i += 2) c += (x[i]! - mean) * (x[i + 1]! - mean);
      expect(Math.abs(c / Math.floor((n - shift) / 2) / m2)).toBeLessThan(4 / Math.sqrt(n / 2));
    }
    // KS critical value at 0.001: 1.95 / sqrt(n).
    expect(ksStatistic(x.subarray(0, 10000), normalCdf)).toBeLessThan(1.95 / Math.sqrt(10000));
    // Odd lengths and the mean/std arguments (float32 storage).
    const y = Float64Array.from(randn([3, 3333], new Generator(7), 'float32', 5, 2).dataSync());
    const my = y.reduce((a, b) => a + b, 0) / y.length;
    const sy = Math.sqrt(y.reduce((a, b) => a + (b - my) ** 2, 0) / y.length);
    expect(Math.abs(my - 5)).toBeLessThan((4 * 2) / Math.sqrt(y.length));
    expect(Math.abs(sy - 2)).toBeLessThan(4 * 2 * Math.sqrt(1 / (2 * y.length)));
    expect(ksStatistic(y, (v) => normalCdf((v - 5) / 2))).toBeLessThan(1.95 / Math.sqrt(y.length));
  });

  it('rand: uniform on [low, high) (range, moments, KS)', () => {
    const n = 20000;
    const x = Float64Array.from(rand([n], new Generator(31), 'float64', -2, 3).dataSync());
    expect(Math.min(...x)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...x)).toBeLessThan(3);
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(25 / 12 / n));
    expect(Math.abs(variance - 25 / 12)).toBeLessThan(4 * Math.sqrt(25 ** 2 / 180 / n)); // Var of (x - mu)^2 for U(0, 5) is 5^4/180
    expect(ksStatistic(x, (v) => Math.min(1, Math.max(0, (v + 2) / 5)))).toBeLessThan(1.95 / Math.sqrt(n));
    expect(rand([2], new Generator(1)).dtype).toBe('float32');
  });

  it('randint: every value of [low, high) equally likely (chi-square), none outside', () => {
    const x = randint(-3, 4, [70000], new Generator(77)).toArray() as number[];
    expect(x.filter((v) => v < -3 || v >= 4)).toEqual([]);
    const counts = new Array(7).fill(0);
    for (const v of x) counts[v + 3]++;
    expect(chiSquare(counts, new Array(7).fill(1 / 7))).toBeLessThan(CHI2_999[6]!);
  });

  it('categorical: frequencies follow the weights per row (chi-square); zero weights never drawn', () => {
    const w = tensor([
      [1, 2, 3, 4, 0],
      [0, 5, 0, 5, 10],
    ]);
    const s = categorical(w, new Generator(11), 20000);
    expect(s.shape).toEqual([2, 20000]);
    expect(s.dtype).toBe('int32');
    const rows = s.toArray() as number[][];
    const probs = [
      [0.1, 0.2, 0.3, 0.4],
      [0.25, 0.25, 0.5],
    ];
    const cats = [
      [0, 1, 2, 3],
      [1, 3, 4],
    ];
    rows.forEach((row, r) => {
      const counts = cats[r]!.map((k) => row.filter((v) => v === k).length);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(row.length); // nothing outside the positive-weight set
      expect(chiSquare(counts, probs[r]!)).toBeLessThan(CHI2_999[cats[r]!.length - 1]!);
    });
    // Generator.integer without modulo bias, Generator.permutation a permutation.
    const g = new Generator(3);
    const c3 = [0, 0, 0];
    for (let i = 0; i < 30000; i++) c3[g.integer(0, 3)]++;
    expect(chiSquare(c3, [1 / 3, 1 / 3, 1 / 3])).toBeLessThan(CHI2_999[2]!);
    expect(Array.from(g.permutation(50)).sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });
});

describe('errors name the op', () => {
  it('random creation needs a Generator and valid arguments', () => {
    expectOpError(() => randn([2], undefined as never), 'randn', 'Generator');
    expectOpError(() => randn([2], new Generator(1), 'int32'), 'randn', 'int32');
    expectOpError(() => rand([2], new Generator(1), 'bool'), 'rand', 'bool');
    expectOpError(() => randint(0, 5, [2], {} as never), 'randint', 'Generator');
    expectOpError(() => randint(3, 3, [2], new Generator(1)), 'randint', '3');
    expectOpError(() => randint(0, 2.5, [2], new Generator(1)), 'randint', '2.5');
    expectOpError(() => randn([-1], new Generator(1)), 'randn', '-1');
    expectOpError(() => categorical(tensor([1, -1]), new Generator(1)), 'categorical', '-1');
    expectOpError(() => categorical(tensor([[1, 1], [0, 0]]), new Generator(1)), 'categorical', 'sum');
    expectOpError(() => categorical(tensor([NaN, 1]), new Generator(1)), 'categorical', 'NaN');
    expectOpError(() => categorical(tensor([[], []]), new Generator(1)), 'categorical', 'categor');
    expectOpError(() => categorical(tensor(1), new Generator(1)), 'categorical', 'axis');
    expectOpError(() => categorical(tensor([1, 1]), new Generator(1), -1), 'categorical', 'numSamples');
  });
});

describe('Generator.fillThreshold', () => {
  it('gives bit for bit the loop of nextUint32 it replaces, and leaves the same state', () => {
    for (const [seed, n, p] of [[0, 0, 0.5], [1, 1, 0.1], [42, 1000, 0.25], [2 ** 40 + 7, 4097, 0.9], [3, 333, 0]] as const) {
      const threshold = p * 2 ** 32;
      const a = new Generator(seed), b = new Generator(seed);
      const want = new Float32Array(n);
      for (let i = 0; i < n; i++) want[i] = a.nextUint32() >= threshold ? 1 / (1 - p) : 0;
      const got = new Float32Array(n);
      b.fillThreshold(got, threshold, 1 / (1 - p), 0);
      expect(Array.from(got)).toEqual(Array.from(want));
      expect(b.getState()).toEqual(a.getState());
      expect(b.nextUint32()).toBe(a.nextUint32());
    }
  });

  it('keeps about 1 - p of the elements (binomial count within 4 standard deviations, seeds fixed)', () => {
    const n = 200_000;
    for (const p of [0.1, 0.5]) {
      const out = new Float64Array(n);
      new Generator(9).fillThreshold(out, p * 2 ** 32, 1, 0);
      const kept = out.reduce((s, v) => s + v, 0);
      expect(Math.abs(kept - n * (1 - p))).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)));
    }
  });
});
