/**
 * The checks behind docs/04-long-tail-oc.md, "Gates: T2H, H2T and Full". The page draws the targets of one batch
 * under the three gates with the same seed and prints, row by row, which swaps each gate keeps; the claims it makes
 * about them are asserted here, on the same set-up: the Appendix J toy from Generator(0), a class-balanced batch of
 * 16 (8 head, 8 tail) from exactlyBalancedSampler with Generator(1), noise randn([16, 2]) from Generator(2), every
 * row at t = 500 of the DDPM linear schedule, and the draws from Generator(3).
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { selectTargets } from './target-selection.js';
import { chapter4Batch } from './testing/ch4-batch.js';

const { scheduler, q, x0, yBatch, eps, tBatch, xt, abar500, xtRows, x0Flat, epsRows } = chapter4Batch();

const select = (gate: 't2h' | 'h2t' | 'full') =>
  selectTargets({ x0, xt, noise: eps, timesteps: tBatch, alphasCumprod: scheduler.alphasCumprod, labels: yBatch, classFrequencies: q, gate, gen: new Generator(3) });
const t2h = select('t2h');
const h2t = select('h2t');
const full = select('full');
const kept = (s: typeof full) => s.transferred.reduce((a, b) => a + b, 0);

describe('docs ch. 4, the gates: T2H, H2T and Full on one batch', () => {
  it('the same seed draws the same z for every gate, and each gate keeps exactly the swaps its rule allows', () => {
    for (let i = 0; i < 16; i++) {
      const z = t2h.selectedIndex[i]!;
      expect(z, `row ${i}: same draw`).toBe(full.selectedIndex[i]);
      expect(z, `row ${i}: same draw`).toBe(h2t.selectedIndex[i]);
      expect(full.transferred[i], `row ${i}: Full keeps every swap`).toBe(z !== i ? 1 : 0);
      expect(t2h.transferred[i], `row ${i}: T2H`).toBe(z !== i && q[yBatch[z]!]! >= q[yBatch[i]!]! ? 1 : 0);
      expect(h2t.transferred[i], `row ${i}: H2T`).toBe(z !== i && q[yBatch[z]!]! <= q[yBatch[i]!]! ? 1 : 0);
    }
  });

  it('a kept swap regresses onto eps_iz, a refused one keeps eps_i exactly (1e-12)', () => {
    for (const drawn of [t2h, h2t, full]) {
      const targetRows = drawn.targets.toArray() as number[][];
      for (let i = 0; i < 16; i++) {
        const z = drawn.selectedIndex[i]!;
        const expected = drawn.transferred[i]
          ? xtRows[i]!.map((v, k) => (v - Math.sqrt(abar500) * x0Flat[2 * z + k]!) / Math.sqrt(1 - abar500))
          : epsRows[i]!;
        for (const k of [0, 1]) expect(Math.abs(targetRows[i]![k]! - expected[k]!), `row ${i}, k=${k}`).toBeLessThan(1e-12);
      }
    }
  });

  it('under T2H the head never takes a tail target, under H2T the tail never takes a head target', () => {
    for (let i = 0; i < 16; i++) {
      const z = t2h.selectedIndex[i]!;
      if (yBatch[i] === 0 && t2h.transferred[i]) expect(yBatch[z], `row ${i}`).toBe(0);
      if (yBatch[i] === 1 && h2t.transferred[i]) expect(yBatch[z], `row ${i}`).toBe(1);
    }
  });

  it('the numbers the page quotes: 16 of 16 rows draw another sample; Full keeps 16, T2H 14 (refusing head rows 5 and 15), H2T 15 (refusing tail row 10)', () => {
    expect(Array.from(full.selectedIndex).every((z, i) => z !== i)).toBe(true);
    expect([kept(full), kept(t2h), kept(h2t)]).toEqual([16, 14, 15]);
    const refused = (s: typeof full) => [...s.transferred.keys()].filter((i) => !s.transferred[i]);
    expect(refused(t2h)).toEqual([5, 15]);
    expect(refused(t2h).map((i) => [yBatch[i], yBatch[t2h.selectedIndex[i]!]])).toEqual([[0, 1], [0, 1]]);   // head drew tail
    expect(refused(h2t)).toEqual([10]);
    expect([yBatch[10], yBatch[h2t.selectedIndex[10]!]]).toEqual([1, 0]);                                    // tail drew head
  });
});
