/**
 * The paper's claims as properties: Proposition 3.1, Eq. 3-5, Proposition D.1, Proposition G.2, and the effect
 * of batch re-sampling on head-tail transfer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, fromTypedArray, randn, tensor } from '@oclt/tensor';
import { grad, valueAndGrad } from '@oclt/autograd';
import { cbdmOptimum, selectedSourceLogLikelihoodLowerBound, smoothedEmpiricalScore, transferStrengthBound } from './theory.js';
import { selectionProbabilities } from './target-selection.js';
import { cbdmLoss, cbdmRegularizer, cbdmTimeWeights } from './cbdm.js';
import { transferDiagnostics } from './diagnostics.js';
import { exactlyBalancedSampler, shuffledSampler } from './samplers.js';
import { classFrequencies, countClasses } from './long-tailed-dataset.js';
import { linearAlphasCumprod, makeNoisyBatch, twoPointTransferStrength } from './test-helpers.js';

const abarTable = linearAlphasCumprod(1000);

/** log of the isotropic Gaussian density N(x; m, s2 I) without its constant (the constant cancels in ratios). */
function logKernel(x: ArrayLike<number>, m: ArrayLike<number>, s2: number): number {
  let d2 = 0;
  for (let k = 0; k < x.length; k++) d2 += (x[k]! - m[k]!) ** 2;
  return -d2 / (2 * s2);
}

/** w_j N_j(x) / sum_k w_k N_k(x), in log space so that far points do not underflow. */
function mixingWeight(x: number[], means: number[][], weights: number[], s2: number, j: number): number {
  const logs = means.map((m, k) => Math.log(weights[k]!) + logKernel(x, m, s2));
  const max = Math.max(...logs);
  const total = logs.reduce((s, l) => s + Math.exp(l - max), 0);
  return Math.exp(logs[j]! - max) / total;
}

/** Monte-Carlo mean of f(x), x ~ N(mean, s^2 I). */
function monteCarlo(f: (x: number[]) => number, mean: number[], s: number, samples: number, gen: Generator): { estimate: number; samples: number } {
  let sum = 0;
  for (let n = 0; n < samples; n++) sum += f(mean.map((m) => m + s * gen.normal()));
  return { estimate: sum / samples, samples };
}

describe('Proposition 3.1 (Eq. 9): transfer strength bound', () => {
  const pointSet = fc.record({
    dim: fc.integer({ min: 1, max: 4 }),
    others: fc.integer({ min: 0, max: 4 }),
    s: fc.double({ min: 0.3, max: 2, noNaN: true }),
    spread: fc.double({ min: 0, max: 3, noNaN: true }),
    seed: fc.integer({ min: 0, max: 1e9 }),
  });

  it('Monte-Carlo E_{x~N_i}[w_j N_j / sum_k w_k N_k] stays below (1/2) sqrt(w_j/w_i) exp(-d^2/(8 s^2))', () => {
    fc.assert(
      fc.property(pointSet, ({ dim, others, s, spread, seed }) => {
        const gen = new Generator(seed);
        const K = 2 + others;
        const means = Array.from({ length: K }, () => Array.from({ length: dim }, () => spread * gen.normal()));
        const weights = Array.from({ length: K }, () => Math.exp(2 * (gen.random() - 0.5) * Math.log(10))); // 0.1 .. 10
        const d2 = means[0]!.reduce((acc, m, k) => acc + (m - means[1]![k]!) ** 2, 0);
        const mc = monteCarlo((x) => mixingWeight(x, means, weights, s * s, 1), means[0]!, s, 3000, gen);
        const bound = transferStrengthBound(weights[0]!, weights[1]!, d2, s * s);
        // The integrand f lies in [0, 1], so Var f <= E f <= bound under the claim: the standard error is at most
        // sqrt(bound / n) even when transfers are rare events (where the sample's own spread is unreliable).
        // 4.5 of them: a false alarm has probability ~3e-6 per case; the fast-check seed is fixed as well.
        expect(mc.estimate).toBeLessThanOrEqual(bound + 4.5 * Math.sqrt(bound / mc.samples));
      }),
      { numRuns: 30, seed: 31 },
    );
  });

  it('two-point reference set: exact 1-D quadrature agrees with Monte-Carlo and obeys the bound', () => {
    fc.assert(
      fc.property(pointSet, ({ dim, s, spread, seed }) => {
        const gen = new Generator(seed);
        const means = [0, 1].map(() => Array.from({ length: dim }, () => spread * gen.normal()));
        const weights = [0, 1].map(() => Math.exp(2 * (gen.random() - 0.5) * Math.log(10)));
        const d = Math.sqrt(means[0]!.reduce((acc, m, k) => acc + (m - means[1]![k]!) ** 2, 0));
        const exact = twoPointTransferStrength(weights[0]!, weights[1]!, d, s);
        const mc = monteCarlo((x) => mixingWeight(x, means, weights, s * s, 1), means[0]!, s, 3000, gen);
        // Var f <= E f = exact (f in [0, 1]): a standard error that stays valid for rare transfers; 4.5 of them.
        expect(Math.abs(mc.estimate - exact)).toBeLessThanOrEqual(4.5 * Math.sqrt(exact / mc.samples) + 1e-12);
        expect(exact).toBeLessThanOrEqual(transferStrengthBound(weights[0]!, weights[1]!, d * d, s * s) + 1e-12);
      }),
      { numRuns: 30, seed: 32 },
    );
  });

  it('the constant is sharp: equal weights and coincident means give exactly 1/2', () => {
    expect(twoPointTransferStrength(1, 1, 0, 1)).toBeCloseTo(0.5, 12);
    expect(transferStrengthBound(1, 1, 0, 1)).toBe(0.5);
  });
});

describe('Eq. 3-5: self-normalised score = exact score of the Gaussian-smoothed empirical distribution', () => {
  /** log p(x) for p = (1/N) sum_j N(x; sqrt(abar) x0_j, (1-abar) I), with every constant, in float64. */
  function logSmoothedDensity(x: ArrayLike<number>, points: ArrayLike<number>, D: number, abar: number): number {
    const N = points.length / D;
    const s2 = 1 - abar;
    const logs = Array.from({ length: N }, (_, j) => logKernel(x, Array.from({ length: D }, (_, k) => Math.sqrt(abar) * points[j * D + k]!), s2) - (D / 2) * Math.log(2 * Math.PI * s2) - Math.log(N));
    const max = Math.max(...logs);
    return max + Math.log(logs.reduce((s, l) => s + Math.exp(l - max), 0));
  }

  it('selectionProbabilities (the batch kernel of Eq. 8) and smoothedEmpiricalScore both match finite differences of log p', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 100, max: 999 }), fc.integer({ min: 0, max: 1e9 }), (N, D, t, seed) => {
        const gen = new Generator(seed);
        const x0 = randn([N, D], gen);
        const batch = makeNoisyBatch(x0, new Int32Array(N).fill(t), abarTable, gen);
        const abar = abarTable[t]!;
        const p = selectionProbabilities({ ...batch, alphasCumprod: abarTable });
        const points = x0.toTypedArray();
        const xt = batch.xt.toTypedArray();
        for (let i = 0; i < N; i++) {
          const x = Array.from(xt.subarray(i * D, (i + 1) * D));
          const h = 1e-4;
          const direct = smoothedEmpiricalScore(x, points, abar);
          for (let k = 0; k < D; k++) {
            const up = [...x];
            const down = [...x];
            up[k]! += h;
            down[k]! -= h;
            const fd = (logSmoothedDensity(up, points, D, abar) - logSmoothedDensity(down, points, D, abar)) / (2 * h);
            // Eq. 5 from the batch kernel: sum_j p_sel(j|i) (sqrt(abar) x0_j - x_t,i) / (1 - abar).
            let fromSelection = 0;
            for (let j = 0; j < N; j++) fromSelection += (p[i * N + j]! * (Math.sqrt(abar) * points[j * D + k]! - x[k]!)) / (1 - abar);
            // Central differences: error ~ h^2 |f'''|, with curvature up to ~1/(1-abar)^2 (<= ~30 here).
            const tol = 1e-5 * (1 + Math.abs(fd)) * (1 + 1 / (1 - abar) ** 2);
            expect(Math.abs(fromSelection - fd)).toBeLessThanOrEqual(tol);
            expect(Math.abs(direct[k]! - fd)).toBeLessThanOrEqual(tol);
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('Proposition D.1: the CBDM minimiser', () => {
  it('gradient descent (autograd) on the CBDM objective and on the stop-gradient regularizer reaches (eps + tau mean e_y\') / (1 + tau)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.double({ min: 0, max: 2, noNaN: true }), fc.integer({ min: 0, max: 1e9 }), (D, numLabels, tau, seed) => {
        const gen = new Generator(seed);
        const eps = randn([1, D], gen, 'float64');
        const others = Array.from({ length: numLabels }, () => randn([1, D], gen, 'float64'));
        const expected = cbdmOptimum(eps.toTypedArray(), others.map((o) => o.toTypedArray()), tau);
        // (a) The paper's objective ||e - eps||^2 + tau sum_y' ||e - e_y'||^2 / |Y|.
        const paperObjective = (e: (typeof others)[number]) => others.reduce((acc, o) => acc.add(e.sub(o).square().sum().mul(tau / numLabels)), e.sub(eps).square().sum());
        // (b) The training loss in expectation over y': mean((e - eps)^2) + mean_y' cbdmRegularizer(e, e_y', w = tau).
        const trainingLoss = (e: (typeof others)[number]) => others.reduce((acc, o) => acc.add(cbdmRegularizer(e, o, [tau]).mul(1 / numLabels)), e.sub(eps).square().mean());
        for (const [objective, curvature] of [[paperObjective, 2 * (1 + tau)], [trainingLoss, (2 * (1 + tau)) / D]] as const) {
          let e = randn([1, D], gen, 'float64');
          const step = valueAndGrad(objective);
          for (let it = 0; it < 45; it++) {
            const [, g] = step(e);
            e = e.sub(g.mul(0.5 / curvature)); // half the exact Newton step: error shrinks by 2 per iteration
          }
          const got = e.toTypedArray();
          for (let k = 0; k < D; k++) expect(Math.abs(got[k]! - expected[k]!)).toBeLessThan(1e-9 * (1 + Math.abs(expected[k]!)));
        }
      }),
      { numRuns: 8 },
    );
  });

  it('stop-gradient branches: d/de_y = 2 w (e_y - e_y\') / n, d/de_y\' = 2 gamma w (e_y\' - e_y) / n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1e9 }), (B, D, seed) => {
        const gen = new Generator(seed);
        const eY = randn([B, D], gen, 'float64');
        const eOther = randn([B, D], gen, 'float64');
        const w = Array.from({ length: B }, () => gen.random());
        const [gY, gOther] = grad((a, b) => cbdmRegularizer(a, b, w, 0.25), [0, 1])(eY, eOther);
        const a = eY.toTypedArray();
        const b = eOther.toTypedArray();
        const n = B * D;
        const gy = gY!.toTypedArray();
        const go = gOther!.toTypedArray();
        for (let i = 0; i < B; i++) {
          for (let k = 0; k < D; k++) {
            const diff = a[i * D + k]! - b[i * D + k]!;
            expect(gy[i * D + k]).toBeCloseTo((2 * w[i]! * diff) / n, 12);
            expect(go[i * D + k]).toBeCloseTo((-2 * 0.25 * w[i]! * diff) / n, 12);
          }
        }
      }),
      { numRuns: 20 },
    );
  });

  it('cbdmLoss: w_t = tau t / T, y\' from the frequencies, dropped labels skipped (no second forward when all dropped)', () => {
    expect(Array.from(cbdmTimeWeights([0, 500, 999], 1000, 2))).toEqual([0, 1, 1.998]);
    const gen = new Generator(3);
    const xt = randn([3, 2], gen);
    const timesteps = fromTypedArray(Int32Array.from([100, 500, 900]), [3]);
    const seen: number[][] = [];
    // A toy denoiser whose output depends on the label, so the regularizer is non-zero.
    const denoiser = (x: typeof xt, _t: typeof timesteps, y: typeof timesteps) => {
      seen.push(Array.from(y.toTypedArray()));
      return x.mul(0.5).add(y.astype('float32').reshape(-1, 1));
    };
    const prediction = denoiser(xt, timesteps, tensor([0, 0, 0], 'int32'));
    seen.length = 0;
    const base = { denoiser, xt, timesteps, prediction, numTimesteps: 1000, numClasses: 3, classFrequencies: [0, 0, 1], gen };
    expect(cbdmLoss({ ...base, labelKept: Uint8Array.from([0, 0, 0]) })).toBeNull();
    expect(seen.length).toBe(0);
    const loss = cbdmLoss({ ...base, labelKept: Uint8Array.from([1, 0, 1]) })!;
    expect(seen).toEqual([[2, 2, 2]]); // every y' drawn from q = (0, 0, 1)
    // e_y - e_y' = -2 everywhere: per element (1 + gamma) * 4 * w_i, rows 0 and 2 only, mean over 6 elements.
    expect(loss.item()).toBeCloseTo(((1.25 * 4 * (0.1 + 0.9)) * 2) / 6, 5);
  });
});

describe('Proposition G.2 (Eq. 19): likelihood of x_t under the selected source', () => {
  it('q(x_t | x0_z) >= p_sel(z) q(x_t | x0_i) / (1 - p_sel(z)) for every z != i', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1e9 }), (B, D, seed) => {
        const gen = new Generator(seed);
        const x0 = randn([B, D], gen);
        const timesteps = Int32Array.from({ length: B }, () => gen.integer(200, 1000));
        const batch = makeNoisyBatch(x0, timesteps, abarTable, gen);
        const p = selectionProbabilities({ ...batch, alphasCumprod: abarTable });
        const xt = batch.xt.toTypedArray();
        const points = x0.toTypedArray();
        for (let i = 0; i < B; i++) {
          const abar = abarTable[timesteps[i]!]!;
          const x = xt.subarray(i * D, (i + 1) * D);
          const logK = (j: number) => logKernel(x, Array.from(points.subarray(j * D, (j + 1) * D), (v) => Math.sqrt(abar) * v), 1 - abar);
          for (let z = 0; z < B; z++) {
            const pz = p[i * B + z]!;
            if (z === i || !(pz > 1e-300 && pz < 1 - 1e-12)) continue;
            expect(logK(z)).toBeGreaterThanOrEqual(selectedSourceLogLikelihoodLowerBound(pz, logK(i)) - 1e-9 * (1 + Math.abs(logK(z))));
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('Batch re-sampling (Proposition 3.1): balanced batches raise the head-tail transfer rate', () => {
  it('exactly balanced batches transfer between head and tail far more often than long-tailed batches', () => {
    // Head: 1000 points around (0, 1); tail: 10 points around (0, -1) (imbalance 0.01), spread 0.5.
    const gen = new Generator(11);
    const labels = Int32Array.from({ length: 1010 }, (_, n) => (n < 1000 ? 0 : 1));
    const data = Float64Array.from({ length: 2020 }, (_, k) => (k % 2 === 0 ? 0 : labels[k >> 1] === 0 ? 1 : -1) + 0.5 * gen.normal());
    const q = classFrequencies(countClasses(labels, 2));
    const t = abarTable.findIndex((a) => a < 0.5);
    const run = (sampler: ReturnType<typeof shuffledSampler>) =>
      transferDiagnostics({ data, sampleSize: 2, labels, numClasses: 2, classFrequencies: q, alphasCumprod: abarTable, sampler, timesteps: [t], batchesPerTime: 40, gen });
    const longTailed = run(shuffledSampler(1010, 16, new Generator(1)));
    const balanced = run(exactlyBalancedSampler(labels, 2, 16, new Generator(1)));
    // Expected number of head<->tail transfers per batch row: rows of class c times matrix[c][other].
    const crossRate = (d: typeof longTailed) => (d.rowsPerClass[0]! * d.classTransferMatrix[0]![1]! + d.rowsPerClass[1]! * (d.classTransferMatrix[1]![0]! || 0)) / (d.rowsPerClass[0]! + d.rowsPerClass[1]!);
    expect(crossRate(balanced)).toBeGreaterThan(5 * crossRate(longTailed));
    // Under T2H only tail -> head moves are allowed: re-sampling raises that rate too.
    const t2h = (sampler: ReturnType<typeof shuffledSampler>) =>
      transferDiagnostics({ data, sampleSize: 2, labels, numClasses: 2, classFrequencies: q, alphasCumprod: abarTable, sampler, timesteps: [t], batchesPerTime: 40, gate: 't2h', gen });
    const tailToHead = (d: typeof longTailed) => (d.rowsPerClass[1]! * (d.classTransferMatrix[1]![0]! || 0)) / (d.rowsPerClass[0]! + d.rowsPerClass[1]!);
    expect(tailToHead(t2h(exactlyBalancedSampler(labels, 2, 16, new Generator(2))))).toBeGreaterThan(5 * tailToHead(t2h(shuffledSampler(1010, 16, new Generator(2)))));
  });
});
