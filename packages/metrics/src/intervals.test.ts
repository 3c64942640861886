import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import {
  bootstrapInterval,
  excludesZero,
  logGamma,
  meanInterval,
  pairedBootstrapInterval,
  pairedDifference,
  regularizedIncompleteBeta,
  studentTCdf,
  studentTQuantile,
} from './intervals.js';

describe('special functions', () => {
  it('logGamma at known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 14);
    expect(logGamma(2)).toBeCloseTo(0, 14);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 12); // log Gamma(0.1) = log 9.513507698668732
    // Stirling with its 1/(12x) - 1/(360x^3) terms is accurate to ~1e-14 at x = 150.
    const x = 150;
    const stirling = (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x ** 3);
    expect(Math.abs(logGamma(x) - stirling) / stirling).toBeLessThan(1e-14);
  });

  it('regularized incomplete beta: closed forms and symmetry', () => {
    for (const x of [0, 0.01, 0.3, 0.5, 0.77, 0.999, 1]) {
      expect(regularizedIncompleteBeta(x, 1, 1)).toBeCloseTo(x, 14);
      expect(regularizedIncompleteBeta(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 13);
      expect(regularizedIncompleteBeta(x, 1, 2.5)).toBeCloseTo(1 - (1 - x) ** 2.5, 13);
      // I_x(2, 2) = 3x^2 - 2x^3
      expect(regularizedIncompleteBeta(x, 2, 2)).toBeCloseTo(3 * x * x - 2 * x ** 3, 13);
      expect(regularizedIncompleteBeta(x, 4.2, 0.7) + regularizedIncompleteBeta(1 - x, 0.7, 4.2)).toBeCloseTo(1, 13);
    }
    expect(regularizedIncompleteBeta(0.5, 7.3, 7.3)).toBeCloseTo(0.5, 13);
    expect(() => regularizedIncompleteBeta(1.2, 1, 1)).toThrow(/x must be in \[0, 1\]/);
    expect(() => regularizedIncompleteBeta(0.5, 0, 1)).toThrow(/a and b must be finite and > 0/);
  });

  it('Student t CDF matches the closed forms for df = 1, 2, 3', () => {
    for (const t of [-30, -4.2, -1, -0.3, 0, 0.05, 0.7, 1.96, 6, 250]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 13);
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 13);
      const s = t / Math.sqrt(3);
      expect(studentTCdf(t, 3)).toBeCloseTo(0.5 + (s / (1 + s * s) + Math.atan(s)) / Math.PI, 13);
    }
    expect(studentTCdf(Infinity, 4)).toBe(1);
    expect(studentTCdf(-Infinity, 4)).toBe(0);
  });
});

describe('Student t quantiles', () => {
  // Published two-sided critical values (t tables; R's qt agrees to every printed digit).
  const table: [p: number, df: number, t: number][] = [
    [0.975, 1, 12.706204736],
    [0.975, 2, 4.302652730],
    [0.975, 3, 3.182446305],
    [0.975, 4, 2.776445105],
    [0.975, 5, 2.570581836],
    [0.975, 9, 2.262157163],
    [0.975, 10, 2.228138852],
    [0.975, 30, 2.042272456],
    [0.975, 1000, 1.962339081],
    [0.995, 1, 63.656741163],
    [0.995, 2, 9.924843201],
    [0.995, 5, 4.032142984],
    [0.95, 3, 2.353363435],
    [0.95, 9, 1.833112933],
  ];
  it('match the tables to 9 significant digits', () => {
    for (const [p, df, t] of table) {
      expect(Math.abs(studentTQuantile(p, df) - t) / t, `t_{${p}, ${df}}`).toBeLessThan(2e-9);
      expect(studentTQuantile(1 - p, df)).toBeCloseTo(-studentTQuantile(p, df), 12);
    }
    expect(studentTQuantile(0.5, 3)).toBe(0);
  });

  it('invert the CDF, also far in the tails and at fractional df; closed forms for df = 1 and 2', () => {
    for (const df of [0.7, 1, 2, 2.5, 4, 17.3, 200]) {
      for (const p of [1e-10, 0.001, 0.2, 0.51, 0.9, 0.975, 0.999999]) {
        const t = studentTQuantile(p, df);
        const back = studentTCdf(t, df);
        // relative to the smaller tail, where the probability lives
        expect(Math.abs(back - p) / Math.min(p, 1 - p), `df ${df}, p ${p}`).toBeLessThan(1e-9);
      }
    }
    for (const p of [0.6, 0.975, 0.9995]) {
      expect(studentTQuantile(p, 1)).toBeCloseTo(Math.tan(Math.PI * (p - 0.5)), 9);
      expect(studentTQuantile(p, 2)).toBeCloseTo((2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 11);
    }
    expect(() => studentTQuantile(1, 3)).toThrow(/p must be in \(0, 1\)/);
    expect(() => studentTQuantile(0.9, 0)).toThrow(/degrees of freedom must be a finite number > 0/);
  });
});

describe('intervals over seeds', () => {
  it('meanInterval: mean +- t_{0.975, n-1} sd / sqrt(n), by hand', () => {
    const v = [10.2, 11.9, 9.4];
    const m = meanInterval(v);
    const mean = (10.2 + 11.9 + 9.4) / 3;
    const sd = Math.sqrt(((10.2 - mean) ** 2 + (11.9 - mean) ** 2 + (9.4 - mean) ** 2) / 2);
    expect(m.mean).toBeCloseTo(mean, 12);
    expect(m.sd).toBeCloseTo(sd, 12);
    expect(m.df).toBe(2);
    expect(m.halfWidth).toBeCloseTo((4.30265273 * sd) / Math.sqrt(3), 7);
    expect(m.low).toBeCloseTo(mean - m.halfWidth, 12);
    expect(meanInterval(v, 0.99).halfWidth).toBeCloseTo((9.924843201 * sd) / Math.sqrt(3), 7);
    const one = meanInterval([4]);
    expect(one.mean).toBe(4);
    expect(Number.isNaN(one.low) && Number.isNaN(one.high)).toBe(true);
    expect(excludesZero(one)).toBe(false);
    expect(() => meanInterval([])).toThrow(/values is empty/);
    expect(() => meanInterval([1, NaN])).toThrow(/values\[1\] = NaN is not a finite number/);
    expect(() => meanInterval([1, 2], 95)).toThrow(/level must be in \(0, 1\)/);
  });

  it('pairedDifference: the interval of a_i - b_i, the paired t-test, and the significant flag', () => {
    // A shared seed effect (+-5) that pairing removes: the difference is ~ -1 with little spread.
    const seedEffect = [5, -4, 0.5, 3];
    const a = seedEffect.map((s, i) => 20 + s - 1 + [0.1, -0.05, 0.02, -0.08][i]!);
    const b = seedEffect.map((s) => 20 + s);
    const d = pairedDifference(a, b);
    expect(Array.from(d.differences)).toEqual(a.map((v, i) => v - b[i]!));
    const direct = meanInterval(d.differences);
    expect(d.low).toBe(direct.low);
    expect(d.high).toBe(direct.high);
    expect(d.significant).toBe(true);
    expect(d.high).toBeLessThan(0);
    expect(d.pValue).toBeLessThan(0.001);
    // Unpaired, the two intervals overlap: the seed effect hides the difference.
    expect(meanInterval(a).high).toBeGreaterThan(meanInterval(b).low);
    // p-value = 0.05 exactly where the t statistic is t_{0.975, df}; and significant <=> p < 1 - level.
    const t4 = 2.776445105;
    const e = [1 - 0.5, 1 + 0.5, 1, 1 - 0.2, 1 + 0.2];
    const de = pairedDifference(e, [0, 0, 0, 0, 0]);
    const scaled = pairedDifference(e.map((x) => (x - 1) + (t4 * de.standardError) / 1), [0, 0, 0, 0, 0]);
    expect(scaled.pValue).toBeCloseTo(0.05, 8);
    expect(Math.abs(scaled.low)).toBeLessThan(1e-8); // the interval just touches 0
    const noisy = pairedDifference([1, -1, 2], [0, 0, 0]);
    expect(noisy.significant).toBe(false);
    expect(noisy.pValue).toBeGreaterThan(0.05);
    expect(pairedDifference([2, 2], [1, 1])).toMatchObject({ pValue: 0, significant: true, halfWidth: 0 });
    expect(() => pairedDifference([1, 2], [1])).toThrow(/same seeds/);
  });

  it('the t interval covers a known mean at the stated rate (2,000 seeded normal samples each of n = 3 and n = 5)', () => {
    // Each trial covers mu with probability exactly `level` for normal data, so the number of covering trials is
    // Binomial(2000, level): at 0.95, sd = sqrt(2000 * 0.95 * 0.05) = 9.75 trials. We accept +-4 sd ([0.9305, 0.9695]
    // at 0.95; +-0.036 at 0.8): a correct implementation lands outside with probability ~6e-5 per check. Wrong
    // quantiles land far outside: the normal 1.96 covers 0.811 (n = 3) and 0.878 (n = 5); t with df = n instead of
    // n - 1 covers 0.914 at n = 3.
    const trials = 2000;
    const gen = new Generator(2024);
    const mu = 17.5;
    const sigma = 3.2;
    for (const n of [3, 5]) {
      for (const level of [0.95, 0.8]) {
        const tolerance = (4 * Math.sqrt(trials * level * (1 - level))) / trials;
        let covered = 0;
        const x = new Float64Array(n);
        for (let k = 0; k < trials; k++) {
          gen.fillNormal(x, mu, sigma);
          const m = meanInterval(x, level);
          if (m.low <= mu && mu <= m.high) covered++;
        }
        expect(Math.abs(covered / trials - level), `n = ${n}: coverage ${covered / trials}`).toBeLessThanOrEqual(tolerance);
      }
    }
    // The wrong quantiles quoted above, for the record (computed with the same CDF).
    expect(2 * studentTCdf(1.959964, 2) - 1).toBeCloseTo(0.811, 3);
    expect(2 * studentTCdf(1.959964, 4) - 1).toBeCloseTo(0.878, 3);
    expect(2 * studentTCdf(studentTQuantile(0.975, 3), 2) - 1).toBeCloseTo(0.914, 3);
  });
});

describe('bootstrap', () => {
  it('is seeded, brackets the estimate, and approaches the t interval for large n', () => {
    const gen = new Generator(5);
    const x = new Float64Array(400);
    gen.fillNormal(x, 2, 1.5);
    const a = bootstrapInterval(x, new Generator(9), { resamples: 4000 });
    const b = bootstrapInterval(x, new Generator(9), { resamples: 4000 });
    expect(b).toEqual(a);
    expect(a.low).toBeLessThan(a.estimate);
    expect(a.high).toBeGreaterThan(a.estimate);
    const t = meanInterval(x);
    expect(a.estimate).toBeCloseTo(t.mean, 12);
    // Percentile bootstrap of a mean ~ mean +- 1.96 sd / sqrt(n) for large n; Monte-Carlo error of 4000 resamples ~ 3%.
    expect(Math.abs((a.high - a.low) / 2 - t.halfWidth) / t.halfWidth).toBeLessThan(0.1);
    expect(a.significant).toBe(true);
    // Another statistic: the median.
    const med = bootstrapInterval([1, 2, 3, 4, 100], new Generator(1), { statistic: (v) => Float64Array.from(v).sort()[2]!, resamples: 2000 });
    expect(med.estimate).toBe(3);
    expect(med.high).toBeLessThanOrEqual(100);
    expect(() => bootstrapInterval([1, 2], new Generator(1), { resamples: 0 })).toThrow(/resamples must be a positive integer/);
    expect(() => bootstrapInterval([1, 2], {} as Generator)).toThrow(/seeded Generator/);
  });

  it('paired bootstrap resamples seeds as pairs', () => {
    const a = [10, 12, 9, 11, 13, 10.5];
    const b = a.map((v, i) => v + 1 + [0.1, -0.1, 0.05, 0, -0.05, 0.02][i]!);
    const d = pairedBootstrapInterval(a, b, new Generator(3), { resamples: 3000 });
    expect(d.estimate).toBeCloseTo(-1 - (0.1 - 0.1 + 0.05 - 0.05 + 0.02) / 6, 12);
    expect(d.high).toBeLessThan(0);
    expect(d.significant).toBe(true);
    expect(pairedBootstrapInterval(a, a, new Generator(3)).significant).toBe(false);
    expect(() => pairedBootstrapInterval([1], [1, 2], new Generator(1))).toThrow(/same seeds/);
  });
});
