/**
 * Diagnostics of oriented calibration without training a model: how often, and between which classes, Eq. 8
 * would move a denoising target, for a data set, a batch sampler and a noise schedule.
 *
 * Everything here is an expectation over the draw of z (sums of p_sel), estimated over random batches and
 * noise; the paper's Fig. 7 (left) counts drawn transfers over 100k samples, which estimates the same number.
 */
import { Generator, Tensor } from '@oclt/tensor';
import { gateAllows, selectionLogits, softmaxRowsInPlace, type TransferGate } from './target-selection.js';
import type { BatchSampler } from './samplers.js';
import type { Labels } from './long-tailed-dataset.js';

export interface TransferDiagnosticsInput {
  /** The clean data [N, ...] (a Tensor) or its row-major float values with `sampleSize` per sample. */
  data: Tensor | ArrayLike<number>;
  /** Values per sample when `data` is a flat array. */
  sampleSize?: number;
  labels: Labels;
  numClasses: number;
  /** q(y) for the gate and for beta. */
  classFrequencies: ArrayLike<number>;
  alphasCumprod: ArrayLike<number>;
  /** Draws the batches (its batch size is the reference-set size). */
  sampler: BatchSampler;
  /** The diffusion times to evaluate (0-indexed). */
  timesteps: readonly number[];
  /** Random batches (each with fresh noise) per time. */
  batchesPerTime: number;
  /** Count only transfers this gate allows; default 'full' (every z != i, as in Fig. 7). */
  gate?: TransferGate;
  /** Eq. 7 weights q(y_j)^beta in the kernel (default 0). */
  beta?: number;
  gen: Generator;
}

export interface TransferDiagnostics {
  timesteps: number[];
  /** Per time: mean over batch rows of sum_{z != i, gate allows} p_sel(z | i). */
  transferProbability: number[];
  /**
   * Over all evaluated times: matrix[c][c'] = mean over rows of class c of sum_{z != i, y_z = c', gate allows}
   * p_sel(z | i), the probability that a noisy sample of class c takes its target from another sample of
   * class c'. Row c sums to class c's transfer probability; a class never drawn has a row of NaN.
   */
  classTransferMatrix: number[][];
  /** Rows of each class seen (over all times and batches). */
  rowsPerClass: number[];
}

/** Transfer probability versus diffusion time (Fig. 7, left) and the class-to-class transfer matrix. */
export function transferDiagnostics(input: TransferDiagnosticsInput): TransferDiagnostics {
  const caller = 'transferDiagnostics';
  const { labels, numClasses, classFrequencies: q, alphasCumprod, sampler, gen } = input;
  const gate = input.gate ?? 'full';
  const beta = input.beta ?? 0;
  const data = input.data instanceof Tensor ? input.data.toTypedArray() : input.data;
  const N = labels.length;
  const D = input.data instanceof Tensor ? input.data.size / Math.max(N, 1) : input.sampleSize ?? data.length / Math.max(N, 1);
  if (!Number.isInteger(D) || D * N !== data.length) throw new RangeError(`${caller}: ${data.length} data values do not form ${N} samples (one per label)`);
  if (!Number.isInteger(input.batchesPerTime) || input.batchesPerTime < 1) throw new RangeError(`${caller}: batchesPerTime must be a positive integer, got ${input.batchesPerTime}`);
  const B = sampler.batchSize;
  const matrixSums = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const rowsPerClass = new Array<number>(numClasses).fill(0);
  const transferProbability: number[] = [];
  const x0 = new Float64Array(B * D);
  const xt = new Float64Array(B * D);
  const noise = new Float64Array(D);
  const allRows = Int32Array.from({ length: B }, (_, i) => i);
  for (const t of input.timesteps) {
    const abar = alphasCumprod[t];
    if (abar === undefined || !(abar > 0 && abar < 1)) throw new RangeError(`${caller}: timestep ${t} has alphasCumprod ${abar}; need 0 < abar < 1`);
    const alphaBar = new Float64Array(B).fill(abar);
    let total = 0;
    for (let b = 0; b < input.batchesPerTime; b++) {
      const indices = sampler.nextBatch();
      const batchLabels = Array.from(indices, (n) => labels[n]!);
      for (let i = 0; i < B; i++) {
        gen.fillNormal(noise);
        for (let k = 0; k < D; k++) {
          x0[i * D + k] = data[indices[i]! * D + k]!;
          xt[i * D + k] = Math.sqrt(abar) * x0[i * D + k]! + Math.sqrt(1 - abar) * noise[k]!;
        }
      }
      const logPrior = beta === 0 ? undefined : batchLabels.map((y) => beta * Math.log(q[y]!));
      const p = selectionLogits(xt, x0, B, D, alphaBar, allRows, logPrior);
      softmaxRowsInPlace(p, B, B);
      for (let i = 0; i < B; i++) {
        const yi = batchLabels[i]!;
        rowsPerClass[yi]!++;
        for (let z = 0; z < B; z++) {
          if (z === i || !gateAllows(gate, q[yi]!, q[batchLabels[z]!]!)) continue;
          total += p[i * B + z]!;
          matrixSums[yi]![batchLabels[z]!]! += p[i * B + z]!;
        }
      }
    }
    transferProbability.push(total / (B * input.batchesPerTime));
  }
  const classTransferMatrix = matrixSums.map((row, c) => row.map((s) => s / rowsPerClass[c]!));
  return { timesteps: [...input.timesteps], transferProbability, classTransferMatrix, rowsPerClass };
}
