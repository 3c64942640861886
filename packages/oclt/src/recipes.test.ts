import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, fromTypedArray, randn } from '@oclt/tensor';
import { RECIPE_METHODS, RECIPE_METHOD_NAMES, RECIPE_METHOD_SYNTAX, parseRecipe, recipeGate, recipeName, setupRecipe } from './recipes.js';
import { selectTargets } from './target-selection.js';
import { countClasses, longTailedClassCounts } from './long-tailed-dataset.js';
import { linearAlphasCumprod, makeNoisyBatch } from './test-helpers.js';

const abarTable = linearAlphasCumprod(1000);
const labels = Int32Array.from(longTailedClassCounts(200, 4, 0.05).flatMap((n, c) => new Array<number>(n).fill(c)));

describe('recipes', () => {
  it('parses the ablation grid and round-trips through recipeName', () => {
    expect(parseRecipe('t2h')).toEqual({ method: 't2h', batchResample: false, conditional: true });
    expect(parseRecipe('h2t+resample+uncond')).toEqual({ method: 'h2t', batchResample: true, conditional: false });
    expect(parseRecipe('beta:-1+gate=h2t+cut=600')).toEqual({ method: 'beta', beta: -1, betaGate: 'h2t', cutTime: 600, batchResample: false, conditional: true });
    fc.assert(
      fc.property(
        fc.constantFrom('baseline', 'cbdm', 't2h', 'h2t', 'full', 'beta:1', 'beta:-0.5'),
        fc.boolean(),
        fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
        fc.boolean(),
        (method, resample, cut, uncond) => {
          const transfers = !['baseline', 'cbdm'].includes(method);
          // Full-gated recipes (full, beta without a gate) must say that their cut applies to Full.
          const cutFull = method === 'full' || method.startsWith('beta') ? '+cut-full' : '';
          const spec = method + (resample ? '+resample' : '') + (cut !== undefined && transfers ? `+cut=${cut}${cutFull}` : '') + (uncond && method !== 'cbdm' ? '+uncond' : '');
          expect(recipeName(parseRecipe(spec))).toBe(spec);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('names the methods once, in RECIPE_METHODS: each parses, has its gate, and the error text lists them', () => {
    expect(RECIPE_METHOD_NAMES).toEqual(['baseline', 'cbdm', 'coral', 't2h', 'h2t', 'full', 'beta']);
    for (const method of RECIPE_METHOD_NAMES) {
      const recipe = parseRecipe(RECIPE_METHODS[method].syntax.replace('<value>', '1'));
      expect(recipe.method).toBe(method);
      expect(recipeGate(recipe)).toBe(RECIPE_METHODS[method].gate);
    }
    expect(() => parseRecipe('nope')).toThrow(`expected one of ${RECIPE_METHOD_SYNTAX.join(', ')}`);
    expect(RECIPE_METHOD_SYNTAX.join(', ')).toBe('baseline, cbdm, coral, t2h, h2t, full, beta:<value>');
  });

  it('refuses what makes no sense, saying why', () => {
    expect(() => parseRecipe('t2hh')).toThrow(/unknown method 't2hh'/);
    expect(() => parseRecipe('beta')).toThrow(/needs a number/);
    expect(() => parseRecipe('cbdm+uncond')).toThrow(/needs conditional/);
    expect(() => parseRecipe('baseline+cut=500')).toThrow(/cut time only applies/);
    expect(() => parseRecipe('t2h+fast')).toThrow(/unknown flag '\+fast'/);
    expect(() => parseRecipe('t2h+gate=h2t')).toThrow(/only for method 'beta'/);
    // A cut on the Full gate is ignored by the released OC_LT code: the recipe must choose explicitly.
    expect(() => parseRecipe('full+cut=700')).toThrow(/ignores \(it cuts T2H and H2T only\)[\s\S]*\+cut-full/);
    expect(() => parseRecipe('beta:1+cut=700')).toThrow(/\+cut-full/);
    expect(() => parseRecipe('t2h+cut=700+cut-full')).toThrow(/\+cut-full only goes with/);
    expect(() => parseRecipe('full+cut-full')).toThrow(/\+cut-full only goes with/);
    expect(parseRecipe('full+cut=700+cut-full')).toEqual({ method: 'full', cutTime: 700, cutTimeAppliesToFull: true, batchResample: false, conditional: true });
    expect(parseRecipe('beta:1+gate=h2t+cut=700').cutTimeAppliesToFull).toBeUndefined();
  });

  it('full+cut=<t>+cut-full hands cutTimeAppliesToFull to selectTargets; t2h cuts without it', () => {
    const gen = new Generator(6);
    const x0 = randn([8, 5], gen);
    // Half the rows at t = 100 (below the cut), half at t = 900 (above it), mid-schedule so that draws move.
    const batch = makeNoisyBatch(x0, Int32Array.from({ length: 8 }, (_, i) => (i % 2 ? 900 : 100)), abarTable, gen);
    const batchLabels = Int32Array.from({ length: 8 }, (_, i) => i % 4);
    for (const spec of ['full+cut=500+cut-full', 't2h+cut=500']) {
      const setup = setupRecipe(spec, { labels, numClasses: 4, batchSize: 8, alphasCumprod: abarTable, gen: new Generator(1) });
      const out = setup.replaceTargets!({ ...batch, timesteps: fromTypedArray(batch.timesteps, [8]), labels: batchLabels, gen: new Generator(3) });
      for (let i = 0; i < 8; i++) expect(out.selectedIndex[i]! >= 0).toBe(batch.timesteps[i]! < 500);
    }
  });

  it('baseline and cbdm keep targets; t2h/h2t/full/beta replace them exactly like selectTargets', () => {
    const gen = new Generator(4);
    const base = setupRecipe('baseline', { labels, numClasses: 4, batchSize: 8, alphasCumprod: abarTable, gen });
    expect(base.replaceTargets).toBeUndefined();
    expect(base.extraLoss).toBeUndefined();
    expect(recipeGate(parseRecipe('beta:1'))).toBe('full');
    const setup = setupRecipe('beta:1+gate=t2h+cut=800', { labels, numClasses: 4, batchSize: 8, alphasCumprod: abarTable, gen });
    const indices = setup.sampler.nextBatch();
    const x0 = randn([8, 5], gen);
    const batch = makeNoisyBatch(x0, Int32Array.from({ length: 8 }, () => gen.integer(0, 1000)), abarTable, gen);
    const batchLabels = Int32Array.from(indices, (i) => labels[i]!);
    const viaHook = setup.replaceTargets!({ ...batch, timesteps: fromTypedArray(batch.timesteps, [8]), labels: batchLabels, gen: new Generator(77) });
    const q = Float64Array.from(countClasses(labels, 4), (n) => n / labels.length);
    const direct = selectTargets({ ...batch, labels: batchLabels, alphasCumprod: abarTable, classFrequencies: q, gate: 't2h', cutTime: 800, beta: 1, gen: new Generator(77) });
    expect(Array.from(viaHook.selectedIndex)).toEqual(Array.from(direct.selectedIndex));
    expect(Array.from(viaHook.targets.toTypedArray())).toEqual(Array.from(direct.targets.toTypedArray()));
  });

  it('+resample gives balanced batches; without it batches follow the long-tailed data', () => {
    const gen = new Generator(5);
    const resampled = setupRecipe('t2h+resample', { labels, numClasses: 4, batchSize: 8, alphasCumprod: abarTable, gen });
    const plain = setupRecipe('t2h', { labels, numClasses: 4, batchSize: 8, alphasCumprod: abarTable, gen });
    const tally = (s: typeof plain) => countClasses(Array.from({ length: 50 }, () => Array.from(s.sampler.nextBatch(), (i) => labels[i]!)).flat(), 4);
    expect(tally(resampled)).toEqual([100, 100, 100, 100]);
    const p = tally(plain);
    expect(p[0]).toBeGreaterThan(4 * p[3]!);
  });

  it('cbdm adds a loss from a second forward with y\' ~ q(y)', () => {
    const gen = new Generator(6);
    const setup = setupRecipe('cbdm', { labels, numClasses: 4, batchSize: 4, alphasCumprod: abarTable, gen });
    const xt = randn([4, 3], gen);
    const timesteps = fromTypedArray(Int32Array.from([0, 250, 500, 999]), [4]);
    let calls = 0;
    const denoiser = (x: typeof xt) => {
      calls++;
      return x.mul(2);
    };
    const loss = setup.extraLoss!({ denoiser, xt, timesteps, prediction: xt.mul(3), gen });
    expect(calls).toBe(1);
    // e_y - e_y' = x: per element (1 + 1/4) x^2 w_t, w_t = t / 1000, mean over 12 elements.
    const x = xt.toTypedArray();
    let expected = 0;
    for (let i = 0; i < 4; i++) for (let k = 0; k < 3; k++) expected += 1.25 * x[i * 3 + k]! ** 2 * ([0, 250, 500, 999][i]! / 1000);
    expect(loss!.item()).toBeCloseTo(expected / 12, 5);
  });
});
