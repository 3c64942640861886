import { describe, expect, it } from 'vitest';
import { Generator, fromTypedArray, randn } from '@oclt/tensor';
import { DDPMScheduler, ImageDataset, MLPDenoiser, Trainer, UNet2D, gaussianMixtureDataset } from '@oclt/diffusion';
import { recipeTrainerHooks } from './trainer-hooks.js';
import { linearAlphasCumprod, makeNoisyBatch } from './test-helpers.js';

const abarTable = linearAlphasCumprod(1000);
const labels = Int32Array.from({ length: 40 }, (_, i) => (i < 30 ? 0 : i < 37 ? 1 : 2));

describe('recipeTrainerHooks (adapter to the diffusion trainer)', () => {
  it('t2h: the target hook returns the selection targets and log scalars that agree with them', () => {
    const hooks = recipeTrainerHooks('t2h+resample', { labels, numClasses: 3, batchSize: 6, alphasCumprod: abarTable, gen: new Generator(1) });
    expect(hooks.conditional).toBe(true);
    expect(hooks.lossHook).toBeUndefined();
    const gen = new Generator(2);
    const rows = hooks.sampler.nextBatch();
    const x0 = randn([6, 1, 2, 2], gen);
    const b = makeNoisyBatch(x0, Int32Array.from({ length: 6 }, () => gen.integer(600, 1000)), abarTable, gen);
    const out = hooks.targetHook!({ ...b, timesteps: fromTypedArray(b.timesteps, [6]), labels: Int32Array.from(rows, (r) => labels[r]!), alphasCumprod: abarTable, gen });
    expect(out.targets.shape).toEqual([6, 1, 2, 2]);
    const eps = b.noise.toTypedArray();
    const targets = out.targets.toTypedArray();
    let changedRows = 0;
    for (let i = 0; i < 6; i++) if (targets.subarray(i * 4, i * 4 + 4).some((v, k) => v !== eps[i * 4 + k])) changedRows++;
    expect(out.diagnostics.transferRate).toBeCloseTo(changedRows / 6, 12);
    expect(out.diagnostics.drawnFraction).toBe(1);
    expect(out.diagnostics.expectedTransferProbability).toBeGreaterThanOrEqual(0);
    expect(() => hooks.targetHook!({ ...b, timesteps: fromTypedArray(b.timesteps, [6]), labels: null, alphasCumprod: abarTable, gen })).toThrow(/no labels/);
  });

  it('cbdm: the loss hook passes the trainer\'s label-kept mask through (all dropped -> null, no second forward)', () => {
    const hooks = recipeTrainerHooks('cbdm', { labels, numClasses: 3, batchSize: 2, alphasCumprod: abarTable, gen: new Generator(1) });
    expect(hooks.targetHook).toBeUndefined();
    let calls = 0;
    const denoiser = (x: ReturnType<typeof randn>) => (calls++, x.mul(2));
    const xt = randn([2, 3], new Generator(3));
    const ctx = { denoiser, xt, timesteps: fromTypedArray(Int32Array.from([10, 900]), [2]), prediction: xt.mul(3), gen: new Generator(4) };
    expect(hooks.lossHook!({ ...ctx, labelKept: Uint8Array.from([0, 0]) })).toBeNull();
    expect(calls).toBe(0);
    const term = hooks.lossHook!({ ...ctx, labelKept: Uint8Array.from([0, 1]) })!;
    expect(calls).toBe(1);
    // Only row 1 counts: (1 + 1/4) x^2 * 0.9 over its 3 elements, mean over 6.
    const x = xt.toTypedArray();
    expect(term.item()).toBeCloseTo((1.25 * 0.9 * (x[3]! ** 2 + x[4]! ** 2 + x[5]! ** 2)) / 6, 5);
  });
});

describe('recipes inside the real @oclt/diffusion Trainer', () => {
  const data = gaussianMixtureDataset(
    [
      { mean: [0, 2], std: 0.5, count: 60 },
      { mean: [2, 0], std: 0.5, count: 12 },
      { mean: [-2, 0], std: 0.5, count: 4 },
    ],
    new Generator(1),
  );

  function makeTrainer(spec: string, samplerSeed: number) {
    const hooks = recipeTrainerHooks(spec, { labels: data.labels!, numClasses: 3, batchSize: 8, alphasCumprod: abarTable, gen: new Generator(samplerSeed) });
    const model = new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: hooks.conditional ? 3 : 0, seed: 5 });
    const trainer = new Trainer({
      model,
      scheduler: new DDPMScheduler(),
      dataset: data,
      config: { batchSize: 8, numSteps: 4, seed: 3, emaDecay: null },
      sampler: hooks.sampler,
      targetHook: hooks.targetHook,
      lossHook: hooks.lossHook,
    });
    return trainer;
  }

  it('baseline, t2h, h2t+uncond, cbdm and beta train, log their terms, and resume bit for bit from a snapshot', () => {
    for (const spec of ['baseline', 'baseline+resample', 't2h+resample+cut=900', 'h2t+resample+uncond', 'cbdm', 'beta:1']) {
      const a = makeTrainer(spec, 11);
      const first = [a.step(), a.step()];
      for (const s of first) expect(Number.isFinite(s.loss)).toBe(true);
      if (spec === 'cbdm') expect(first.some((s) => (s.extraLoss ?? 0) > 0)).toBe(true);
      else if (!spec.startsWith('baseline')) expect(first[0]!.diagnostics?.transferRate).toBeGreaterThanOrEqual(0);
      const snap = a.snapshot();
      // Copy the tensors: the snapshot shares storage with the live weights, which the next steps update in place.
      const savedTensors = Object.fromEntries(Object.entries(snap.tensors).map(([k, v]) => [k, v.clone()]));
      const continued = [a.step().loss, a.step().loss];
      const b = makeTrainer(spec, 999); // another sampler seed: the snapshot must bring the sampler's state
      b.restore(savedTensors, JSON.parse(JSON.stringify(snap.meta)));
      expect([b.step().loss, b.step().loss]).toEqual(continued);
    }
  });
});

describe('CBDM with tau = 0 is the baseline', () => {
  // A UNet with dropout and per-sample label dropping: every random stream of the trainer is exercised (batches,
  // times, noise, label drops, dropout masks). CBDM's extra draws (y') and its second forward (more dropout masks)
  // would shift them; with tau = 0 neither may happen, so every weight must come out bit for bit the same.
  const N = 24;
  const pixels = Uint8Array.from({ length: N * 64 }, (_, i) => (i * 37 + (i >> 6) * 11) % 256);
  const imageLabels = Int32Array.from({ length: N }, (_, i) => (i < 16 ? 0 : i < 21 ? 1 : 2));
  const data = new ImageDataset(pixels, 1, 8, 8, imageLabels, 3);

  function train(spec: Parameters<typeof recipeTrainerHooks>[0], steps: number) {
    const hooks = recipeTrainerHooks(spec, { labels: imageLabels, numClasses: 3, batchSize: 4, alphasCumprod: abarTable, gen: new Generator(8) });
    const model = new UNet2D({ sampleSize: 8, inChannels: 1, baseChannels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.3, numClasses: 3, numGroups: 4, seed: 2 });
    const trainer = new Trainer({ model, scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 4, numSteps: steps, seed: 6, labelDropProb: 0.25 }, sampler: hooks.sampler, lossHook: hooks.lossHook });
    const losses = Array.from({ length: steps }, () => trainer.step().loss);
    const bits = Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Array.from(new Uint32Array(Float32Array.from(p.toTypedArray()).buffer))]));
    return { losses, bits };
  }

  it('the same seed and steps give identical losses and weights; tau > 0 does not', () => {
    const steps = 4;
    const baseline = train('baseline', steps);
    const cbdmOff = train({ method: 'cbdm', cbdm: { tau: 0 }, batchResample: false, conditional: true }, steps);
    expect(cbdmOff.losses).toEqual(baseline.losses);
    expect(Object.keys(cbdmOff.bits)).toEqual(Object.keys(baseline.bits));
    for (const name of Object.keys(baseline.bits)) expect(cbdmOff.bits[name], name).toEqual(baseline.bits[name]);
    // The check has teeth: a small tau changes the weights.
    const cbdmOn = train({ method: 'cbdm', cbdm: { tau: 0.01 }, batchResample: false, conditional: true }, steps);
    expect(Object.keys(baseline.bits).some((name) => cbdmOn.bits[name]!.some((b, k) => b !== baseline.bits[name]![k]))).toBe(true);
  });
});
