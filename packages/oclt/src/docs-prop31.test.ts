/**
 * The checks behind docs/04-long-tail-oc.md, "How strong is a transfer? Proposition 3.1". The page shows the three
 * ways of computing the transfer strength (Monte-Carlo with extra kernels, an exact two-kernel quadrature, the bound)
 * and prints them; the claims it makes about them, with their tolerances, are asserted here, on the same set-up:
 * N_i = N(0, s^2 I) with weight 0.5, N_j = N((d, 0), s^2 I) with weight 0.05, s = 1, two extra kernels, 20,000
 * draws from Generator(4), d in {0, 1, 2, 3, 5}.
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { transferStrengthBound } from './theory.js';

const sigma = 1;
const wOwn = 0.5;
const wOther = 0.05;
const extraKernels = [{ m: [0, 1.5], w: 0.3 }, { m: [1, -1.5], w: 0.15 }];

/** E_{x ~ N_i}[w_j N_j(x) / sum_k w_k N_k(x)] by Monte-Carlo, with the extra kernels in the reference set. */
function monteCarloStrength(d: number, draws: number, gen: Generator): { mean: number; standardError: number } {
  const refs = [{ m: [0, 0], w: wOwn }, { m: [d, 0], w: wOther }, ...extraKernels];
  let sum = 0;
  let sumSq = 0;
  for (let n = 0; n < draws; n++) {
    const x = [sigma * gen.normal(), sigma * gen.normal()]; // x ~ N_i, m_i = 0
    const k = refs.map((r) => r.w * Math.exp(-((x[0]! - r.m[0]!) ** 2 + (x[1]! - r.m[1]!) ** 2) / (2 * sigma ** 2)));
    const ratio = k[1]! / k.reduce((a, b) => a + b, 0);
    sum += ratio;
    sumSq += ratio * ratio;
  }
  const mean = sum / draws;
  return { mean, standardError: Math.sqrt((sumSq / draws - mean * mean) / draws) };
}

/** Only i and j: E over u ~ N(0, s^2) of sigmoid(log(w_j/w_i) + (u d - d^2/2) / s^2), by the trapezoid rule. */
function twoKernelStrength(d: number, own = wOwn, other = wOther): number {
  const steps = 4000;
  const lo = -10 * sigma;
  const du = (20 * sigma) / steps;
  let total = 0;
  for (let k = 0; k <= steps; k++) {
    const u = lo + k * du;
    const density = Math.exp(-(u * u) / (2 * sigma ** 2)) / Math.sqrt(2 * Math.PI * sigma ** 2);
    const ratio = 1 / (1 + Math.exp(-(Math.log(other / own) + (u * d - (d * d) / 2) / sigma ** 2)));
    total += (k === 0 || k === steps ? 0.5 : 1) * density * ratio * du;
  }
  return total;
}

describe('docs ch. 4, Proposition 3.1: the transfer strength against its bound', () => {
  it('the two-kernel value is below the bound, and extra kernels only lower it (Monte-Carlo, 4 standard errors)', () => {
    const gen = new Generator(4); // one generator across the distances, in this order, as on the page
    for (const d of [0, 1, 2, 3, 5]) {
      const bound = transferStrengthBound(wOwn, wOther, d * d, sigma ** 2);
      const exact = twoKernelStrength(d);
      const mc = monteCarloStrength(d, 20_000, gen);
      expect(exact, `d=${d}: two-kernel ${exact} > bound ${bound}`).toBeLessThanOrEqual(bound);
      // More kernels in the reference set only enlarge the denominator: below the two-kernel value.
      expect(mc.mean, `d=${d}: ${mc.mean} > ${exact}`).toBeLessThanOrEqual(exact + 4 * mc.standardError);
    }
  });

  it('similarity switches transfer off, and the bound has the square root of the weight ratio', () => {
    expect(twoKernelStrength(5)).toBeLessThan(0.05 * twoKernelStrength(0));
    expect(transferStrengthBound(wOwn, 4 * wOther, 1, 1)).toBe(2 * transferStrengthBound(wOwn, wOther, 1, 1));
  });

  it('the printed Eq. 9 points the wrong way: a rare own class transfers more, and the corrected bound still holds', () => {
    // Eq. 9 as printed scales with w_i w_j, so shrinking the own weight w_i would lower the strength.
    expect(twoKernelStrength(2, 0.01, 0.5)).toBeGreaterThan(3 * twoKernelStrength(2, 0.5, 0.5)); // own weight / 50: x > 3
    expect(twoKernelStrength(2, 0.01, 0.5)).toBeLessThanOrEqual(transferStrengthBound(0.01, 0.5, 4, 1));
    // The values the page quotes: about 0.23 -> 0.77.
    expect(twoKernelStrength(2, 0.5, 0.5)).toBeCloseTo(0.225, 3);
    expect(twoKernelStrength(2, 0.01, 0.5)).toBeCloseTo(0.765, 3);
  });

  it('the values the page quotes at d = 0: about 0.061 (Monte-Carlo), 0.091 (two kernels), 0.158 (bound)', () => {
    const mc = monteCarloStrength(0, 20_000, new Generator(4)); // d = 0 is the first draw of the page's generator
    expect(mc.mean).toBeCloseTo(0.061, 3);
    expect(twoKernelStrength(0)).toBeCloseTo(0.091, 3);
    expect(transferStrengthBound(wOwn, wOther, 0, 1)).toBeCloseTo(0.158, 3);
  });
});
