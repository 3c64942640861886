import { describe, expect, it } from 'vitest';
import { Generator, randn } from '@oclt/tensor';
import { transferDiagnostics } from './diagnostics.js';
import { shuffledSampler, type BatchSampler } from './samplers.js';
import { linearAlphasCumprod, twoPointTransferStrength } from './test-helpers.js';

const abarTable = linearAlphasCumprod(1000);

/** A sampler that always returns the same batch. */
function fixedSampler(indices: number[]): BatchSampler {
  return { batchSize: indices.length, description: 'fixed', nextBatch: () => Int32Array.from(indices), getState: () => null, setState: () => {} };
}

describe('transferDiagnostics', () => {
  it('two-point batch: the transfer probability equals the exact 1-D integral of Proposition 3.1', () => {
    // Points 0 and 1 in 1-D: x_t ~ N(sqrt(abar) x0_i, 1 - abar), so p_sel(other) has the two-point integral
    // with d = sqrt(abar) and s = sqrt(1 - abar), equal weights.
    const t = abarTable.findIndex((a) => a < 0.7);
    const abar = abarTable[t]!;
    const batches = 4000;
    const out = transferDiagnostics({ data: [0, 1], labels: [0, 1], numClasses: 2, classFrequencies: [0.5, 0.5], alphasCumprod: abarTable, sampler: fixedSampler([0, 1]), timesteps: [t], batchesPerTime: batches, gen: new Generator(3) });
    const exact = twoPointTransferStrength(1, 1, Math.sqrt(abar), Math.sqrt(1 - abar));
    // Each batch averages two per-row values in [0, 1]: standard error <= 0.5 / sqrt(batches); 4.5 of them.
    expect(Math.abs(out.transferProbability[0]! - exact)).toBeLessThan((4.5 * 0.5) / Math.sqrt(batches));
    // Both rows are of different classes, so all transfer mass is off-diagonal.
    expect(out.classTransferMatrix[0]![0]).toBe(0);
    expect(out.classTransferMatrix[0]![1]).toBeCloseTo(out.transferProbability[0]!, 1);
  });

  it('Fig. 7 shape: ~0 at t = 0, rising to near 1 - 1/B at t = T-1; matrix rows add up to the transfer probability', () => {
    const gen = new Generator(8);
    const N = 64;
    const data = randn([N, 6], gen);
    const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
    const B = 16;
    const times = [0, 200, 500, 800, 999];
    const out = transferDiagnostics({ data, labels, numClasses: 3, classFrequencies: [0.5, 0.3, 0.2], alphasCumprod: abarTable, sampler: shuffledSampler(N, B, gen), timesteps: times, batchesPerTime: 10, gen });
    expect(out.transferProbability[0]).toBeLessThan(1e-6);
    expect(out.transferProbability[4]).toBeGreaterThan(0.8 * (1 - 1 / B));
    for (let k = 1; k < times.length; k++) expect(out.transferProbability[k]!).toBeGreaterThan(out.transferProbability[k - 1]! - 0.02);
    const totalRows = out.rowsPerClass.reduce((a, b) => a + b);
    expect(totalRows).toBe(times.length * 10 * B);
    const fromMatrix = out.classTransferMatrix.reduce((s, row, c) => s + out.rowsPerClass[c]! * row.reduce((a, b) => a + b), 0) / totalRows;
    const mean = out.transferProbability.reduce((a, b) => a + b) / times.length;
    expect(fromMatrix).toBeCloseTo(mean, 12);
  });

  it('a gate only removes mass: T2H keeps no transfers towards rarer classes', () => {
    const gen = new Generator(9);
    const data = randn([30, 4], gen);
    const labels = Int32Array.from({ length: 30 }, (_, i) => i % 3);
    const common = { data, labels, numClasses: 3, classFrequencies: [0.6, 0.3, 0.1], alphasCumprod: abarTable, timesteps: [700], batchesPerTime: 5 };
    const t2h = transferDiagnostics({ ...common, sampler: shuffledSampler(30, 10, new Generator(1)), gate: 't2h', gen: new Generator(2) });
    const full = transferDiagnostics({ ...common, sampler: shuffledSampler(30, 10, new Generator(1)), gen: new Generator(2) });
    for (let c = 0; c < 3; c++) {
      for (let d = 0; d < 3; d++) {
        if (d > c) expect(t2h.classTransferMatrix[c]![d]).toBe(0); // class d is rarer than class c
        else expect(t2h.classTransferMatrix[c]![d]).toBeCloseTo(full.classTransferMatrix[c]![d]!, 12); // same batches and noise
      }
    }
  });

  it('Eq. 7: raising beta moves transfer mass towards the frequent class, lowering it towards the rare one', () => {
    const gen = new Generator(10);
    const data = randn([40, 3], gen);
    const labels = Int32Array.from({ length: 40 }, (_, i) => i % 2);
    const tailToHead = (beta: number) =>
      transferDiagnostics({ data, labels, numClasses: 2, classFrequencies: [0.9, 0.1], alphasCumprod: abarTable, sampler: shuffledSampler(40, 8, new Generator(1)), timesteps: [600, 900], batchesPerTime: 5, beta, gen: new Generator(2) }).classTransferMatrix[1]![0]!;
    // Same batches and noise for every beta: each row's head mass grows strictly with beta (weights (q_H / q_T)^beta).
    expect(tailToHead(1)).toBeGreaterThan(tailToHead(0));
    expect(tailToHead(0)).toBeGreaterThan(tailToHead(-1));
  });
});
