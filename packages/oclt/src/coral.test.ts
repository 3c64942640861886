import { describe, expect, it } from 'vitest';
import { Generator, fromTypedArray, randn } from '@oclt/tensor';
import { checkGradients } from '@oclt/autograd';
import { DDPMScheduler, ImageDataset, Trainer, UNet2D } from '@oclt/diffusion';
import { CORAL_DEFAULTS, ProjectionHead, bottleneckFeatures, coralLoss, coralTimeWeight, featureSeparation, supervisedContrastiveLoss } from './coral.js';
import { parseRecipe, recipeName } from './recipes.js';
import { recipeTrainerHooks } from './trainer-hooks.js';
import { linearAlphasCumprod } from './test-helpers.js';

/** The formula evaluated directly in float64, loop by loop. */
function supConDirect(z: Float64Array, B: number, D: number, labels: number[], tau: number, kept: boolean[]): number | null {
  const zn = new Float64Array(B * D);
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let k = 0; k < D; k++) n += z[i * D + k]! ** 2;
    for (let k = 0; k < D; k++) zn[i * D + k] = z[i * D + k]! / Math.sqrt(n);
  }
  const dot = (i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < D; k++) s += zn[i * D + k]! * zn[j * D + k]!;
    return s / tau;
  };
  let total = 0;
  let anchors = 0;
  for (let i = 0; i < B; i++) {
    if (!kept[i]) continue;
    const P = [...Array(B).keys()].filter((j) => j !== i && kept[j] && labels[j] === labels[i]);
    if (!P.length) continue;
    let denom = 0;
    for (let a = 0; a < B; a++) if (a !== i && kept[a]) denom += Math.exp(dot(i, a));
    let li = 0;
    for (const p of P) li -= Math.log(Math.exp(dot(i, p)) / denom);
    total += li / P.length;
    anchors++;
  }
  return anchors ? total / anchors : null;
}

function randomValues(n: number, seed: number): Float64Array {
  return Float64Array.from(randn([n], new Generator(seed)).toTypedArray());
}

describe('supervisedContrastiveLoss', () => {
  const B = 7;
  const D = 4;
  const labels = [0, 1, 0, 2, 1, 0, 3]; // class 2 and 3 have a single member: not anchors, still negatives
  it('matches a direct float64 evaluation of the formula (with and without dropped rows)', () => {
    for (const [seed, tau] of [[1, 0.1], [2, 0.5], [3, 1]] as const) {
      const z = randomValues(B * D, seed);
      for (const kept of [Array(B).fill(true), [true, true, false, true, true, true, false]]) {
        const got = supervisedContrastiveLoss(fromTypedArray(z, [B, D]), labels, tau, kept)!.item();
        expect(got).toBeCloseTo(supConDirect(z, B, D, labels, tau, kept)!, 10);
      }
    }
    // No anchor with a positive: null.
    expect(supervisedContrastiveLoss(fromTypedArray(randomValues(3 * D, 4), [3, D]), [0, 1, 2], 0.1)).toBeNull();
    expect(supervisedContrastiveLoss(fromTypedArray(randomValues(3 * D, 4), [3, D]), [0, 0, 1], 0.1, [1, 0, 1])).toBeNull();
  });

  it('its gradient agrees with central finite differences', () => {
    const z = randomValues(B * D, 5);
    const result = checkGradients((x) => supervisedContrastiveLoss(x, labels, 0.3, [1, 1, 1, 1, 0, 1, 1])!, [{ values: z, shape: [B, D] }]);
    expect(result.ok, JSON.stringify(result.worst)).toBe(true);
    // Teeth: the engine's gradient is not near zero, so a missing term would show.
    expect(Math.abs(result.worst!.numerical)).toBeGreaterThan(0);
  });

  it('is invariant to permuting the batch and to scaling each feature row', () => {
    const z = randomValues(B * D, 6);
    const base = supervisedContrastiveLoss(fromTypedArray(z, [B, D]), labels, 0.1)!.item();
    const perm = [3, 0, 6, 1, 5, 2, 4];
    const zp = new Float64Array(B * D);
    perm.forEach((src, dst) => zp.set(z.subarray(src * D, src * D + D), dst * D));
    expect(supervisedContrastiveLoss(fromTypedArray(zp, [B, D]), perm.map((i) => labels[i]!), 0.1)!.item()).toBeCloseTo(base, 12);
    const zs = z.map((v, k) => v * (0.01 + 3 * Math.floor(k / D)));
    expect(supervisedContrastiveLoss(fromTypedArray(zs, [B, D]), labels, 0.1)!.item()).toBeCloseTo(base, 10);
    // Teeth: a label change moves it.
    expect(Math.abs(supervisedContrastiveLoss(fromTypedArray(z, [B, D]), [1, 1, 0, 2, 1, 0, 3], 0.1)!.item() - base)).toBeGreaterThan(1e-3);
  });
});

describe('coralLoss', () => {
  it('is weight * mean exp((1 - t/T) / 0.3) * SupCon(head(pool(h))) with the reference defaults', () => {
    expect(CORAL_DEFAULTS).toEqual({ weight: 0.5, temperature: 0.1, timeScale: 0.3, projectionDim: 128 });
    const head = new ProjectionHead(3, 5, new Generator(1));
    const h = randn([4, 3, 2, 2], new Generator(2)).astype('float64');
    const labels = [0, 0, 1, 1];
    const t = [0, 999, 500, 10];
    const got = coralLoss({ features: h, head, labels, timesteps: t, numTimesteps: 1000 })!.item();
    const sc = supervisedContrastiveLoss(head.forward(h), labels, 0.1)!.item();
    const s = t.reduce((a, ti) => a + Math.exp((1 - ti / 1000) / 0.3), 0) / 4;
    expect(coralTimeWeight(t, 1000)).toBeCloseTo(s, 12);
    expect(got).toBeCloseTo(0.5 * s * sc, 6);
    expect(coralLoss({ features: h, head, labels, timesteps: t, numTimesteps: 1000, options: { weight: 0 } })).toBeNull();
    // Dropped labels: row 3 out leaves class 1 without a pair, only class 0 anchors; s(t) over kept rows.
    const kept = Uint8Array.from([1, 1, 1, 0]);
    const got2 = coralLoss({ features: h, head, labels, labelKept: kept, timesteps: t, numTimesteps: 1000 })!.item();
    expect(got2).toBeCloseTo(0.5 * coralTimeWeight(t, 1000, 0.3, kept) * supervisedContrastiveLoss(head.forward(h), labels, 0.1, kept)!.item(), 6);
  });
});

describe('featureSeparation', () => {
  it('gives the between/within distance ratio per group on constructed features', () => {
    // Class centroids at (0,0), (10,0) (head) and (0,4) (tail); each class has samples at centroid +/- r e_1.
    const centroids = [[0, 0], [10, 0], [0, 4]];
    const r = [1, 2, 0.5];
    const rows: number[] = [];
    const labels: number[] = [];
    centroids.forEach(([x, y], c) => {
      for (const sgn of [1, -1]) rows.push(x! + sgn * r[c]!, y!), labels.push(c);
    });
    const [head, tail] = featureSeparation(rows, 2, labels, ['head', 'head', 'tail']);
    expect(head!.within).toBeCloseTo(1.5, 12);
    expect(head!.between).toBeCloseTo((10 + 4 + 10 + Math.hypot(10, 4)) / 4, 12);
    expect(tail!.within).toBeCloseTo(0.5, 12);
    expect(tail!.between).toBeCloseTo((4 + Math.hypot(10, 4)) / 2, 12);
    expect(tail!.ratio).toBeCloseTo(tail!.between / 0.5, 12);
  });
});

describe('bottleneckFeatures', () => {
  it('returns the pooled bottleneck [B, C] of a UNet2D and leaves its tap as it was', () => {
    const model = new UNet2D({ sampleSize: 8, inChannels: 1, baseChannels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], dropout: 0, numClasses: 3, numGroups: 4, seed: 2 });
    let seen: number[] | null = null;
    const tap = (h: { shape: readonly number[] }) => void (seen = [...h.shape]);
    model.bottleneckTap = tap;
    const x = randn([3, 1, 8, 8], new Generator(1));
    const f = bottleneckFeatures(model, x, fromTypedArray(Int32Array.from([1, 2, 3]), [3]), fromTypedArray(Int32Array.from([0, 1, 2]), [3]));
    expect(f.dim).toBe(16);
    expect(f.values.length).toBe(48);
    expect(seen).toEqual([3, 16, 4, 4]);
    expect(model.bottleneckTap).toBe(tap);
    expect(f.values.some((v) => v !== 0)).toBe(true);
  });
});

describe('the coral recipe', () => {
  const abarTable = linearAlphasCumprod(1000);
  const N = 24;
  const pixels = Uint8Array.from({ length: N * 64 }, (_, i) => (i * 37 + (i >> 6) * 11) % 256);
  const imageLabels = Int32Array.from({ length: N }, (_, i) => (i < 16 ? 0 : i < 21 ? 1 : 2));
  const data = new ImageDataset(pixels, 1, 8, 8, imageLabels, 3);

  it('parses, names and refuses what does not fit', () => {
    expect(recipeName(parseRecipe('coral+resample'))).toBe('coral+resample');
    expect(() => parseRecipe('coral+uncond')).toThrow(/conditional/);
    expect(() => parseRecipe('coral+cut=500')).toThrow(/cut time/);
    expect(recipeName(parseRecipe('t2h+coral+resample'))).toBe('t2h+resample+coral');
    expect(parseRecipe('beta:1+gate=t2h+coral').withCoral).toBe(true);
    expect(parseRecipe('t2h').withCoral).toBeUndefined(); // existing recipes unchanged
    for (const bad of ['baseline+coral', 'cbdm+coral', 'coral+coral', 'h2t+uncond+coral']) expect(() => parseRecipe(bad), bad).toThrow(/\+coral/);
  });

  function train(spec: Parameters<typeof recipeTrainerHooks>[0], steps: number) {
    const hooks = recipeTrainerHooks(spec, { labels: imageLabels, numClasses: 3, batchSize: 4, alphasCumprod: abarTable, gen: new Generator(8) });
    const model = new UNet2D({ sampleSize: 8, inChannels: 1, baseChannels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.3, numClasses: 3, numGroups: 4, seed: 2 });
    hooks.setup.coral?.attach(model);
    const trainer = new Trainer({ model, scheduler: new DDPMScheduler(), dataset: data, config: { batchSize: 4, numSteps: steps, seed: 6, labelDropProb: 0.25 }, sampler: hooks.sampler, targetHook: hooks.targetHook, lossHook: hooks.lossHook });
    const stats = Array.from({ length: steps }, () => trainer.step());
    const bits = Object.fromEntries(model.namedParameters().map(([name, p]) => [name, Array.from(new Uint32Array(Float32Array.from(p.toTypedArray()).buffer))]));
    return { losses: stats.map((s) => s.loss), stats, bits };
  }

  it('weight 0 is the baseline bit for bit; the default weight trains the head and changes the weights', () => {
    const steps = 4;
    const baseline = train('baseline', steps);
    const off = train({ method: 'coral', coral: { weight: 0 }, batchResample: false, conditional: true }, steps);
    expect(off.losses).toEqual(baseline.losses);
    expect(Object.keys(off.bits)).toEqual(Object.keys(baseline.bits));
    for (const name of Object.keys(baseline.bits)) expect(off.bits[name], name).toEqual(baseline.bits[name]);
    const on = train('coral', steps);
    expect(Object.keys(on.bits).filter((n) => n.startsWith('coral_head'))).toEqual(['coral_head.proj.weight', 'coral_head.proj.bias']);
    expect(on.stats.some((s) => s.loss !== s.mainLoss)).toBe(true);
    expect(Object.keys(baseline.bits).some((name) => on.bits[name]!.some((b, k) => b !== baseline.bits[name]![k]))).toBe(true);
  });

  it('t2h+coral: weight 0 is t2h bit for bit, the default weight differs and trains the head', () => {
    const t2h = train('t2h', 3);
    const off = train({ ...parseRecipe('t2h+coral'), coral: { weight: 0 } }, 3);
    expect(off.losses).toEqual(t2h.losses);
    expect(off.bits).toEqual(t2h.bits);
    const on = train('t2h+coral', 3);
    expect(on.bits['coral_head.proj.weight']).toBeDefined();
    expect(on.stats.some((st) => st.loss !== st.mainLoss)).toBe(true);
  });
});

describe('oclt train --recipe coral (CLI, synthetic data)', () => {
  it('trains with the head, resumes without extra steps, samples from the checkpoint; its flags are refused elsewhere', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { main } = await import('./cli/main.js');
    const { vi } = await import('vitest');
    const quiet = [vi.spyOn(console, 'log').mockImplementation(() => {}), vi.spyOn(console, 'error').mockImplementation(() => {}), vi.spyOn(console, 'warn').mockImplementation(() => {})];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-coral-'));
    try {
      const run = path.join(dir, 'run');
      const args = ['train', '--dataset', 'synthetic', '--image-size', '8', '--model', 'unet', '--channels', '8', '--out', run, '--recipe', 'coral+resample', '--steps', '4', '--batch-size', '8', '--checkpoint-every', '2', '--grid-samples', '10', '--sample-steps', '2'];
      expect(await main(args)).toBe(0);
      const first = JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8'));
      expect(first.steps).toBe(4);
      expect(first.config.recipe).toBe('coral+resample');
      expect(first.config.coral).toEqual({ weight: 0.5, temperature: 0.1, timeScale: 0.3 });
      const ckpt = fs.readdirSync(path.join(run, 'checkpoints')).find((f) => f.endsWith('.safetensors'))!;
      expect(fs.readFileSync(path.join(run, 'checkpoints', ckpt)).toString('latin1')).toContain('coral_head.proj.weight');
      expect(await main(args)).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')).resumedFrom).toBe(4);
      const prefix = path.join(run, 's');
      expect(await main(['sample', '--run', run, '--out', prefix, '--num', '10', '--steps', '2', '--seed', '3'])).toBe(0);
      expect(fs.existsSync(`${prefix}.safetensors`)).toBe(true);
      expect(await main(['train', '--dataset', 'synthetic', '--image-size', '8', '--out', path.join(dir, 'x'), '--recipe', 'cbdm', '--coral-weight', '1', '--steps', '1'])).toBe(2);

      // Fine-tuning CORAL from a plain-loss run (the study's protocol): the source has no head, so the head keeps
      // its own initialisation, recorded in run.json; the source's Adam state cannot serve the new head.
      const unet = ['--dataset', 'synthetic', '--image-size', '8', '--model', 'unet', '--channels', '8', '--batch-size', '8', '--grid-samples', '0'];
      const base = path.join(dir, 'base');
      expect(await main(['train', ...unet, '--out', base, '--steps', '2'])).toBe(0);
      const ft = path.join(dir, 'ft');
      const ftArgs = ['train', ...unet, '--out', ft, '--recipe', 'coral', '--init-from', base, '--steps', '2', '--warmup', '0'];
      expect(await main(ftArgs)).toBe(0);
      const desc = JSON.parse(fs.readFileSync(path.join(ft, 'run.json'), 'utf8'));
      expect(desc.initFrom).toMatchObject({ step: 2, freshTensors: ['coral_head.proj.weight', 'coral_head.proj.bias'] });
      expect(await main(ftArgs)).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(ft, 'result.json'), 'utf8')).resumedFrom).toBe(2);
      // A fine-tune of that CORAL run has the head in its source: nothing is fresh.
      const ft2 = path.join(dir, 'ft2');
      expect(await main(['train', ...unet, '--out', ft2, '--recipe', 'coral', '--init-from', ft, '--steps', '1', '--init-optimizer'])).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(ft2, 'run.json'), 'utf8')).initFrom.freshTensors).toBeUndefined();
      const errors = quiet[1]!;
      errors.mockClear();
      expect(await main(['train', ...unet, '--out', path.join(dir, 'ft3'), '--recipe', 'coral', '--init-from', base, '--steps', '1', '--init-optimizer'])).toBe(1);
      expect(errors.mock.calls.flat().join('\n')).toMatch(/no optimizer state for the fresh module\(s\) coral_head; use optimizer: false/);
    } finally {
      quiet.forEach((q) => q.mockRestore());
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
