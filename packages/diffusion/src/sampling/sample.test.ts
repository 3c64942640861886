import { describe, expect, it } from 'vitest';
import { fromTypedArray, Generator, randn, type Tensor } from '@oclt/tensor';
import { Dropout, Module } from '@oclt/autograd';
import { labelTensor, timestepArray, type Denoiser, type LabelInput, type TimestepInput } from '../models/embeddings.js';
import { mixtureNoisePredictor } from '../data/toy.js';
import { DDIMScheduler } from '../schedulers/ddim.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { guidedOutput, sample } from './sample.js';

/** Outputs, per row, the constant (label + 1), or 10 for the null label; records its training flag. */
class LabelEcho extends Module implements Denoiser {
  readonly numClasses = 2;
  readonly nullLabel = 2;
  readonly drop = this.addModule('drop', new Dropout(0.5, { generator: new Generator(0) }));
  modesSeen: boolean[] = [];
  override forward(x: Tensor, _t: TimestepInput, labels?: LabelInput): Tensor {
    this.modesSeen.push(this.training, this.drop.training);
    const y = labelTensor('LabelEcho', labels, x.shape[0]!, 2).toTypedArray();
    const per = x.size / x.shape[0]!;
    return fromTypedArray(Float32Array.from({ length: x.size }, (_, i) => (y[Math.floor(i / per)] === 2 ? 10 : y[Math.floor(i / per)]! + 1)), x.shape);
  }
}

/** The exact eps of two Gaussian classes: class k alone when labelled, the 50/50 mixture for the null label. */
class OracleMixture extends Module implements Denoiser {
  readonly numClasses = 2;
  readonly nullLabel = 2;
  readonly comps = [{ mean: [2, 0], std: 0.3, weight: 0.5 }, { mean: [-2, 1], std: 0.5, weight: 0.5 }];
  constructor(readonly abar: Float64Array) {
    super();
  }
  override forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor {
    const b = x.shape[0]!;
    const ts = timestepArray('oracle', t, b);
    const y = labelTensor('oracle', labels, b, 2).toTypedArray();
    const xs = x.toTypedArray();
    const out = new Float32Array(2 * b);
    for (let i = 0; i < b; i++) {
      const comps = y[i] === 2 ? this.comps : [{ ...this.comps[y[i]!]!, weight: 1 }];
      out.set(mixtureNoisePredictor(comps, this.abar[ts[i]!]!, xs.subarray(2 * i, 2 * i + 2)), 2 * i);
    }
    return fromTypedArray(out, [b, 2]);
  }
}

describe('sampling', () => {
  it('guidance combines (1 + w) eps_c - w eps_u', () => {
    const m = new LabelEcho();
    const x = fromTypedArray(new Float32Array(6), [3, 2]);
    const g = guidedOutput(m, x, 5, Int32Array.from([0, 1, 0]), 1.5).toArray() as number[][];
    // rows: label 0 -> (2.5)(1) - 1.5(10) = -12.5; label 1 -> 2.5 * 2 - 15 = -10
    expect(g).toEqual([[-12.5, -12.5], [-10, -10], [-12.5, -12.5]]);
    expect(guidedOutput(m, x, 5, Int32Array.from([0, 1, 0]), 0).toArray()).toEqual([[1, 1], [2, 2], [1, 1]]);
  });

  it('puts every module in eval mode while sampling and restores the previous modes', () => {
    const m = new LabelEcho();
    m.train();
    m.drop.training = true;
    sample(m, new DDIMScheduler({ numTrainTimesteps: 10 }), { numSamples: 3, batchSize: 2, sampleShape: [2], labels: [0, 1, 1], guidanceWeight: 1, seed: 1 });
    expect(m.modesSeen.length).toBeGreaterThan(0);
    expect(m.modesSeen.every((v) => v === false)).toBe(true);
    expect(m.training).toBe(true);
    expect(m.drop.training).toBe(true);
  });

  it('is seeded: the same seed gives the same samples; labels are validated', () => {
    const m = new OracleMixture(new DDPMScheduler({ numTrainTimesteps: 50 }).alphasCumprod);
    const s = new DDPMScheduler({ numTrainTimesteps: 50 });
    const a = sample(m, s, { numSamples: 5, batchSize: 2, sampleShape: [2], labels: 1, seed: 3 }).toTypedArray();
    const b = sample(m, s, { numSamples: 5, batchSize: 2, sampleShape: [2], labels: 1, seed: 3 }).toTypedArray();
    expect([...a]).toEqual([...b]);
    expect(() => sample(m, s, { numSamples: 2, sampleShape: [2], labels: [0, 5] })).toThrow(/label 5 at 1 is outside \[0, 2\]/);
  });

  it('with fixed initial noise and DDIM eta = 0, samples do not depend on the batch size', () => {
    const ddim = new DDIMScheduler({ numTrainTimesteps: 100 });
    const m = new OracleMixture(ddim.alphasCumprod);
    const noise = randn([5, 2], new Generator(4));
    const a = sample(m, ddim, { numSamples: 5, batchSize: 2, sampleShape: [2], labels: [0, 1, 0, 1, 1], initialNoise: noise, numInferenceSteps: 10 }).toTypedArray();
    const b = sample(m, ddim, { numSamples: 5, batchSize: 5, sampleShape: [2], labels: [0, 1, 0, 1, 1], initialNoise: noise, numInferenceSteps: 10 }).toTypedArray();
    expect([...a]).toEqual([...b]);
    // and the given noise is what is used: other noise, other samples
    const c = sample(m, ddim, { numSamples: 5, batchSize: 2, sampleShape: [2], labels: [0, 1, 0, 1, 1], initialNoise: noise.mul(-1), numInferenceSteps: 10 }).toTypedArray();
    expect([...c]).not.toEqual([...a]);
    expect(() => sample(m, ddim, { numSamples: 4, sampleShape: [2], initialNoise: noise })).toThrow(/initialNoise has shape \[5,2\], expected \[4,2\]/);
  });

  it("hands sample()'s eta to the steps through the scheduler's stepOptionsFor: DDIM's eta for the call, ignored by DDPM", () => {
    const opts = { numSamples: 4, batchSize: 3, sampleShape: [2], labels: [0, 1, 0, 1], numInferenceSteps: 10, seed: 5 };
    const m = new OracleMixture(new DDIMScheduler({ numTrainTimesteps: 100 }).alphasCumprod);
    const bits = (x: Tensor) => [...new Uint32Array(Float32Array.from(x.toTypedArray() as ArrayLike<number>).buffer)];
    // DDIM: the call's eta is the scheduler's own eta for this call, bit for bit; without one, the scheduler's.
    const ownEta = sample(m, new DDIMScheduler({ numTrainTimesteps: 100, eta: 0.7 }), opts);
    const callEta = sample(m, new DDIMScheduler({ numTrainTimesteps: 100 }), { ...opts, eta: 0.7 });
    expect(bits(callEta)).toEqual(bits(ownEta));
    expect(bits(sample(m, new DDIMScheduler({ numTrainTimesteps: 100, eta: 0.7 }), { ...opts, eta: 0 }))).toEqual(bits(sample(m, new DDIMScheduler({ numTrainTimesteps: 100 }), opts)));
    expect(bits(callEta)).not.toEqual(bits(sample(m, new DDIMScheduler({ numTrainTimesteps: 100 }), opts)));
    // DDPM takes no eta: the same samples with or without one.
    expect(bits(sample(m, new DDPMScheduler({ numTrainTimesteps: 100 }), { ...opts, eta: 0.3 }))).toEqual(bits(sample(m, new DDPMScheduler({ numTrainTimesteps: 100 }), opts)));
    expect(new DDIMScheduler().stepOptionsFor({ eta: 0.2 })).toEqual({ eta: 0.2 });
    expect(new DDIMScheduler().stepOptionsFor({})).toBeUndefined();
    expect(new DDPMScheduler().stepOptionsFor({ eta: 0.2 })).toBeUndefined();
  });

  it('with the exact class-conditional eps, conditional samples follow each class (mean within 4 standard errors)', () => {
    const ddim = new DDIMScheduler({ numTrainTimesteps: 1000, timestepSpacing: 'trailing' });
    const m = new OracleMixture(ddim.alphasCumprod);
    for (const k of [0, 1]) {
      const n = 400;
      const x = sample(m, ddim, { numSamples: n, batchSize: 200, sampleShape: [2], labels: k, numInferenceSteps: 50, seed: 10 + k }).toTypedArray();
      let m0 = 0;
      let m1 = 0;
      for (let i = 0; i < n; i++) {
        m0 += x[2 * i]! / n;
        m1 += x[2 * i + 1]! / n;
      }
      const c = m.comps[k]!;
      expect(Math.abs(m0 - c.mean[0]!)).toBeLessThan(4 * c.std / Math.sqrt(n));
      expect(Math.abs(m1 - c.mean[1]!)).toBeLessThan(4 * c.std / Math.sqrt(n));
    }
    // Guidance on top of the exact conditional keeps samples on their class (and pushes away from the other).
    const g = sample(m, ddim, { numSamples: 100, sampleShape: [2], labels: 0, guidanceWeight: 2, numInferenceSteps: 50, seed: 7 }).toTypedArray();
    for (let i = 0; i < 100; i++) expect(g[2 * i]!).toBeGreaterThan(0.5);
  });
});
