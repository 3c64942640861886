import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromTypedArray, Generator, ones, randn, tensor, zeros, type Tensor } from '@oclt/tensor';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import { spacedTimesteps, type PredictionType } from './base.js';

// ---- independent float64 oracles ------------------------------------------------------------------------------

/**
 * The exact eps-predictor E[eps | x_t] for data = a weighted point set {m_j} in 2-D:
 * x_t | j ~ N(sqrt(abar) m_j, (1 - abar) I), so p(j | x_t) = softmax_j(log w_j - |x_t - sqrt(abar) m_j|^2 / (2 (1 - abar)))
 * and E[eps | x_t] = sum_j p(j | x_t) (x_t - sqrt(abar) m_j) / sqrt(1 - abar).
 */
function pointSetEps(points: number[][], weights: number[], abar: number) {
  return (x: Float32Array): Float32Array => {
    const out = new Float32Array(x.length);
    const sa = Math.sqrt(abar);
    const v = 1 - abar;
    const logits = new Float64Array(points.length);
    for (let i = 0; i < x.length / 2; i++) {
      const x0 = x[2 * i]!;
      const x1 = x[2 * i + 1]!;
      let mx = -Infinity;
      points.forEach((m, j) => {
        const d0 = x0 - sa * m[0]!;
        const d1 = x1 - sa * m[1]!;
        logits[j] = Math.log(weights[j]!) - (d0 * d0 + d1 * d1) / (2 * v);
        mx = Math.max(mx, logits[j]!);
      });
      let z = 0;
      let e0 = 0;
      let e1 = 0;
      points.forEach((m, j) => {
        const p = Math.exp(logits[j]! - mx);
        z += p;
        e0 += p * (x0 - sa * m[0]!);
        e1 += p * (x1 - sa * m[1]!);
      });
      out[2 * i] = e0 / z / Math.sqrt(v);
      out[2 * i + 1] = e1 / z / Math.sqrt(v);
    }
    return out;
  };
}

/** The exact eps-predictor for Gaussian data N(mu, S) in 2-D: E[eps | x] = sqrt(1-abar) (abar S + (1-abar) I)^{-1} (x - sqrt(abar) mu). */
function gaussianEps(mu: number[], S: number[][], abar: number) {
  const a = abar * S[0]![0]! + (1 - abar);
  const b = abar * S[0]![1]!;
  const d = abar * S[1]![1]! + (1 - abar);
  const det = a * d - b * b;
  const s1 = Math.sqrt(1 - abar);
  const sa = Math.sqrt(abar);
  return (x: Float32Array): Float32Array => {
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length / 2; i++) {
      const r0 = x[2 * i]! - sa * mu[0]!;
      const r1 = x[2 * i + 1]! - sa * mu[1]!;
      out[2 * i] = (s1 * (d * r0 - b * r1)) / det;
      out[2 * i + 1] = (s1 * (-b * r0 + a * r1)) / det;
    }
    return out;
  };
}

function meanCov(x: Float32Array): { mean: number[]; cov: number[][] } {
  const n = x.length / 2;
  let m0 = 0;
  let m1 = 0;
  for (let i = 0; i < n; i++) {
    m0 += x[2 * i]!;
    m1 += x[2 * i + 1]!;
  }
  m0 /= n;
  m1 /= n;
  let c00 = 0;
  let c01 = 0;
  let c11 = 0;
  for (let i = 0; i < n; i++) {
    const a = x[2 * i]! - m0;
    const b = x[2 * i + 1]! - m1;
    c00 += a * a;
    c01 += a * b;
    c11 += b * b;
  }
  return { mean: [m0, m1], cov: [[c00 / (n - 1), c01 / (n - 1)], [c01 / (n - 1), c11 / (n - 1)]] };
}

function sample(scheduler: DDPMScheduler | DDIMScheduler, epsAt: (abar: number) => (x: Float32Array) => Float32Array, n: number, seed: number): Float32Array {
  const rng = new Generator(seed);
  let x: Tensor = randn([n, 2], rng);
  for (const t of scheduler.timesteps) {
    const eps = epsAt(scheduler.alphasCumprod[t]!)(x.dataSync() as Float32Array);
    x = scheduler.step(fromTypedArray(eps, [n, 2]), t, x, rng).prevSample.contiguous();
  }
  return x.dataSync() as Float32Array;
}

// ---- tests ----------------------------------------------------------------------------------------------------

describe('timestep spacing', () => {
  // Values from Lin et al. 2023 ("Common diffusion noise schedules and sample steps are flawed"), Table 2, T=1000, n=10.
  it('linspace, leading and trailing match the published tables', () => {
    expect([...spacedTimesteps(1000, 10, 'linspace')]).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect([...spacedTimesteps(1000, 10, 'leading')]).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect([...spacedTimesteps(1000, 10, 'leading', 1)]).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect([...spacedTimesteps(1000, 10, 'trailing')]).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });
  it("rounds halves to even as numpy's round does (diffusers builds linspace and trailing timesteps with it)", () => {
    // trailing, n = 16: round(arange(1000, 0, -62.5)) - 1; the halves 937.5, 812.5, ..., 62.5 go to the even
    // neighbour (938, 812, 688, 562, 438, 312, 188, 62), where rounding half up would give 813, 563, 313, 63.
    expect([...spacedTimesteps(1000, 16, 'trailing')]).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    // linspace, T = 4, n = 3: round(linspace(0, 3, 3)) = round([0, 1.5, 3]) = [0, 2, 3]; T = 6, n = 3: [0, 2.5, 5] -> [0, 2, 5].
    expect([...spacedTimesteps(4, 3, 'linspace')]).toEqual([3, 2, 0]);
    expect([...spacedTimesteps(6, 3, 'linspace')]).toEqual([5, 2, 0]);
  });
  it('always gives n strictly decreasing timesteps in range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.constantFrom('linspace', 'leading', 'trailing' as const), (T, nRaw, spacing) => {
        const n = Math.min(nRaw, T);
        const ts = spacedTimesteps(T, n, spacing);
        expect(ts.length).toBe(n);
        for (let i = 0; i < n; i++) {
          expect(ts[i]).toBeGreaterThanOrEqual(0);
          expect(ts[i]).toBeLessThan(T);
          if (i > 0) expect(ts[i]!).toBeLessThan(ts[i - 1]!);
        }
      }),
      { numRuns: 50 },
    );
  });
  it('rejects more inference steps than training steps', () => {
    expect(() => new DDIMScheduler({ numTrainTimesteps: 10 }).setTimesteps(11)).toThrow(/numInferenceSteps must be an integer in \[1, 10\]/);
  });
});

describe('addNoise', () => {
  it('computes sqrt(abar_t) x0 + sqrt(1 - abar_t) eps per batch element', () => {
    const s = new DDPMScheduler();
    const x0 = tensor([[1, 2], [3, 4]]);
    const eps = tensor([[0.5, -1], [2, 0]]);
    const got = s.addNoise(x0, eps, [0, 999]).toArray() as number[][];
    // abar_0 = 1 - 1e-4; abar_999 = prod (1 - beta) computed here independently
    let abar999 = 1;
    for (let k = 0; k < 1000; k++) abar999 *= 1 - (1e-4 + ((0.02 - 1e-4) * k) / 999);
    const a0 = 1 - 1e-4;
    const exp = [
      [Math.sqrt(a0) * 1 + Math.sqrt(1 - a0) * 0.5, Math.sqrt(a0) * 2 - Math.sqrt(1 - a0)],
      [Math.sqrt(abar999) * 3 + Math.sqrt(1 - abar999) * 2, Math.sqrt(abar999) * 4],
    ];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expect(got[i]![j]).toBeCloseTo(exp[i]![j]!, 5);
  });
  it('names the problem on a batch/timestep mismatch', () => {
    const s = new DDPMScheduler();
    expect(() => s.addNoise(zeros([3, 2]), zeros([3, 2]), [1, 2])).toThrow(/2 timesteps for a batch of 3/);
    expect(() => s.addNoise(zeros([3, 2]), zeros([3, 3]), 5)).toThrow(/addNoise: shapes/);
    expect(() => s.addNoise(zeros([1, 2]), zeros([1, 2]), 1000)).toThrow(/timestep must be an integer in \[0, 1000\)/);
  });
});

describe('DDPM step (spaced timesteps) against Gaussian conditioning', () => {
  it('mean and standard deviation match q(x_s | x_t, x0) for every step of a 20-step sequence', () => {
    const s = new DDPMScheduler({ predictionType: 'sample' });
    s.setTimesteps(20);
    const ab = s.alphasCumprod;
    const ts = [...s.timesteps];
    ts.forEach((t, i) => {
      if (t === 0) return;
      const prev = i + 1 < ts.length ? ts[i + 1]! : -1;
      const abarS = prev >= 0 ? ab[prev]! : 1;
      // Joint of (x_s, x_t) given x0: Var(x_s) = 1 - abar_s, Cov = sqrt(abar_t/abar_s)(1 - abar_s), Var(x_t) = 1 - abar_t.
      const x0 = 0.7;
      const xt = -0.4;
      const C = Math.sqrt(ab[t]! / abarS) * (1 - abarS);
      const mean = Math.sqrt(abarS) * x0 + (C / (1 - ab[t]!)) * (xt - Math.sqrt(ab[t]!) * x0);
      const sd = Math.sqrt(1 - abarS - (C * C) / (1 - ab[t]!));
      const out0 = s.step(tensor([x0]), t, tensor([xt]), undefined, { noise: zeros([1]) }).prevSample.item();
      const out1 = s.step(tensor([x0]), t, tensor([xt]), undefined, { noise: ones([1]) }).prevSample.item();
      // float32 arithmetic on O(1) values
      expect(out0).toBeCloseTo(mean, 5);
      expect(out1 - out0).toBeCloseTo(sd, 5);
    });
  });

  it('fixed_large uses beta\' = 1 - abar_t / abar_s as variance', () => {
    const s = new DDPMScheduler({ varianceType: 'fixed_large' });
    s.setTimesteps(10);
    const t = s.timesteps[3]!;
    const prev = s.timesteps[4]!;
    expect(s.stepCoefficients(t, prev).variance).toBeCloseTo(1 - s.alphasCumprod[t]! / s.alphasCumprod[prev]!, 12);
  });

  it('DDIM with eta = 1 has the variance of DDPM fixed_small (DDIM Eq. 16)', () => {
    const ddpm = new DDPMScheduler();
    const ddim = new DDIMScheduler();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 0, max: 998 }), (t, p) => {
        const prev = Math.min(p, t - 1);
        expect(ddim.sigma(t, prev, 1) ** 2).toBeCloseTo(ddpm.stepCoefficients(t, prev).variance, 12);
      }),
      { numRuns: 30 },
    );
  });

  it('requires a generator for stochastic steps and a known timestep', () => {
    const s = new DDPMScheduler();
    expect(() => s.step(zeros([2]), 5, zeros([2]))).toThrow(/needs a seeded Generator/);
    s.setTimesteps(10);
    expect(() => s.step(zeros([2]), 5, zeros([2]), new Generator(0))).toThrow(/timestep 5 is not in the current timesteps/);
    expect(() => s.step(zeros([2]), 900, zeros([3]), new Generator(0))).toThrow(/shapes \[2\] and \[3\]/);
  });
});

describe('DDIM with eta = 0 and an oracle predictor recovers x0', () => {
  for (const predictionType of ['epsilon', 'sample', 'v_prediction'] as PredictionType[]) {
    for (const spacing of ['leading', 'trailing', 'linspace'] as const) {
      it(`${predictionType}, ${spacing} spacing`, () => {
        const s = new DDIMScheduler({ predictionType, timestepSpacing: spacing });
        s.setTimesteps(25);
        const rng = new Generator(3);
        const x0 = randn([64], rng).contiguous();
        const eps0 = randn([64], rng);
        let x = s.addNoise(x0, eps0, s.timesteps[0]!);
        const x0d = x0.dataSync();
        for (const t of s.timesteps) {
          // Oracle output at (x_t, t) built from the TRUE x0 in float64.
          const abar = s.alphasCumprod[t]!;
          const xt = x.toTypedArray();
          const out = new Float32Array(64);
          for (let i = 0; i < 64; i++) {
            const e = (xt[i]! - Math.sqrt(abar) * x0d[i]!) / Math.sqrt(1 - abar);
            out[i] = predictionType === 'epsilon' ? e : predictionType === 'sample' ? x0d[i]! : Math.sqrt(abar) * e - Math.sqrt(1 - abar) * x0d[i]!;
          }
          x = s.step(fromTypedArray(out), t, x).prevSample;
        }
        const got = x.toTypedArray();
        // float32 round-off amplified by 1/sqrt(abar) <= ~1/sqrt(abar_999) ~ 160 at the noisiest step: < 1e-4
        for (let i = 0; i < 64; i++) expect(Math.abs(got[i]! - x0d[i]!)).toBeLessThan(1e-4);
      });
    }
  }
});

describe('samplers with the exact score reproduce the data distribution', () => {
  const points = [[1, 1], [-1.5, 0.5], [0.5, -2]];
  const weights = [0.5, 0.3, 0.2];
  // Mixture of point masses: mean = sum w m; cov = sum w m m^T - mean mean^T.
  const mu = [0, 1].map((k) => points.reduce((a, m, j) => a + weights[j]! * m[k]!, 0));
  const cov = [0, 1].map((a) => [0, 1].map((b) => points.reduce((s, m, j) => s + weights[j]! * m[a]! * m[b]!, 0) - mu[a]! * mu[b]!));
  const N = 1000;
  // Statistical tolerance: 4 standard errors of the mean (sd / sqrt(N)) and of the covariance (~ sqrt(2/N) * var scale).
  const tolMean = (k: number) => 4 * Math.sqrt(cov[k]![k]! / N);
  const tolCov = 4 * Math.sqrt(2 / N) * Math.max(cov[0]![0]!, cov[1]![1]!);

  function checkPointSet(x: Float32Array) {
    const { mean, cov: c } = meanCov(x);
    for (const k of [0, 1]) expect(Math.abs(mean[k]! - mu[k]!)).toBeLessThan(tolMean(k));
    for (const a of [0, 1]) for (const b of [0, 1]) expect(Math.abs(c[a]![b]! - cov[a]![b]!)).toBeLessThan(tolCov);
    // Every sample lands near one of the points, and each point gets its weight (binomial: 4 sd).
    const counts = [0, 0, 0];
    for (let i = 0; i < N; i++) {
      const d = points.map((m) => Math.hypot(x[2 * i]! - m[0]!, x[2 * i + 1]! - m[1]!));
      const j = d.indexOf(Math.min(...d));
      expect(d[j]).toBeLessThan(0.05);
      counts[j]!++;
    }
    weights.forEach((w, j) => expect(Math.abs(counts[j]! / N - w)).toBeLessThan(4 * Math.sqrt((w * (1 - w)) / N)));
  }

  it('DDPM, all 1000 steps, point-set data', () => {
    const s = new DDPMScheduler();
    checkPointSet(sample(s, (abar) => pointSetEps(points, weights, abar), N, 11));
  });
  it('DDPM, 100 leading steps, fixed_large, point-set data', () => {
    const s = new DDPMScheduler({ varianceType: 'fixed_large' }).setTimesteps(100);
    checkPointSet(sample(s, (abar) => pointSetEps(points, weights, abar), N, 12));
  });
  it('DDIM eta = 0, 100 trailing steps, point-set data', () => {
    const s = new DDIMScheduler({ timestepSpacing: 'trailing' }).setTimesteps(100);
    checkPointSet(sample(s, (abar) => pointSetEps(points, weights, abar), N, 13));
  });
  // DDPM runs all 1000 steps here: with coarse steps its fixed variances are biased for Gaussian data (the true reverse
  // variance adds coef1^2 Var[x0 | x_t]; Bao et al. 2022), which a 100-step run shows as a ~10% smaller covariance.
  it('DDIM eta = 0 and 0.5 (50 steps) and DDPM (1000 steps), Gaussian data', () => {
    const gm = [0.5, -1];
    const gS = [[1.5, 0.6], [0.6, 0.8]];
    for (const eta of [0, 0.5, 'ddpm'] as const) {
      const s = eta === 'ddpm' ? new DDPMScheduler() : new DDIMScheduler({ eta, timestepSpacing: 'trailing' }).setTimesteps(50);
      const n = eta === 'ddpm' ? 2500 : 4000;
      const { mean, cov: c } = meanCov(sample(s, (abar) => gaussianEps(gm, gS, abar), n, 21));
      // 4 standard errors of the mean and of the covariance entries (<= sqrt(2 / n) * largest variance)
      for (const k of [0, 1]) expect(Math.abs(mean[k]! - gm[k]!)).toBeLessThan(4 * Math.sqrt(gS[k]![k]! / n));
      for (const a of [0, 1]) for (const b of [0, 1]) expect(Math.abs(c[a]![b]! - gS[a]![b]!)).toBeLessThan(4 * Math.sqrt(2 / n) * 1.5);
    }
  });
});

describe('DDPM final step', () => {
  it('adds no noise on the last step, also with trailing spacing and fixed_large variance', () => {
    const s = new DDPMScheduler({ varianceType: 'fixed_large', timestepSpacing: 'trailing', predictionType: 'sample' }).setTimesteps(10);
    const last = s.timesteps[9]!;
    expect(last).toBe(99);
    // predicting x0 = 0.3 exactly: the final step must return x0 itself (posterior mean with abar_prev = 1)
    const out = s.step(tensor([0.3]), last, tensor([1.7]), new Generator(1)).prevSample.item();
    expect(out).toBeCloseTo(0.3, 6);
  });
});

describe('x0 clipping (clipSample) and the OC_LT reference sampler', () => {
  // Point masses outside [-1, 1]: the exact x0_hat lies near them, so clipping it to [-1, 1] changes every step.
  const points = [[2.5, -1.8], [-3, 1.2]];
  const weights = [0.6, 0.4];

  /**
   * The released OC_LT DDIM loop (diffusion.py, GaussianDiffusionSamplerOld with method 'ddim', skip 10), written out
   * in float64: for t = 990, 980, ..., 0 with s = max(t - 10, 0),
   *   x_s = sqrt(abar_s) / sqrt(abar_t) x_t + (sqrt(1 - abar_s) - sqrt(abar_s) sqrt(1 - abar_t) / sqrt(abar_t)) eps(x_t, t),
   * no clipping of x0 (the line is commented out there). Its final clip to [-1, 1] is left out to compare raw samples.
   */
  function ocltDdim(x: Float64Array, abarTable: Float64Array): Float64Array {
    const out = Float64Array.from(x);
    for (let t = 990; t >= 0; t -= 10) {
      const s = Math.max(t - 10, 0);
      const [c1, c2, c3, c4] = [Math.sqrt(abarTable[t]!), Math.sqrt(1 - abarTable[t]!), Math.sqrt(abarTable[s]!), Math.sqrt(1 - abarTable[s]!)];
      const eps = pointSetEps(points, weights, abarTable[t]!)(Float32Array.from(out));
      for (let i = 0; i < out.length; i++) out[i] = (c3 / c1) * out[i]! + (c4 - (c3 * c2) / c1) * eps[i]!;
    }
    return out;
  }

  function ours(s: DDIMScheduler, x: Float32Array): Float32Array {
    let xt: Tensor = fromTypedArray(Float32Array.from(x), [x.length / 2, 2]);
    for (const t of s.timesteps) xt = s.step(fromTypedArray(pointSetEps(points, weights, s.alphasCumprod[t]!)(xt.toTypedArray() as Float32Array), xt.shape), t, xt).prevSample;
    return xt.toTypedArray() as Float32Array;
  }

  it('by default nothing is clipped: 100 leading steps with setAlphaToOne false are the OC_LT loop', () => {
    const s = new DDIMScheduler({ setAlphaToOne: false }).setTimesteps(100);
    expect(s.clipSample).toBeNull();
    expect(s.timesteps[0]).toBe(990);
    expect(s.timesteps[99]).toBe(0);
    const x = new Float32Array(64);
    new Generator(4).fillNormal(x);
    const got = ours(s, x);
    const want = ocltDdim(Float64Array.from(x), s.alphasCumprod);
    // float32 steps against float64 ones; round-off amplified by up to 1/sqrt(abar_990) ~ 160 at the noisy end.
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-3 * (1 + Math.abs(want[i]!)));
    // The samples reach the points outside [-1, 1] (which clipping would forbid).
    expect(Math.max(...Array.from(got, Math.abs))).toBeGreaterThan(2);
    // With clipSample = 1 they cannot: every x0_hat, the last one included, is in [-1, 1].
    const clipped = ours(new DDIMScheduler({ clipSample: 1 }).setTimesteps(100), x);
    for (const v of clipped) expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('one clipped step by hand: eps re-derived from the clipped x0 (default) or kept (diffusers: use_clipped_model_output=False)', () => {
    const t = 500;
    const prevT = 480;
    const xt = [1.9, -0.4, 0.2];
    const eps = [-0.7, 0.3, 0.1];
    const base = new DDIMScheduler({ clipSample: 1 });
    base.setTimesteps(50); // leading: 980, 960, ..., 500, 480, ...
    expect(base.previousTimestep(t)).toBe(prevT);
    const [a, ap] = [base.alphasCumprod[t]!, base.alphasCumprod[prevT]!];
    const x0 = xt.map((x, i) => (x - Math.sqrt(1 - a) * eps[i]!) / Math.sqrt(a));
    const x0c = x0.map((v) => Math.min(1, Math.max(-1, v)));
    expect(x0.some((v) => Math.abs(v) > 1)).toBe(true);
    const rederived = xt.map((x, i) => (x - Math.sqrt(a) * x0c[i]!) / Math.sqrt(1 - a));
    const want = {
      rederived: x0c.map((v, i) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * rederived[i]!),
      kept: x0c.map((v, i) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * eps[i]!),
      unclipped: x0.map((v, i) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * eps[i]!),
    };
    const run = (s: DDIMScheduler, opts?: { useClippedModelOutput?: boolean }) => {
      s.setTimesteps(50);
      const out = s.step(tensor(eps), t, tensor(xt), undefined, opts);
      return { prev: Array.from(out.prevSample.toTypedArray()), x0: Array.from(out.predOriginalSample.toTypedArray()) };
    };
    const close = (got: number[], expected: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    const r = run(base);
    close(r.prev, want.rederived);
    close(r.x0, x0c);
    close(run(new DDIMScheduler({ clipSample: 1, useClippedModelOutput: false })).prev, want.kept);
    close(run(base, { useClippedModelOutput: false }).prev, want.kept); // per-step override
    close(run(new DDIMScheduler()).prev, want.unclipped); // no clipping: the choice does not matter
    close(run(new DDIMScheduler({ useClippedModelOutput: false })).prev, want.unclipped);
    expect(Math.abs(want.kept[0]! - want.rederived[0]!)).toBeGreaterThan(0.05); // the two semantics differ here
  });

  it('rejects a clip range that is not positive', () => {
    expect(() => new DDIMScheduler({ clipSample: 0 })).toThrow(/clipSample must be a positive number or null/);
    expect(() => new DDPMScheduler({ clipSample: -1 })).toThrow(/DDPMScheduler: clipSample/);
  });
});
