import { describe, expect, it } from 'vitest';
import { parseStudyDesign, studyUnits, type StudyDesign } from './design.js';

/** A valid design; each test breaks one field. */
function design(): Record<string, unknown> {
  return {
    kind: 'oclt-study-design',
    name: 'd',
    data: { dataset: 'synthetic', imageSize: 8, imbalance: 0.1, ltSeed: 0 },
    model: { kind: 'mlp', hidden: 16, layers: 1, channels: 16, seed: 0, prediction: 'epsilon' },
    train: { batchSize: 10, lr: 0.001, warmup: 2, emaDecay: 0.9, labelDrop: 0.1, checkpointEvery: 2 },
    protocol: { kind: 'fine-tune', pretrainSteps: 4, pretrainSeed: 0, curveEvery: 2, curveSamples: 20, steps: 2, warmup: 0, weights: 'ema' },
    seeds: [1, 2],
    sampling: { numSamples: 20, steps: 2, guidance: 1.5, sweep: { weights: [0, 1.5], numSamples: 20, steps: 2 } },
    featureNet: 'random-untrained',
    arms: [
      { id: 'C-base', recipe: 'baseline' },
      { id: 'C-T2H', recipe: 't2h', tier: 2 },
      { id: 'U-base', recipe: 'baseline+uncond' },
    ],
    compare: { baseline: { conditional: 'C-base', unconditional: 'U-base' } },
  };
}

const broken = (edit: (d: any) => void) => {
  const d = design();
  edit(d);
  return () => parseStudyDesign(JSON.stringify(d), 'my.json');
};

describe('study design', () => {
  it('parses a valid design, with tier 1 as the default', () => {
    const d = parseStudyDesign(design(), 'my.json');
    expect(d.arms.map((a) => [a.id, a.tier])).toEqual([['C-base', 1], ['C-T2H', 2], ['U-base', 1]]);
    expect(d.protocol.kind).toBe('fine-tune');
    const withCoral = design();
    (withCoral.arms as unknown[]).push({ id: 'C-CORAL-w0.05', recipe: 'coral+resample', coral: { weight: 0.05, temperature: 0.1, timeScale: 0.3 } });
    expect(parseStudyDesign(withCoral).arms.at(-1)!.coral).toEqual({ weight: 0.05, temperature: 0.1, timeScale: 0.3 });
  });

  it('families: swept arms of one setting, each x once, an optional reference; errors name the field', () => {
    const withFamily = (families: unknown) => {
      const d = design();
      (d.arms as unknown[]).push({ id: 'C-T2H-cut500', recipe: 't2h+cut=500' });
      d.families = families;
      return d;
    };
    const good = { id: 'cut', title: 'FID against the cut time', parameter: 'cut time t', points: [{ arm: 'C-T2H-cut500', x: 500 }, { arm: 'C-T2H', x: 1000 }], against: 'C-T2H' };
    const parsed = parseStudyDesign(withFamily([good]), 'my.json');
    expect(parsed.families).toEqual([good]);
    expect(parseStudyDesign(design()).families).toBeUndefined();
    const bad = (families: unknown) => () => parseStudyDesign(withFamily(families), 'my.json');
    expect(bad({})).toThrow(/my\.json: families must be an array/);
    expect(bad([{ ...good, points: [good.points[0]] }])).toThrow(/families\[0\]\.points must be an array of at least 2/);
    expect(bad([{ ...good, points: [good.points[0], { arm: 'C-nope', x: 1 }] }])).toThrow(/families\[0\]\.points\[1\]\.arm names no arm: "C-nope"/);
    expect(bad([{ ...good, points: [good.points[0], { arm: 'U-base', x: 1 }] }])).toThrow(/families\[0\]\.points mixes conditional and unconditional arms/);
    expect(bad([{ ...good, points: [good.points[0], { arm: 'C-T2H', x: 500 }] }])).toThrow(/families\[0\]\.points repeats a value of x/);
    expect(bad([{ ...good, against: 'U-base' }])).toThrow(/families\[0\]\.against names U-base, whose recipe baseline\+uncond is unconditional/);
    expect(bad([good, good])).toThrow(/families\[1\]\.id repeats the family id "cut"/);
    expect(bad([{ ...good, id: 'a/b' }])).toThrow(/families\[0\]\.id must be letters/);
    expect(bad([{ ...good, colour: 'red' }])).toThrow(/families\[0\]\.colour is not a field/);
  });

  it("data.classOrder (the paper's Table 5): a permutation of the 10 classes; the identity is the default, left out", async () => {
    const withOrder = (order: unknown) => ({ ...design(), data: { ...(design().data as object), classOrder: order } });
    const reversed = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    const d = parseStudyDesign(withOrder(reversed), 'my.json');
    expect(d.data.classOrder).toEqual(reversed);
    expect(parseStudyDesign(withOrder([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])).data).toEqual(parseStudyDesign(design()).data);
    for (const bad of [[0, 1, 2], [0, 0, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'reverse']) {
      expect(() => parseStudyDesign(withOrder(bad), 'my.json')).toThrow(/my\.json: data\.classOrder must list each class 0\.\.9 once/);
    }
    // The arms train on the long-tailed subset of that order.
    const { unitTrainConfig } = await import('../cli/study.js');
    const unit = studyUnits(d).find((u) => u.id === 'C-base@1')!;
    expect(unitTrainConfig({ design: d, out: '/tmp/x' }, unit).data.classOrder).toEqual(reversed);
  });

  it('names the file and the field of every error', () => {
    const cases: [(d: any) => void, RegExp][] = [
      [(d) => (d.kind = 'x'), /my\.json: kind must be "oclt-study-design"/],
      [(d) => (d.seeds = [1, 1]), /seeds lists a seed twice/],
      [(d) => (d.seeds = [1, -2]), /seeds\[1\] must be a non-negative integer/],
      [(d) => (d.arms[1].recipe = 'magic'), /arms\[1\]\.recipe is not a recipe: .*unknown method 'magic'/],
      [(d) => (d.arms[2].id = 'C-base'), /arms has the id "C-base" twice/],
      [(d) => (d.arms[0].id = 'pretrain-C'), /arms\[0\]\.id must be/],
      [(d) => (d.arms[0].cbdm = { tau: 1, gamma: 0.25, labels: 'train' }), /arms\[0\]\.cbdm is only for recipe cbdm/],
      [(d) => (d.arms[0].coral = { weight: 0.05, temperature: 0.1, timeScale: 0.3 }), /arms\[0\]\.coral is only for recipe coral or a \+coral recipe/],
      [(d) => ((d.arms[0].recipe = 'coral'), (d.arms[0].coral = { weight: -1, temperature: 0.1, timeScale: 0.3 })), /arms\[0\]\.coral\.weight must be a number in/],
      [(d) => ((d.arms[0].recipe = 'coral'), (d.arms[0].coral = { weight: 0.1, temp: 0.1 })), /arms\[0\]\.coral\.temp is not a field/],
      [(d) => (d.compare.baseline.conditional = 'U-base'), /compare\.baseline\.conditional names U-base, whose recipe baseline\+uncond is unconditional/],
      [(d) => (d.compare.baseline.conditional = 'nope'), /compare\.baseline\.conditional names no arm/],
      [(d) => (d.sampling.numSamples = 25), /sampling\.numSamples must be a multiple of 10/],
      [(d) => (d.sampling.sweep.weights = []), /sampling\.sweep\.weights must be a non-empty array/],
      [(d) => (d.train.lr = 0), /train\.lr must be a number in/],
      [(d) => (d.train.batchSize = 1.5), /train\.batchSize must be an integer/],
      [(d) => (d.protocol.weights = 'best'), /protocol\.weights must be one of ema, model/],
      [(d) => (d.protocol.stepz = 3), /protocol\.stepz is not a field of protocol/],
      [(d) => (d.data.imageSize = 64), /data\.imageSize must be an integer in 8\.\.28/],
      [(d) => ((d.model.kind = 'unet'), (d.model.channels = 15)), /model\.channels and data\.imageSize must be even/],
    ];
    for (const [edit, message] of cases) expect(broken(edit)).toThrow(message);
    expect(() => parseStudyDesign('{ nope', 'my.json')).toThrow(/my\.json: \(file\) is not JSON/);
  });

  it('expands into units: baselines, the pre-training per setting, then arms tier by tier, seed by seed', () => {
    const d = parseStudyDesign(design());
    const units = studyUnits(d);
    expect(units.map((u) => u.id)).toEqual(['baselines', 'pretrain-C', 'pretrain-U', 'C-base@1', 'U-base@1', 'C-base@2', 'U-base@2', 'C-T2H@1', 'C-T2H@2']);
    expect(units.find((u) => u.id === 'U-base@2')!.needs).toEqual(['pretrain-U']);
    expect(units.find((u) => u.id === 'C-T2H@1')!.needs).toEqual(['pretrain-C']);
    expect(studyUnits(d, { maxTier: 1 }).map((u) => u.id)).not.toContain('C-T2H@1');
    // From scratch: no pre-training, no dependencies.
    const scratch: StudyDesign = { ...d, protocol: { kind: 'scratch', steps: 3 } };
    expect(studyUnits(scratch).filter((u) => u.kind === 'pretrain')).toEqual([]);
    expect(studyUnits(scratch).every((u) => u.needs.length === 0)).toBe(true);
  });

  it('the committed designs parse', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dir = path.resolve(__dirname, '../../../../bench/designs');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => parseStudyDesign(fs.readFileSync(path.join(dir, f), 'utf8'), f)).not.toThrow();
  });
});
