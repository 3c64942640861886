/**
 * The checks behind docs/03-ddpm-ddim.md, "What does guidance *do* to samples?". The page defines the exact mixture
 * oracle and prints the mean x of class-0 samples without and with guidance; what it claims about them is asserted
 * here, on the same set-up: two classes N((-1, 0), 0.8^2 I) and N((1, 0), 0.8^2 I) with weights 1/2, DDIM with
 * eta = 0 on the linear schedule (T = 1000), 25 steps, 1000 samples of label 0, seed 3.
 */
import { describe, expect, it } from 'vitest';
import { fromTypedArray, type Tensor } from '@oclt/tensor';
import { Module } from '@oclt/autograd';
import { labelTensor, timestepArray, type Denoiser, type LabelInput, type TimestepInput } from '../models/embeddings.js';
import { mixtureNoisePredictor } from '../data/toy.js';
import { DDIMScheduler } from '../schedulers/ddim.js';
import { sample } from './sample.js';

const ddim = new DDIMScheduler({ numTrainTimesteps: 1000, eta: 0 });
const overlapping = [
  { mean: [-1, 0], std: 0.8, weight: 0.5 },
  { mean: [1, 0], std: 0.8, weight: 0.5 },
];

/** The page's oracle: the exact E[eps | x_t, y] of the mixture; the null label gives the exact unconditional E[eps | x_t]. */
class MixtureOracle extends Module implements Denoiser {
  readonly numClasses = 2;
  readonly nullLabel = 2;
  override forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor {
    const b = x.shape[0]!;
    const ts = timestepArray('MixtureOracle', t, b);
    const ys = labelTensor('MixtureOracle', labels, b, 2).toTypedArray();
    const points = x.toTypedArray();
    const out = new Float32Array(2 * b);
    for (let i = 0; i < b; i++) {
      const components = ys[i] === 2 ? overlapping : [{ ...overlapping[ys[i]!]!, weight: 1 }];
      out.set(mixtureNoisePredictor(components, ddim.alphasCumprod[ts[i]!]!, points.subarray(2 * i, 2 * i + 2)), 2 * i);
    }
    return fromTypedArray(out, [b, 2]);
  }
}

const oracle = new MixtureOracle();
const meanX = (w: number) => {
  const s = sample(oracle, ddim, { numSamples: 1000, sampleShape: [2], batchSize: 1000, labels: 0, guidanceWeight: w, numInferenceSteps: 25, seed: 3 });
  return s.narrow(1, 0, 1).mean().item();
};

describe('docs ch. 3: classifier-free guidance with the exact mixture oracle', () => {
  const unguided = meanX(0);
  const guided = meanX(3);

  it('w = 0 reproduces class 0: mean x = -1 (within 0.1)', () => {
    expect(Math.abs(unguided - -1)).toBeLessThan(0.1);
  });

  it('w = 3 moves the class-0 samples away from class 1 by more than 0.3', () => {
    expect(guided, `mean x: ${unguided} -> ${guided}`).toBeLessThan(unguided - 0.3);
  });

  it('the values the page quotes: about -0.99 and -2.06', () => {
    expect(unguided).toBeCloseTo(-0.99, 2);
    expect(guided).toBeCloseTo(-2.06, 2);
  });
});
