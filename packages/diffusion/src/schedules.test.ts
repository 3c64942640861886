import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cosineBetas, linearBetas, NoiseSchedule } from './schedules.js';

describe('beta schedules', () => {
  it('linear betas run evenly from 1e-4 to 0.02', () => {
    const b = linearBetas(1000);
    expect(b[0]).toBeCloseTo(1e-4, 15);
    expect(b[999]).toBeCloseTo(0.02, 15);
    // constant increment (0.02 - 1e-4) / 999
    expect(b[500]! - b[499]!).toBeCloseTo((0.02 - 1e-4) / 999, 15);
  });

  it('cosine: the cumulative product of alphas equals f(t+1)/f(0) (Nichol & Dhariwal Eq. 17) where betas are not clipped', () => {
    const T = 1000;
    const s = 0.008;
    const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
    const sched = new NoiseSchedule({ numTrainTimesteps: T, betaSchedule: 'cosine' });
    for (const t of [0, 1, 10, 250, 500, 900, 990]) {
      // float64 products of up to 1000 factors: relative error ~1e-13
      expect(sched.alphasCumprod[t]! / (f(t + 1) / f(0))).toBeCloseTo(1, 10);
    }
    expect(Math.max(...cosineBetas(T))).toBeLessThanOrEqual(0.999);
  });

  it('rejects bad configurations with a message naming the field', () => {
    expect(() => new NoiseSchedule({ numTrainTimesteps: 0 })).toThrow(/numTrainTimesteps/);
    expect(() => new NoiseSchedule({ betaSchedule: 'quadratic' as never })).toThrow(/betaSchedule/);
    expect(() => linearBetas(10, 0.5, 0.1)).toThrow(/start <= end/);
  });
});

describe('posterior q(x_{t-1} | x_t, x0) (DDPM Eq. 6-7)', () => {
  // Independent oracle: condition the joint Gaussian of (x_{t-1}, x_t) given x0 directly.
  // x_{t-1} = sqrt(abar_{t-1}) x0 + sqrt(1 - abar_{t-1}) e1, x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) e2.
  // Cov(x_{t-1}, x_t) = sqrt(alpha_t)(1 - abar_{t-1}), Var(x_t) = alpha_t (1 - abar_{t-1}) + beta_t.
  // E[x_{t-1} | x_t] = m1 + C/V (x_t - m2), Var = V1 - C^2 / V.
  const sched = new NoiseSchedule({ numTrainTimesteps: 1000 });
  const cos = new NoiseSchedule({ numTrainTimesteps: 200, betaSchedule: 'cosine' });
  for (const [name, s] of [['linear', sched], ['cosine', cos]] as const) {
    it(`${name}: mean coefficients and variance match direct Gaussian conditioning`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: s.numTrainTimesteps - 1 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), (t, x0, xt) => {
          let abarPrev = 1;
          for (let k = 0; k < t; k++) abarPrev *= 1 - s.betas[k]!;
          const beta = s.betas[t]!;
          const alpha = 1 - beta;
          const m1 = Math.sqrt(abarPrev) * x0;
          const V1 = 1 - abarPrev;
          const m2 = Math.sqrt(alpha) * m1;
          const C = Math.sqrt(alpha) * V1;
          const V = alpha * V1 + beta;
          const mean = m1 + (C / V) * (xt - m2);
          const variance = V1 - (C * C) / V;
          const got = s.posteriorMeanCoef1[t]! * x0 + s.posteriorMeanCoef2[t]! * xt;
          // float64 both ways; cancellations in V1 - C^2/V leave ~1e-12 absolute error
          expect(Math.abs(got - mean)).toBeLessThan(1e-9);
          expect(Math.abs(s.posteriorVariance[t]! - variance)).toBeLessThan(1e-12);
          expect(Math.abs(s.alphasCumprodPrev[t]! - abarPrev)).toBeLessThan(1e-12);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('posterior variance is 0 at t = 0 and the clipped log variance uses t = 1', () => {
    expect(sched.posteriorVariance[0]).toBe(0);
    expect(sched.posteriorLogVarianceClipped[0]).toBeCloseTo(Math.log(sched.posteriorVariance[1]!), 12);
    expect(sched.snr(0)).toBeCloseTo(0.9999 / 1e-4, 6);
  });
});
