import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, randn, tensor, isGradEnabled } from '@oclt/tensor';
import { selectTargets, selectionLogits, selectionProbabilities, gateAllows, type TransferGate } from './target-selection.js';
import { bruteForceSelection, linearAlphasCumprod, makeNoisyBatch } from './test-helpers.js';

const abarTable = linearAlphasCumprod(1000);

/** A random batch: B samples of D pixels, random times, labels of 3 classes with frequencies that include a tie. */
function randomCase(seed: number, B: number, D: number, timeRange: [number, number] = [0, 999]) {
  const gen = new Generator(seed);
  const x0 = randn([B, D], gen);
  const timesteps = Int32Array.from({ length: B }, () => gen.integer(timeRange[0], timeRange[1] + 1));
  const batch = makeNoisyBatch(x0, timesteps, abarTable, gen);
  const labels = Int32Array.from({ length: B }, () => gen.integer(0, 4));
  const classFrequencies = [0.5, 0.2, 0.2, 0.1]; // classes 1 and 2 tie
  return { ...batch, labels, classFrequencies, gen };
}

describe('selectionLogits (Eq. 8 kernel via the Gram-matrix identity)', () => {
  it('matches the explicit B x B x D float64 loops', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 1e9 }), fc.constantFrom(0, 1, -1, 0.5), (B, D, seed, beta) => {
        const c = randomCase(seed, B, D);
        const xt = c.xt.toTypedArray();
        const x0 = c.x0.toTypedArray();
        const alphaBar = Array.from(c.timesteps, (t) => abarTable[t]!);
        const logPrior = Array.from(c.labels, (y) => beta * Math.log(c.classFrequencies[y]!));
        const rows = Int32Array.from({ length: B }, (_, i) => i);
        const fast = selectionLogits(xt, x0, B, D, alphaBar, rows, logPrior);
        const ref = bruteForceSelection(xt, x0, B, D, alphaBar, logPrior);
        for (let i = 0; i < B; i++) {
          for (let j = 0; j < B; j++) {
            // The identity subtracts norms of size ~||x||^2 in float64 before dividing by 2(1 - abar):
            // allow a few thousand float64 ulps of those norms, scaled the same way.
            let n2 = 1;
            for (let k = 0; k < D; k++) n2 += xt[i * D + k]! ** 2 + x0[j * D + k]! ** 2;
            const tol = (1e-12 * n2) / (2 * (1 - alphaBar[i]!));
            expect(Math.abs(fast[i * B + j]! - ref.logits[i]![j]!)).toBeLessThanOrEqual(tol);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('selectTargets (Eq. 8 with gates, cut time and Eq. 7 beta)', () => {
  it('draws z from the reference p_sel with the same generator, applies the gate, and builds the new targets', () => {
    const gates: TransferGate[] = ['t2h', 'h2t', 'full', 'none'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 1e9 }),
        fc.constantFrom(...gates),
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
        fc.constantFrom(0, 1, -1),
        fc.option(fc.boolean(), { nil: undefined }),
        (B, D, seed, gate, cutTime, beta, cutTimeAppliesToFull) => {
          // Times in the middle of the schedule, where p_sel is far from one-hot and transfers happen.
          const c = randomCase(seed, B, D, [300, 999]);
          const out = selectTargets({ ...c, alphasCumprod: abarTable, gate, cutTime, cutTimeAppliesToFull, beta, gen: new Generator(seed + 1) });
          const xt = c.xt.toTypedArray();
          const x0 = c.x0.toTypedArray();
          const eps = c.noise.toTypedArray();
          const alphaBar = Array.from(c.timesteps, (t) => abarTable[t]!);
          const logPrior = Array.from(c.labels, (y) => beta * Math.log(c.classFrequencies[y]!));
          const ref = bruteForceSelection(xt, x0, B, D, alphaBar, logPrior);
          const refGen = new Generator(seed + 1);
          const targets = out.targets.toTypedArray();
          expect(out.targets.shape).toEqual(c.noise.shape);
          for (let i = 0; i < B; i++) {
            // The cut never applies to Full unless asked (the released OC_LT code ignores it there).
            const cutApplies = cutTime !== undefined && (gate !== 'full' || cutTimeAppliesToFull === true);
            const belowCut = !cutApplies || c.timesteps[i]! < cutTime;
            if (!belowCut) {
              expect(out.selectedIndex[i]).toBe(-1);
              expect(out.transferred[i]).toBe(0);
            } else {
              const p = ref.probabilities[i]!;
              // Same uniform, same inverse CDF: the drawn index agrees unless the uniform lands within ~1e-12
              // of a CDF boundary, which a fixed set of seeds does not hit.
              const zRef = refGen.categorical(p);
              expect(out.selectedIndex[i]).toBe(zRef);
              expect(out.selfProbability[i]).toBeCloseTo(p[i]!, 10);
              const entropy = -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);
              expect(out.selectionEntropy[i]).toBeCloseTo(entropy, 8);
            }
            const z = out.selectedIndex[i]!;
            const qi = c.classFrequencies[c.labels[i]!]!;
            const shouldTransfer = belowCut && z !== i && (gate === 'full' || (gate === 't2h' && c.classFrequencies[c.labels[z]!]! >= qi) || (gate === 'h2t' && c.classFrequencies[c.labels[z]!]! <= qi));
            expect(out.transferred[i]).toBe(shouldTransfer ? 1 : 0);
            for (let k = 0; k < D; k++) {
              if (!shouldTransfer) {
                expect(targets[i * D + k]).toBe(eps[i * D + k]); // untouched rows are eps_i bit for bit
              } else {
                const expected = (xt[i * D + k]! - Math.sqrt(alphaBar[i]!) * x0[z * D + k]!) / Math.sqrt(1 - alphaBar[i]!);
                // float32 storage of a float64 value: half an ulp, plus slack for a different operation order.
                expect(Math.abs(targets[i * D + k]! - expected)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected)));
              }
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('the cut time is strict: a transfer at t = cut - 1, none at t = cut (t < t_cut, not t <= t_cut)', () => {
    // Row 0 (a tail sample) is made from x0 of row 1 (a head sample) with tiny noise, so p_sel(1 | 0) is ~1 and
    // the drawn source of row 0 is row 1, which every gate but 'none' lets through (T2H: q(head) >= q(tail)).
    // PAPER.md and the paper: transfers "only allowed below this diffusion step"; OC_LT: `t < self.cut_time`.
    const cut = 40;
    const x0 = tensor([[3, -1, 2, 0.5], [-2, 1, -3, 1.5]]);
    const classFrequencies = [0.9, 0.1];
    const labels = [1, 0];
    for (const gate of ['t2h', 'full'] as const) {
      for (const [t, expectDrawn] of [[cut - 1, true], [cut, false], [cut + 1, false]] as const) {
        const abar = abarTable[t]!;
        const head = Array.from(x0.toTypedArray().slice(4, 8));
        const xt = tensor([head.map((v, k) => Math.sqrt(abar) * v + Math.sqrt(1 - abar) * 1e-3 * (k - 1.5)), head.map((v) => Math.sqrt(abar) * v)]);
        const noise = tensor([[0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0]]);
        const input = { x0, xt, noise, timesteps: [t, t], labels, classFrequencies, alphasCumprod: abarTable, gate, cutTime: cut, cutTimeAppliesToFull: true, gen: new Generator(5) };
        const out = selectTargets(input);
        expect(out.selectedIndex[0]).toBe(expectDrawn ? 1 : -1);
        expect(out.transferred[0]).toBe(expectDrawn ? 1 : 0);
        if (!expectDrawn) expect(Array.from(out.targets.toTypedArray().slice(0, 4))).toEqual(Array.from(noise.toTypedArray().slice(0, 4)));
        else expect(Array.from(out.targets.toTypedArray().slice(0, 4))).not.toEqual(Array.from(noise.toTypedArray().slice(0, 4)));
      }
    }
    // Rows at random times around the cut: drawn exactly when t < cut (fixed seeds; every t in [cut-3, cut+3] occurs).
    const gen = new Generator(9);
    const timesteps = Int32Array.from({ length: 64 }, (_, i) => cut - 3 + (i % 7));
    const c = makeNoisyBatch(randn([64, 3], gen), timesteps, abarTable, gen);
    const out = selectTargets({ ...c, labels: Int32Array.from({ length: 64 }, (_, i) => i % 2), classFrequencies, alphasCumprod: abarTable, gate: 'h2t', cutTime: cut, gen });
    for (let i = 0; i < 64; i++) expect(out.selectedIndex[i]! >= 0).toBe(timesteps[i]! < cut);
  });

  it("Full ignores the cut time by default, as the released OC_LT code does; cutTimeAppliesToFull cuts it", () => {
    const c = randomCase(21, 12, 4, [300, 999]);
    const cutTime = 600;
    const reference = selectTargets({ ...c, alphasCumprod: abarTable, gate: 'full', cutTime, gen: new Generator(2) });
    const noCut = selectTargets({ ...c, alphasCumprod: abarTable, gate: 'full', gen: new Generator(2) });
    // Default: the same draws and targets as with no cut at all.
    expect(Array.from(reference.selectedIndex)).toEqual(Array.from(noCut.selectedIndex));
    expect(Array.from(reference.targets.toTypedArray())).toEqual(Array.from(noCut.targets.toTypedArray()));
    expect(c.timesteps.some((t) => t >= cutTime) && c.timesteps.some((t) => t < cutTime)).toBe(true);
    const cut = selectTargets({ ...c, alphasCumprod: abarTable, gate: 'full', cutTime, cutTimeAppliesToFull: true, gen: new Generator(2) });
    for (let i = 0; i < 12; i++) expect(cut.selectedIndex[i]! >= 0).toBe(c.timesteps[i]! < cutTime);
    // T2H and H2T honour the cut either way.
    for (const gate of ['t2h', 'h2t'] as const) {
      for (const cutTimeAppliesToFull of [false, true]) {
        const out = selectTargets({ ...c, alphasCumprod: abarTable, gate, cutTime, cutTimeAppliesToFull, gen: new Generator(2) });
        for (let i = 0; i < 12; i++) expect(out.selectedIndex[i]! >= 0).toBe(c.timesteps[i]! < cutTime);
      }
    }
  });

  it('gate semantics: T2H never moves to a rarer class, H2T never to a more frequent one, ties pass', () => {
    expect(gateAllows('t2h', 0.1, 0.5)).toBe(true);
    expect(gateAllows('t2h', 0.5, 0.1)).toBe(false);
    expect(gateAllows('h2t', 0.5, 0.1)).toBe(true);
    expect(gateAllows('h2t', 0.1, 0.5)).toBe(false);
    for (const g of ['t2h', 'h2t', 'full'] as const) expect(gateAllows(g, 0.2, 0.2)).toBe(true);
    expect(gateAllows('none', 0.2, 0.2)).toBe(false);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 0, max: 1e9 }), fc.constantFrom<TransferGate>('t2h', 'h2t'), (B, seed, gate) => {
        const c = randomCase(seed, B, 3, [500, 999]);
        const out = selectTargets({ ...c, alphasCumprod: abarTable, gate, gen: c.gen });
        for (let i = 0; i < B; i++) {
          if (!out.transferred[i]) continue;
          const qi = c.classFrequencies[c.labels[i]!]!;
          const qz = c.classFrequencies[c.labels[out.selectedIndex[i]!]!]!;
          if (gate === 't2h') expect(qz).toBeGreaterThanOrEqual(qi);
          else expect(qz).toBeLessThanOrEqual(qi);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('selection frequencies match p_sel (chi-square, fixed seed)', () => {
    // Four nearby points at abar = 0.9: p_sel of row 0 is spread over all four, so every expected count is large.
    const x0 = tensor([[0, 0], [0.3, 0], [0, 0.3], [0.3, 0.3]]);
    const t = abarTable.findIndex((a) => a < 0.9);
    const timesteps = new Int32Array(4).fill(t);
    const c = makeNoisyBatch(x0, timesteps, abarTable, new Generator(7));
    const alphaBar = [0, 1, 2, 3].map(() => abarTable[t]!);
    const p = bruteForceSelection(c.xt.toTypedArray(), x0.toTypedArray(), 4, 2, alphaBar).probabilities[0]!;
    const gen = new Generator(123);
    const draws = 4000;
    const counts = [0, 0, 0, 0];
    for (let n = 0; n < draws; n++) {
      const out = selectTargets({ ...c, alphasCumprod: abarTable, labels: [0, 0, 0, 0], classFrequencies: [1], gate: 'full', gen });
      counts[out.selectedIndex[0]!]!++;
    }
    for (const pj of p) expect(pj * draws).toBeGreaterThan(20);
    const chi2 = counts.reduce((s, o, j) => s + (o - draws * p[j]!) ** 2 / (draws * p[j]!), 0);
    // 3 degrees of freedom: P(chi2 > 16.27) = 0.001 under the null.
    expect(chi2).toBeLessThan(16.27);
  });

  it('p_sel tends to one-hot on the own sample as t -> 0', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 1e9 }), (B, seed) => {
        const gen = new Generator(seed);
        // Distinct points: a random batch plus a lattice offset keeps every pair at distance >= 1.
        const x0 = randn([B, 4], gen).mul(0.1).add(tensor(Array.from({ length: B }, (_, i) => [i, 0, 0, 0])));
        const minSelfAt = (t: number) => {
          const c = makeNoisyBatch(x0, new Int32Array(B).fill(t), abarTable, gen);
          const p = selectionProbabilities({ ...c, alphasCumprod: abarTable });
          return Math.min(...Array.from({ length: B }, (_, i) => p[i * B + i]!));
        };
        // At the noisy end (abar ~ 4e-5) the points are indistinguishable: p_sel is near uniform, far from one-hot.
        expect(minSelfAt(999)).toBeLessThan(0.9);
        const previousMinSelf = minSelfAt(0);
        expect(previousMinSelf).toBeGreaterThan(1 - 1e-12);
      }),
      { numRuns: 20 },
    );
  });

  it('runs without recording gradients and leaves inputs untouched', () => {
    const c = randomCase(5, 6, 5);
    c.xt.requiresGrad_();
    const before = c.noise.toTypedArray();
    let enabledInside = true;
    const out = selectTargets({ ...c, alphasCumprod: abarTable, gate: 'full', gen: c.gen, classFrequencies: new Proxy(c.classFrequencies, { get: (tgt, k) => ((enabledInside = enabledInside && !isGradEnabled()), (tgt as any)[k]) }) });
    expect(enabledInside).toBe(true);
    expect(out.targets.requiresGrad).toBe(false);
    expect(out.targets.node).toBeNull();
    expect(c.noise.toTypedArray()).toEqual(before);
  });

  it('rejects bad input with errors that name the function and the field', () => {
    const c = randomCase(1, 4, 3);
    expect(() => selectTargets({ ...c, xt: randn([4, 2], c.gen), alphasCumprod: abarTable, gate: 't2h', gen: c.gen })).toThrow(/selectTargets: xt has shape \[4,2\]/);
    expect(() => selectTargets({ ...c, labels: [0, 1], alphasCumprod: abarTable, gate: 't2h', gen: c.gen })).toThrow(/selectTargets: labels has 2 entries, expected 4/);
    expect(() => selectTargets({ ...c, labels: [0, 1, 2, 9], alphasCumprod: abarTable, gate: 't2h', gen: c.gen })).toThrow(/label 9/);
    expect(() => selectTargets({ ...c, timesteps: [0, 1, 2, 1000], alphasCumprod: abarTable, gate: 't2h', gen: c.gen })).toThrow(/timestep 1000/);
    expect(() => selectTargets({ ...c, alphasCumprod: abarTable, gate: 'up' as TransferGate, gen: c.gen })).toThrow(/unknown gate 'up'/);
  });
});
