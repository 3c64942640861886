import { describe, expect, it } from 'vitest';
import { Generator, fromTypedArray, noGrad, randn, type Tensor } from '@oclt/tensor';
import { decodeSafetensors, encodeSafetensors } from '@oclt/autograd';
import { ArrayDataset, ImageDataset } from '../data/dataset.js';
import { gaussianMixtureDataset } from '../data/toy.js';
import { MLPDenoiser } from '../models/mlp.js';
import { UNet2D } from '../models/unet.js';
import { DDIMScheduler } from '../schedulers/ddim.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { sample } from '../sampling/sample.js';
import { NonFiniteError, Trainer, type TrainerConfig } from './trainer.js';
import type { LossHookContext } from './hooks.js';

function imageData(n: number, seed: number): ImageDataset {
  const g = new Generator(seed);
  const px = new Uint8Array(n * 64).map(() => g.integer(0, 256));
  return new ImageDataset(px, 1, 8, 8, Int32Array.from({ length: n }, (_, i) => i % 2), 2, { horizontalFlip: true });
}

const unetConfig = { sampleSize: 8, inChannels: 1, baseChannels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.2, numClasses: 2, numGroups: 4, seed: 3 };

function bits(t: Tensor): number[] {
  return [...new Uint32Array(Float32Array.from(t.toTypedArray()).buffer)];
}

describe('Trainer', () => {
  it('a tiny end-to-end run on 2-D toy data learns: loss falls and samples move onto the data', () => {
    const data = gaussianMixtureDataset([{ mean: [2, 2], std: 0.25, count: 500 }, { mean: [-2, -1], std: 0.25, count: 500 }], new Generator(1));
    const model = new MLPDenoiser({ dataDim: 2, hidden: 32, numLayers: 2, seed: 2 });
    const scheduler = new DDPMScheduler({ numTrainTimesteps: 200 });
    const trainer = new Trainer({ model, scheduler, dataset: data, config: { batchSize: 64, numSteps: 250, lr: 5e-3, warmupSteps: 10, emaDecay: 0.99, seed: 4 } });
    const losses: number[] = [];
    for (let i = 0; i < 250; i++) losses.push(trainer.step().loss);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    // An untrained eps-predictor scores ~1 (E|eps|^2 per coordinate); a trained one clearly less.
    expect(avg(losses.slice(-50))).toBeLessThan(0.75 * avg(losses.slice(0, 20)));
    const ddim = new DDIMScheduler({ numTrainTimesteps: 200, timestepSpacing: 'trailing' });
    const x = sample(model, ddim, { numSamples: 200, sampleShape: [2], numInferenceSteps: 25, seed: 5 }).toTypedArray();
    const noise = randn([200, 2], new Generator(5)).toTypedArray();
    const nearest = (v: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < 200; i++) s += Math.min(Math.hypot(v[2 * i]! - 2, v[2 * i + 1]! - 2), Math.hypot(v[2 * i]! + 2, v[2 * i + 1]! + 1));
      return s / 200;
    };
    // Noise sits ~2 away from the nearest mode; samples of a model that learned the data sit within ~0.6.
    expect(nearest(x)).toBeLessThan(0.6);
    expect(nearest(noise)).toBeGreaterThan(1.5);
  });

  it('resumes exactly: 2 steps + snapshot through safetensors/JSON + 3 steps == 5 steps, bit for bit', () => {
    const config: TrainerConfig = { batchSize: 4, numSteps: 5, lr: 1e-3, warmupSteps: 2, emaDecay: 0.9, seed: 11 };
    const make = () => new Trainer({ model: new UNet2D(unetConfig), scheduler: new DDPMScheduler(), dataset: imageData(10, 1), config });
    const straight = make();
    const lossesA = [0, 1, 2, 3, 4].map(() => straight.step().loss);

    const first = make();
    const lossesB = [first.step().loss, first.step().loss];
    const snap = first.snapshot();
    const bytes = encodeSafetensors(snap.tensors);
    const metaJson = JSON.stringify(snap.meta);
    first.step(); // the interrupted process went on a little before dying: must not matter

    const resumed = make();
    resumed.restore(decodeSafetensors(bytes).tensors, JSON.parse(metaJson));
    expect(resumed.stepCount).toBe(2);
    lossesB.push(resumed.step().loss, resumed.step().loss, resumed.step().loss);
    expect(lossesB).toEqual(lossesA);
    const a = straight.snapshot();
    const b = resumed.snapshot();
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const k of Object.keys(a.tensors)) expect(bits(b.tensors[k]!), k).toEqual(bits(a.tensors[k]!));
    expect(b.meta).toEqual(a.meta);
  });

  it('resumes a sampler without state by replaying its batches', () => {
    const data = new ArrayDataset(Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), [2]);
    const mkSampler = () => {
      const g = new Generator(99);
      return { batchSize: 3, nextBatch: () => Int32Array.from({ length: 3 }, () => g.integer(0, 20)) };
    };
    const make = () => new Trainer({ model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1 }), scheduler: new DDPMScheduler(), dataset: data, sampler: mkSampler(), config: { batchSize: 3, numSteps: 4, seed: 1 } });
    const s = make();
    const la = [0, 1, 2, 3].map(() => s.step().loss);
    const r1 = make();
    r1.step();
    r1.step();
    const snap = r1.snapshot();
    expect(snap.meta.samplerReplay).toBe(true);
    const r2 = make();
    r2.restore(snap.tensors, JSON.parse(JSON.stringify(snap.meta)));
    expect([la[0], la[1], r2.step().loss, r2.step().loss]).toEqual(la);
  });

  it('drops labels per sample with probability p, or for whole batches', () => {
    const data = new ArrayDataset(new Float32Array(200 * 2), [2], Int32Array.from({ length: 200 }, (_, i) => i % 3), 3);
    for (const mode of ['per-sample', 'per-batch'] as const) {
      const seen: LossHookContext[] = [];
      const trainer = new Trainer({
        model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, numClasses: 3 }),
        scheduler: new DDPMScheduler(),
        dataset: data,
        config: { batchSize: 50, numSteps: 40, labelDropProb: 0.3, labelDropMode: mode, seed: 2 },
        lossHook: (ctx) => {
          seen.push(ctx);
          return null;
        },
      });
      for (let i = 0; i < 40; i++) trainer.step();
      let dropped = 0;
      for (const ctx of seen) {
        const d = Array.from(ctx.labelKept, (k) => 1 - k);
        d.forEach((m, i) => {
          expect([0, 1]).toContain(ctx.labelKept[i]);
          expect(ctx.labels![i]).toBe(m ? 3 : ctx.trueLabels![i]);
        });
        if (mode === 'per-batch') expect(new Set(d).size).toBe(1);
        dropped += d.reduce((a, b) => a + b, 0);
      }
      const rate = dropped / 2000;
      // per-sample: Binomial(2000, 0.3), sd 0.010; per-batch: Binomial(40, 0.3) batches, sd 0.072. 4 sd each.
      expect(Math.abs(rate - 0.3)).toBeLessThan(mode === 'per-sample' ? 0.041 : 0.29);
    }
  });

  it('the target hook replaces targets (converted for v-prediction) and its arrays reach the stats', () => {
    const data = new ArrayDataset(Float32Array.from({ length: 64 }, (_, i) => Math.cos(i)), [2], Int32Array.from({ length: 32 }, (_, i) => i % 2), 2);
    const make = (hook?: boolean, predictionType: 'epsilon' | 'v_prediction' = 'epsilon') =>
      new Trainer({
        model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, numClasses: 2 }),
        scheduler: new DDPMScheduler({ predictionType }),
        dataset: data,
        config: { batchSize: 8, numSteps: 3, seed: 5 },
        targetHook: hook ? (ctx) => ({ targets: ctx.noise, transferred: Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0]) }) : undefined,
      });
    for (const pt of ['epsilon', 'v_prediction'] as const) {
      const plain = make(false, pt);
      const hooked = make(true, pt);
      for (let i = 0; i < 3; i++) {
        const a = plain.step();
        const b = hooked.step();
        // Returning the original noise must reproduce the plain run (v: up to the float32 round trip x0 -> x0').
        expect(b.loss).toBeCloseTo(a.loss, pt === 'epsilon' ? 10 : 4);
        expect(b.diagnostics!.transferredMean).toBe(0.25);
      }
    }
    // A hook that changes the targets changes training.
    const t = new Trainer({
      model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1 }),
      scheduler: new DDPMScheduler(),
      dataset: data,
      config: { batchSize: 8, numSteps: 1, seed: 5 },
      targetHook: (ctx) => ({ targets: ctx.noise.mul(0) }),
    });
    const ref = new Trainer({ model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1 }), scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 8, numSteps: 1, seed: 5 } });
    expect(t.step().loss).not.toBeCloseTo(ref.step().loss, 3);
  });

  it('the loss hook sees the main prediction and its term is added to the loss and the gradient', () => {
    const data = new ArrayDataset(Float32Array.from({ length: 64 }, (_, i) => Math.cos(i)), [2], Int32Array.from({ length: 32 }, (_, i) => i % 2), 2);
    const trainer = new Trainer({
      model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, numClasses: 2 }),
      scheduler: new DDPMScheduler(),
      dataset: data,
      config: { batchSize: 8, numSteps: 1, gradClip: null, seed: 5 },
      lossHook: (ctx) => {
        const again = noGrad(() => ctx.denoiser(ctx.xt, ctx.timesteps, fromTypedArray(ctx.labels!, [8])));
        expect([...again.toTypedArray()]).toEqual([...ctx.prediction.toTypedArray()]);
        return ctx.prediction.square().mean().mul(2);
      },
    });
    const s = trainer.step();
    expect(s.loss).toBeCloseTo(s.mainLoss + s.extraLoss!, 6);
    expect(s.extraLoss).toBeGreaterThan(0);
  });

  it('warmup starts from lr 0 (the first step leaves the weights unchanged) and clipping reports the norm', () => {
    const data = new ArrayDataset(Float32Array.from({ length: 64 }, (_, i) => Math.cos(i)), [2]);
    const model = new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1 });
    const before = model.parameters().map((p) => [...p.toTypedArray()]);
    const trainer = new Trainer({ model, scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 8, numSteps: 2, warmupSteps: 10, lr: 1e-2, gradClip: 1e-3, seed: 5 } });
    const s = trainer.step();
    expect(s.lr).toBe(0);
    expect(model.parameters().map((p) => [...p.toTypedArray()])).toEqual(before);
    expect(s.gradNorm).toBeGreaterThan(1e-3);
    expect(trainer.step().lr).toBeCloseTo(1e-3, 12);
  });

  it('refuses inconsistent set-ups with clear messages', () => {
    const data = new ArrayDataset(new Float32Array(8), [2]);
    expect(() => new Trainer({ model: new MLPDenoiser({ dataDim: 2, numClasses: 2 }), scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 2, numSteps: 1 } })).toThrow(/conditional \(2 classes\) but the dataset has no labels/);
    expect(() => new Trainer({ model: new MLPDenoiser({ dataDim: 2 }), scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 0, numSteps: 1 } })).toThrow(/batchSize must be a positive integer/);
  });
});

describe('Trainer: non-finite losses and gradients', () => {
  const toy = () => gaussianMixtureDataset([{ mean: [1, 1], std: 0.2, count: 40 }], new Generator(2));
  /** A trainer whose loss hook returns `term(step)` (a number; NaN/Infinity to diverge at that step). */
  const make = (term: (step: number) => number | null, config: Partial<TrainerConfig> = {}) =>
    new Trainer({
      model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, seed: 1 }),
      scheduler: new DDPMScheduler({ numTrainTimesteps: 50 }),
      dataset: toy(),
      config: { batchSize: 4, numSteps: 10, lr: 1e-2, emaDecay: 0.9, seed: 3, ...config },
      lossHook: (ctx) => {
        const v = term(ctx.step);
        return v === null ? null : ctx.prediction.mul(0).sum().add(v);
      },
    });
  const weights = (t: Trainer) => Object.values(t.model.stateDict()).map((p) => bits(p));

  it("policy 'stop' (default): the step that yields a NaN term throws a NonFiniteError naming the step and the quantity", () => {
    const t = make((step) => (step === 2 ? NaN : 0));
    t.step();
    t.step();
    const before = weights(t);
    let err: unknown;
    try {
      t.step();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).step).toBe(3);
    expect((err as NonFiniteError).quantity).toBe('extraLoss');
    expect((err as Error).message).toMatch(/loss hook's term \(extraLoss\) is NaN at step 3/);
    expect(t.stepCount).toBe(2);
    expect(weights(t)).toEqual(before); // no update with the bad gradient
  });

  it('a huge learning rate is caught at the first step whose loss is not finite, with the cause in the message', () => {
    const t = new Trainer({ model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, seed: 1 }), scheduler: new DDPMScheduler({ numTrainTimesteps: 50 }), dataset: toy(), config: { batchSize: 4, numSteps: 10, lr: 1e39, emaDecay: 0.9, seed: 3 } });
    let err: NonFiniteError | null = null;
    for (let i = 0; i < 5 && !err; i++) {
      try {
        t.step();
      } catch (e) {
        err = e as NonFiniteError;
      }
    }
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err!.quantity).toBe('mainLoss');
    expect(err!.step).toBe(t.stepCount + 1);
    expect(err!.message).toMatch(/weights are already non-finite/);
  });

  it('an infinite gradient with a finite loss is caught as gradNorm, with and without clipping', () => {
    for (const gradClip of [1, null]) {
      const t = new Trainer({
        model: new MLPDenoiser({ dataDim: 2, hidden: 8, numLayers: 1, seed: 1 }),
        scheduler: new DDPMScheduler({ numTrainTimesteps: 50 }),
        dataset: toy(),
        config: { batchSize: 4, numSteps: 10, gradClip, seed: 3 },
        // sqrt(0) = 0 has an infinite derivative: a finite loss with a NaN gradient.
        lossHook: (ctx) => ctx.prediction.mul(0).sum().sqrt(),
      });
      expect(() => t.step()).toThrow(/gradient norm is NaN at step 1/);
    }
  });

  it("policy 'skip': skips the update, counts the skips, resets on a good step, stops after maxConsecutiveSkips in a row", () => {
    const t = make((step) => (step === 1 || step === 2 ? Infinity : step >= 4 ? NaN : 0), { onNonFinite: 'skip', maxConsecutiveSkips: 3 });
    t.step();
    const before = weights(t);
    const s2 = t.step();
    const s3 = t.step();
    expect([s2.skipped, s2.nonFinite, s3.skipped]).toEqual([true, 'extraLoss', true]);
    expect(weights(t)).toEqual(before);
    expect([t.stepCount, t.skippedSteps, t.consecutiveSkips]).toEqual([3, 2, 2]);
    expect(t.step().skipped).toBeUndefined(); // step 4 is finite
    expect(t.consecutiveSkips).toBe(0);
    expect(t.snapshot().meta.skips).toEqual({ total: 2, consecutive: 0 });
    t.step();
    t.step();
    expect(() => t.step()).toThrow(/3 steps in a row were non-finite/);
    expect(() => make(() => 0, { onNonFinite: 'ignore' as 'skip' })).toThrow(/onNonFinite must be 'stop' or 'skip'/);
  });
});
