/**
 * The checks behind docs/04-long-tail-oc.md, "What the gates do to the expected target". The page averages the T2H
 * targets of `selectTargets` over 400 draws on one batch and prints how far that mean is from the closed form
 *   E_z[target_i] = sum_{j allowed} p_sel(j | i) eps_ij + (1 - sum_{j allowed} p_sel(j | i)) eps_i;
 * the claims it makes about them, with their tolerances, are asserted here, on the same set-up: the Appendix J toy
 * from Generator(0), a class-balanced batch of 16 from exactlyBalancedSampler with Generator(1), noise
 * randn([16, 2]) from Generator(2), every row at t = 500 of the DDPM linear schedule, draw n from Generator(100 + n).
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { selectionProbabilities, selectTargets } from './target-selection.js';
import { chapter4Batch } from './testing/ch4-batch.js';

const { scheduler, q, x0, yBatch, eps, tBatch, xt, abar500, xtRows, x0Flat, epsRows } = chapter4Batch();
const pSel = selectionProbabilities({ x0, xt, timesteps: tBatch, alphasCumprod: scheduler.alphasCumprod });

/** Mean, second moment and allowed mass of target_i[k] over z ~ p_sel(. | i) under the T2H gate. */
function t2hMoments(i: number, k: number): { expected: number; sq: number; kept: number } {
  let expected = 0;
  let kept = 0;
  let sq = 0;
  for (let j = 0; j < 16; j++) {
    if (j !== i && !(q[yBatch[j]!]! >= q[yBatch[i]!]!)) continue; // the T2H gate refuses j
    const eij = (xtRows[i]![k]! - Math.sqrt(abar500) * x0Flat[2 * j + k]!) / Math.sqrt(1 - abar500);
    expected += pSel[i * 16 + j]! * eij;
    sq += pSel[i * 16 + j]! * eij * eij;
    kept += pSel[i * 16 + j]!;
  }
  expected += (1 - kept) * epsRows[i]![k]!;
  sq += (1 - kept) * epsRows[i]![k]! ** 2;
  return { expected, sq, kept };
}

const draws = 400;
const mean = new Float64Array(32);
for (let n = 0; n < draws; n++) {
  const drawn = selectTargets({ x0, xt, noise: eps, timesteps: tBatch, alphasCumprod: scheduler.alphasCumprod, labels: yBatch, classFrequencies: q, gate: 't2h', gen: new Generator(100 + n) });
  drawn.targets.toTypedArray().forEach((v, k) => (mean[k]! += v / draws));
}

describe('docs ch. 4, the expected target: selectTargets averages to the closed form', () => {
  it('the mean of 400 T2H draws is within 5 standard errors of E_z[target_i] on every row and coordinate', () => {
    for (let i = 0; i < 16; i++) {
      for (const k of [0, 1]) {
        const { expected, sq } = t2hMoments(i, k);
        const standardError = Math.sqrt(Math.max(sq - expected * expected, 0) / draws);
        expect(Math.abs(mean[2 * i + k]! - expected), `row ${i}, k=${k}`).toBeLessThanOrEqual(5 * standardError + 1e-9);
      }
    }
  });

  it('the numbers the page quotes: the largest gap is about 0.05 (below 0.06), and head row 15 keeps 0.28 of p_sel', () => {
    const gaps = Array.from(mean, (m, k) => Math.abs(m - t2hMoments(Math.floor(k / 2), k % 2).expected));
    expect(Math.max(...gaps)).toBeLessThan(0.06);
    expect(Math.max(...gaps)).toBeCloseTo(0.051, 3);
    expect(yBatch[15]).toBe(0);
    expect(t2hMoments(15, 0).kept).toBeCloseTo(0.278, 3);
  });
});
