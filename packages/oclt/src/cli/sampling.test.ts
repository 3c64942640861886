/**
 * `--clip-x0` of `oclt sample` and `oclt ablation` (and what `oclt eval` records of it): the default is OC_LT's
 * sampler (no clipping of DDIM's predicted x0), bit for bit; `--clip-x0 1` clips x0 to [-1, 1] at every step,
 * which changes the samples of a model whose x0 prediction leaves that range.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { randn, Generator, type Tensor } from '@oclt/tensor';
import { decodeSafetensors } from '@oclt/autograd';
import { DDPMScheduler, SCHEDULER_NAMES, sample } from '@oclt/diffusion';
import { ocltReferenceDDIMScheduler } from '../reference-sampling.js';
import { cliTestSetup } from '../test-helpers.js';
import { DEFAULT_SCHEDULER, SAMPLING_OPTIONS, asImages, balancedLabels, isDefaultSampling, modelSampleShape, samplingConfigFrom, samplingScheduler } from './common.js';
import { SAMPLE_HELP } from './sample.js';
import { loadRunModel } from './train.js';

const t = cliTestSetup('sampling');
const SYNTH = ['--dataset', 'synthetic', '--image-size', '8'];
const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '8', '--grid-samples', '0'];

const images = (prefix: string): Float32Array => {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(`${prefix}.safetensors`)), prefix);
  return Float32Array.from(tensors.images!.toTypedArray() as ArrayLike<number>);
};
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));

describe('oclt sample --clip-x0', () => {
  it("default = --clip-x0 none = OC_LT's reference sampler bit for bit; --clip-x0 1 changes the samples where x0 leaves [-1, 1]; recorded in the JSON; eval records it", async () => {
    const run = t.file('run');
    expect((await t.run(['train', '--out', run, '--steps', '3', '--recipe', 'baseline', ...TINY, ...SYNTH])).code).toBe(0);
    const draw = async (name: string, extra: string[]) => {
      const prefix = t.file(name);
      const r = await t.run(['sample', '--run', run, '--out', prefix, '--num', '20', '--steps', '100', '--seed', '3', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return prefix;
    };
    const byDefault = await draw('default', []);
    const none = await draw('none', ['--clip-x0', 'none']);
    const clipped = await draw('clip1', ['--clip-x0', '1']);
    expect(t.readJson(`${byDefault}.json`).config.sampling).toEqual({ clipX0: null });
    expect(t.readJson(`${none}.json`).config.sampling).toEqual({ clipX0: null });
    expect(t.readJson(`${clipped}.json`).config.sampling).toEqual({ clipX0: 1 });
    expect(bits(images(none))).toEqual(bits(images(byDefault)));

    // The reference: OC_LT's DDIM (100 leading steps, eta 0, abar_0 after the last step, no x0 clip) called directly.
    const { model, config } = loadRunModel(run);
    const reference = sample(model, ocltReferenceDDIMScheduler(config.model.prediction), { numSamples: 20, sampleShape: modelSampleShape(config.model), batchSize: 250, labels: balancedLabels(20), guidanceWeight: 1.5, eta: 0, seed: 3 });
    expect(bits(asImages(reference, 8).toTypedArray() as Float32Array)).toEqual(bits(images(byDefault)));

    // This model's x0 prediction at the first step (t = 990, sqrt(abar) ~ 0.006) is far outside [-1, 1] ...
    const scheduler = samplingScheduler(config.model).setTimesteps(100);
    const t0 = scheduler.timesteps[0]!;
    const x = randn([20, ...modelSampleShape(config.model)], new Generator(3));
    const x0 = scheduler.step(model.forward(x, t0, balancedLabels(20)) as Tensor, t0, x, new Generator(0), { eta: 0 }).predOriginalSample.toTypedArray() as Float32Array;
    expect(Math.max(...Array.from(x0, Math.abs))).toBeGreaterThan(1);
    // ... so clipping it changes the samples (clipping an x0 inside [-1, 1] would change nothing).
    const a = images(byDefault);
    const b = images(clipped);
    expect(a.some((v, k) => v !== b[k])).toBe(true);
    for (const v of b) expect(Math.abs(v)).toBeLessThanOrEqual(1);

    // eval records how the samples it scores were drawn (from their description).
    for (const [prefix, expected] of [[clipped, { clipX0: 1 }], [byDefault, { clipX0: null }]] as const) {
      const e = await t.run(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained', '--no-baselines', ...SYNTH]);
      expect(e.code, e.stderr).toBe(0);
      expect(t.readJson(`${prefix}.metrics.json`).config.sampling).toEqual(expected);
    }
    // Samples without a description (or one from before --clip-x0): not known, said so.
    fs.rmSync(`${byDefault}.json`);
    expect((await t.run(['eval', '--samples', `${byDefault}.safetensors`, '--feature-net', 'random-untrained', '--no-baselines', ...SYNTH])).code).toBe(0);
    expect(t.readJson(`${byDefault}.metrics.json`).config.sampling).toBeNull();
  });

  it('a bad --clip-x0 is a usage error naming the flag', async () => {
    const r = await t.run(['sample', '--run', t.file('run'), '--clip-x0', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--clip-x0 must be one of none, 1/);
  });
});

describe('oclt ablation --clip-x0', () => {
  const args = (name: string) => ['ablation', ...SYNTH, '--hidden', '16', '--layers', '1', '--out', t.file(`abl-${name}`), '--results', t.file('res', name), '--methods', 'C-base', '--steps', '2', '--batch-size', '10', '--num-samples', '20', '--sample-steps', '3', '--feature-net', 'random-untrained'];
  it('records the clip in its config only when set (results files from before compare equal) and in the report; the samples differ', async () => {
    expect((await t.run(args('default'))).code).toBe(0);
    const r = await t.run([...args('clip'), '--clip-x0', '1']);
    expect(r.code, r.stderr).toBe(0);
    const def = t.readJson(`${t.file('res', 'default')}.json`);
    const clip = t.readJson(`${t.file('res', 'clip')}.json`);
    expect(def.config.sampling).toBeUndefined();
    expect(clip.config.sampling).toEqual({ clipX0: 1 });
    expect(fs.readFileSync(`${t.file('res', 'default')}.md`, 'utf8')).toMatch(/no x0 clipping \(OC_LT's sampler/);
    expect(fs.readFileSync(`${t.file('res', 'clip')}.md`, 'utf8')).toMatch(/x0 clipped to \[-1, 1\] at every step/);
    const s = (name: string) => images(t.file(`abl-${name}`, 'C-base', 'eval-samples'));
    expect(bits(s('default'))).not.toEqual(bits(s('clip')));
    // The same results file with another clip is another config: refused, not mixed.
    expect((await t.run([...args('default'), '--clip-x0', '1'])).code).toBe(1);
  });
});

describe('oclt sample --scheduler', () => {
  it("the choices are the registry's names, default 'ddim'; the help lists them and says what DDPM does with fewer steps", () => {
    expect(SAMPLING_OPTIONS.scheduler.choices).toEqual(SCHEDULER_NAMES);
    expect(SAMPLING_OPTIONS.scheduler.default).toBe('ddim');
    expect(DEFAULT_SCHEDULER).toBe('ddim');
    expect(SAMPLE_HELP).toContain('--scheduler <ddim|ddpm>');
    expect(SAMPLING_OPTIONS.scheduler.description).toMatch(/with n = T it is DDPM's own sampler, with fewer each step draws from the posterior .*'ddpm' is DDPM's 1000-step sampler only with the steps set to the model's T/);
    // Recorded only when not the default, so a default run's config is what it was before --scheduler.
    expect(samplingConfigFrom({ 'clip-x0': 'none', scheduler: 'ddim' })).toEqual({ clipX0: null });
    expect(samplingConfigFrom({ 'clip-x0': 'none' })).toEqual({ clipX0: null });
    expect(samplingConfigFrom({ 'clip-x0': '1', scheduler: 'ddpm' })).toEqual({ clipX0: 1, scheduler: 'ddpm' });
    expect([isDefaultSampling({ clipX0: null }), isDefaultSampling({ clipX0: null, scheduler: 'ddim' }), isDefaultSampling({ clipX0: null, scheduler: 'ddpm' }), isDefaultSampling({ clipX0: 1 })]).toEqual([true, true, false, false]);
    expect(() => samplingConfigFrom({ 'clip-x0': 'none', scheduler: 'euler' })).toThrow(/--scheduler must be one of ddim, ddpm, got 'euler'/);
  });

  it("ddim = the default bit for bit; ddpm = sample() with a DDPMScheduler made by hand (the model's schedule and prediction type, 'leading' steps); recorded in the JSON; eval records it", async () => {
    const run = t.file('sched-run');
    expect((await t.run(['train', '--out', run, '--steps', '3', '--recipe', 'baseline', ...TINY, ...SYNTH])).code).toBe(0);
    const draw = async (name: string, extra: string[]) => {
      const prefix = t.file(name);
      const r = await t.run(['sample', '--run', run, '--out', prefix, '--num', '20', '--steps', '20', '--seed', '4', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return prefix;
    };
    const byDefault = await draw('sched-default', []);
    const ddim = await draw('sched-ddim', ['--scheduler', 'ddim']);
    const ddpm = await draw('sched-ddpm', ['--scheduler', 'ddpm']);
    expect(bits(images(ddim))).toEqual(bits(images(byDefault)));
    expect(t.readJson(`${ddim}.json`).config.sampling).toEqual({ clipX0: null });
    expect(t.readJson(`${ddpm}.json`).config.sampling).toEqual({ clipX0: null, scheduler: 'ddpm' });

    const { model, config } = loadRunModel(run);
    const scheduler = new DDPMScheduler({ predictionType: config.model.prediction });
    const byHand = sample(model, scheduler, { numSamples: 20, sampleShape: modelSampleShape(config.model), batchSize: 250, labels: balancedLabels(20), guidanceWeight: 1.5, numInferenceSteps: 20, seed: 4 });
    expect(bits(asImages(byHand, 8).toTypedArray() as Float32Array)).toEqual(bits(images(ddpm)));
    expect(bits(images(ddpm))).not.toEqual(bits(images(byDefault)));
    // The CLI's scheduler for it: the registry's DDPMScheduler with the model's settings.
    const cli = samplingScheduler(config.model, samplingConfigFrom({ 'clip-x0': 'none', scheduler: 'ddpm' }));
    expect(cli).toBeInstanceOf(DDPMScheduler);
    expect([cli.predictionType, cli.timestepSpacing, cli.clipSample, cli.numTrainTimesteps, [...cli.alphasCumprod]]).toEqual([scheduler.predictionType, scheduler.timestepSpacing, scheduler.clipSample, scheduler.numTrainTimesteps, [...scheduler.alphasCumprod]]);

    const e = await t.run(['eval', '--samples', `${ddpm}.safetensors`, '--feature-net', 'random-untrained', '--no-baselines', ...SYNTH]);
    expect(e.code, e.stderr).toBe(0);
    expect(t.readJson(`${ddpm}.metrics.json`).config.sampling).toEqual({ clipX0: null, scheduler: 'ddpm' });
  });

  it('an unknown --scheduler is a usage error naming the flag and the choices', async () => {
    const r = await t.run(['sample', '--run', t.file('sched-run'), '--scheduler', 'euler']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--scheduler must be one of ddim, ddpm/);
    const a = await t.run(['ablation', ...SYNTH, '--scheduler', 'euler']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--scheduler must be one of ddim, ddpm/);
  });
});

describe('oclt ablation --scheduler', () => {
  const args = (name: string) => ['ablation', ...SYNTH, '--hidden', '16', '--layers', '1', '--out', t.file(`abls-${name}`), '--results', t.file('res-s', name), '--methods', 'C-base', '--steps', '2', '--batch-size', '10', '--num-samples', '20', '--sample-steps', '3', '--feature-net', 'random-untrained'];
  it('records the scheduler in its config only when not ddim (--scheduler ddim = no flag) and in the report', async () => {
    expect((await t.run([...args('ddim'), '--scheduler', 'ddim'])).code).toBe(0);
    const r = await t.run([...args('ddpm'), '--scheduler', 'ddpm']);
    expect(r.code, r.stderr).toBe(0);
    expect(t.readJson(`${t.file('res-s', 'ddim')}.json`).config.sampling).toBeUndefined();
    expect(t.readJson(`${t.file('res-s', 'ddpm')}.json`).config.sampling).toEqual({ clipX0: null, scheduler: 'ddpm' });
    expect(fs.readFileSync(`${t.file('res-s', 'ddim')}.md`, 'utf8')).toMatch(/DDIM 3 steps, eta 0, no x0 clipping \(OC_LT's sampler/);
    expect(fs.readFileSync(`${t.file('res-s', 'ddpm')}.md`, 'utf8')).toMatch(/--scheduler ddpm 3 steps, no x0 clipping, guidance/);
    // The ddim results file is the default's: the same config without the flag resumes it; another scheduler is refused.
    expect((await t.run(args('ddim'))).code).toBe(0);
    expect((await t.run([...args('ddim'), '--scheduler', 'ddpm'])).code).toBe(1);
  });
});
