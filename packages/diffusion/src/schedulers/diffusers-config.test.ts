import { describe, expect, it } from 'vitest';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import {
  DIFFUSERS_SCHEDULER_DEFAULTS,
  diffusersSchedulerClassName,
  schedulerConfigFromDiffusers,
  schedulerConfigToDiffusers,
  schedulerFromDiffusers,
} from './diffusers-config.js';

// Real scheduler_config.json contents of published models.
// google/ddpm-cifar10-32 (Hugging Face Hub; DDPMPipeline, and the model diffusers' DDIMPipeline docs load): the file
// as reproduced verbatim in public training scripts that embed it (found by code search; the Hub is not reachable here).
const DDPM_CIFAR10_32 = {
  _class_name: 'DDPMScheduler',
  _diffusers_version: '0.1.1',
  beta_end: 0.02,
  beta_schedule: 'linear',
  beta_start: 0.0001,
  clip_sample: true,
  num_train_timesteps: 1000,
  trained_betas: null,
  variance_type: 'fixed_large',
};
// google/ddpm-cat-256, as quoted in github.com/whaler404/Hf-Learn, diffusers_learn/api/models/unets/unet2dmodel/unet2dmodel.md.
const DDPM_CAT_256 = {
  _class_name: 'DDPMScheduler',
  _diffusers_version: '0.1.1',
  beta_end: 0.02,
  beta_schedule: 'linear',
  beta_start: 0.0001,
  clip_sample: true,
  num_train_timesteps: 1000,
  trained_betas: null,
  variance_type: 'fixed_small',
};
// The same model's config as diffusers 0.13.1 prints it (github.com/huggingface/diffusers, docs/source/ja/quicktour.md).
const DDPM_CAT_256_0_13 = {
  _class_name: 'DDPMScheduler',
  _diffusers_version: '0.13.1',
  beta_end: 0.02,
  beta_schedule: 'linear',
  beta_start: 0.0001,
  clip_sample: true,
  clip_sample_range: 1.0,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  trained_betas: null,
  variance_type: 'fixed_small',
};
// github.com/khuongsatou/ddpm-butterflies-128, scheduler/scheduler_config.json (diffusers' training example's output).
const DDPM_BUTTERFLIES_128 = {
  _class_name: 'DDPMScheduler',
  _diffusers_version: '0.11.1',
  beta_end: 0.02,
  beta_schedule: 'linear',
  beta_start: 0.0001,
  clip_sample: true,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  trained_betas: null,
  variance_type: 'fixed_small',
};
// Stable Diffusion v1.5: github.com/HDRJ-One/runwayml-stable-diffusion-v1-5, scheduler/scheduler_config.json.
const SD_V1_5 = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.17.0.dev0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  clip_sample_range: 1.0,
  dynamic_thresholding_ratio: 0.995,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  thresholding: false,
  trained_betas: null,
};

const DDPM_LINEAR = { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02, predictionType: 'epsilon', timestepSpacing: 'leading', stepsOffset: 0 } as const;

/** What diffusers writes for every key (its save_config), without the version: for the round trips. */
function normalised(json: Record<string, unknown>, className: 'DDIMScheduler' | 'DDPMScheduler'): Record<string, unknown> {
  const out: Record<string, unknown> = { ...DIFFUSERS_SCHEDULER_DEFAULTS[className], _class_name: className };
  for (const [k, v] of Object.entries(json)) if (k in out) out[k] = v;
  return out;
}

describe('schedulerConfigFromDiffusers: real configs', () => {
  it('google/ddpm-cifar10-32: DDPM, fixed_large, x0 clipped to [-1, 1] (clip_sample true)', () => {
    const config = schedulerConfigFromDiffusers(DDPM_CIFAR10_32, 'google/ddpm-cifar10-32');
    expect(config).toEqual({ ...DDPM_LINEAR, clipSample: 1, varianceType: 'fixed_large' });
    const s = schedulerFromDiffusers(DDPM_CIFAR10_32);
    expect(s).toBeInstanceOf(DDPMScheduler);
    expect((s as DDPMScheduler).varianceType).toBe('fixed_large');
    expect(s.clipSample).toBe(1);
    expect(diffusersSchedulerClassName(DDPM_CIFAR10_32)).toBe('DDPMScheduler');
  });

  it('google/ddpm-cifar10-32 read as DDIM (what DDIMPipeline does): variance_type ignored, set_alpha_to_one takes its default true', () => {
    const config = schedulerConfigFromDiffusers(DDPM_CIFAR10_32, undefined, { as: 'DDIMScheduler' });
    expect(config).toEqual({ ...DDPM_LINEAR, clipSample: 1, setAlphaToOne: true, useClippedModelOutput: false });
    const s = schedulerFromDiffusers(DDPM_CIFAR10_32, undefined, { as: 'DDIMScheduler' }) as DDIMScheduler;
    expect(s).toBeInstanceOf(DDIMScheduler);
    expect(s.finalAlphaCumprod).toBe(1);
    expect(s.useClippedModelOutput).toBe(false);
  });

  it('google/ddpm-cat-256 (0.1.1 and 0.13.1 prints) and ddpm-butterflies-128: the same fixed_small DDPM config', () => {
    const want = { ...DDPM_LINEAR, clipSample: 1, varianceType: 'fixed_small' };
    for (const json of [DDPM_CAT_256, DDPM_CAT_256_0_13, DDPM_BUTTERFLIES_128]) expect(schedulerConfigFromDiffusers(json)).toEqual(want);
    // as JSON text, too
    expect(schedulerConfigFromDiffusers(JSON.stringify(DDPM_BUTTERFLIES_128))).toEqual(want);
  });

  it("Stable Diffusion v1.5's PNDM config: refused as PNDM, and as DDIM for its scaled_linear betas", () => {
    expect(() => schedulerConfigFromDiffusers(SD_V1_5, 'sd-v1-5/scheduler')).toThrow(/\(sd-v1-5\/scheduler\): '_class_name' is "PNDMScheduler"; only DDIMScheduler and DDPMScheduler/);
    expect(() => schedulerConfigFromDiffusers(SD_V1_5, undefined, { as: 'DDIMScheduler' })).toThrow(/'beta_schedule' is "scaled_linear"/);
    // The rest of it maps (skip_prk_steps is PNDM's and ignored, as diffusers ignores it for DDIM):
    const linear = { ...SD_V1_5, beta_schedule: 'linear' };
    expect(schedulerConfigFromDiffusers(linear, undefined, { as: 'DDIMScheduler' })).toEqual({
      numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 0.00085, betaEnd: 0.012, predictionType: 'epsilon', timestepSpacing: 'leading', stepsOffset: 1, clipSample: null, setAlphaToOne: false,
    });
  });

  it('a DDIM config in the shape Stable Diffusion pipelines save (skip_prk_steps, steps_offset 1, set_alpha_to_one false)', () => {
    const json = { _class_name: 'DDIMScheduler', _diffusers_version: '0.8.0', beta_end: 0.02, beta_schedule: 'linear', beta_start: 0.0001, clip_sample: false, num_train_timesteps: 1000, prediction_type: 'v_prediction', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null };
    const s = schedulerFromDiffusers(json) as DDIMScheduler;
    expect(s.predictionType).toBe('v_prediction');
    expect(s.clipSample).toBeNull();
    expect(s.finalAlphaCumprod).toBe(s.alphasCumprod[0]);
    expect(Array.from(s.setTimesteps(10).timesteps)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  });
});

describe('schedulerConfigFromDiffusers: absent keys take diffusers defaults, not ours', () => {
  it("diffusers' __init__ defaults, written out from scheduling_ddim.py / scheduling_ddpm.py", () => {
    const common = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null, clip_sample: true, clip_sample_range: 1.0, prediction_type: 'epsilon', thresholding: false, dynamic_thresholding_ratio: 0.995, sample_max_value: 1.0, timestep_spacing: 'leading', steps_offset: 0, rescale_betas_zero_snr: false };
    expect(DIFFUSERS_SCHEDULER_DEFAULTS.DDIMScheduler).toEqual({ ...common, set_alpha_to_one: true });
    expect(DIFFUSERS_SCHEDULER_DEFAULTS.DDPMScheduler).toEqual({ ...common, variance_type: 'fixed_small' });
  });

  it('an empty DDIM config clips x0 (diffusers) where an empty DDIMScheduler config does not (ours)', () => {
    const config = schedulerConfigFromDiffusers({ _class_name: 'DDIMScheduler' });
    expect(config).toEqual({ ...DDPM_LINEAR, clipSample: 1, setAlphaToOne: true, useClippedModelOutput: false });
    expect(new DDIMScheduler(config).clipSample).toBe(1);
    expect(new DDIMScheduler().clipSample).toBeNull();
    expect(schedulerConfigFromDiffusers({}, undefined, { as: 'DDPMScheduler' })).toEqual({ ...DDPM_LINEAR, clipSample: 1, varianceType: 'fixed_small' });
  });

  it('clip_sample_range sets the clip; clip_sample false ignores it; keys in _use_default_values take the default', () => {
    expect(schedulerConfigFromDiffusers({ _class_name: 'DDPMScheduler', clip_sample_range: 2.5 }).clipSample).toBe(2.5);
    expect(schedulerConfigFromDiffusers({ _class_name: 'DDPMScheduler', clip_sample: false, clip_sample_range: 2.5 }).clipSample).toBeNull();
    expect(schedulerConfigFromDiffusers({ _class_name: 'DDPMScheduler', clip_sample: false, _use_default_values: ['clip_sample'] }).clipSample).toBe(1);
  });

  it('accepts the unsupported keys at their defaults, inert threshold settings, fixed_small_log as fixed_small, predict_epsilon true', () => {
    const json = { _class_name: 'DDPMScheduler', thresholding: false, dynamic_thresholding_ratio: 0.9, sample_max_value: 3, rescale_betas_zero_snr: false, trained_betas: null, variance_type: 'fixed_small_log', predict_epsilon: true, tensor_format: 'pt' };
    expect(schedulerConfigFromDiffusers(json)).toEqual({ ...DDPM_LINEAR, clipSample: 1, varianceType: 'fixed_small' });
  });

  it("maps 'squaredcos_cap_v2' to our 'cosine' with diffusers' fixed offset and max beta", () => {
    expect(schedulerConfigFromDiffusers({ _class_name: 'DDIMScheduler', beta_schedule: 'squaredcos_cap_v2', clip_sample: false, timestep_spacing: 'trailing' })).toEqual({
      numTrainTimesteps: 1000, betaSchedule: 'cosine', cosineOffset: 0.008, maxBeta: 0.999, predictionType: 'epsilon', timestepSpacing: 'trailing', stepsOffset: 0, clipSample: null, setAlphaToOne: true,
    });
  });
});

describe('schedulerConfigFromDiffusers: what we cannot honour is an error naming the key and value', () => {
  const ddpm = (extra: Record<string, unknown>) => () => schedulerConfigFromDiffusers({ _class_name: 'DDPMScheduler', ...extra }, 'x.json');
  const ddim = (extra: Record<string, unknown>) => () => schedulerConfigFromDiffusers({ _class_name: 'DDIMScheduler', ...extra }, 'x.json');
  it.each([
    [{ thresholding: true }, /\(x\.json\): 'thresholding' is true: dynamic thresholding/],
    [{ rescale_betas_zero_snr: true }, /'rescale_betas_zero_snr' is true: the zero-terminal-SNR/],
    [{ trained_betas: [0.1, 0.2] }, /'trained_betas' is \[0\.1,0\.2\]: explicit betas are not supported/],
    [{ beta_schedule: 'scaled_linear' }, /'beta_schedule' is "scaled_linear": Stable Diffusion's/],
    [{ beta_schedule: 'sigmoid' }, /'beta_schedule' is "sigmoid": not implemented here/],
    [{ beta_schedule: 'laplace' }, /'beta_schedule' is "laplace": not implemented here/],
    [{ variance_type: 'fixed_large_log' }, /'variance_type' is "fixed_large_log": not implemented/],
    [{ variance_type: 'learned' }, /'variance_type' is "learned": not implemented/],
    [{ variance_type: 'learned_range' }, /'variance_type' is "learned_range": not implemented/],
    [{ variance_type: 'nonsense' }, /'variance_type' is "nonsense", expected 'fixed_small'/],
    [{ prediction_type: 'flow' }, /'prediction_type' is "flow", expected 'epsilon', 'sample' or 'v_prediction'/],
    [{ timestep_spacing: 'karras' }, /'timestep_spacing' is "karras", expected/],
    [{ steps_offset: 1.5 }, /'steps_offset' is 1\.5, expected a non-negative integer/],
    [{ num_train_timesteps: 0 }, /'num_train_timesteps' is 0, expected a positive integer/],
    [{ clip_sample: 'yes' }, /'clip_sample' is "yes", expected true or false/],
    [{ clip_sample_range: 0 }, /'clip_sample_range' is 0, expected a positive number/],
    [{ beta_start: 0.03 }, /\(x\.json\): linearBetas: need 0 < start <= end < 1/],
    [{ predict_epsilon: false }, /'predict_epsilon' is false: the obsolete key meant prediction_type 'sample'/],
    [{ predict_epsilon: true, prediction_type: 'sample' }, /'predict_epsilon' is true but 'prediction_type' is "sample"/],
    [{ num_train_timestep: 500 }, /unknown key 'num_train_timestep' \(value 500\): diffusers' DDPMScheduler does not take it/],
    [{ _use_default_values: 'clip_sample' }, /'_use_default_values' must be a list/],
  ])('DDPM %j', (extra, re) => expect(ddpm(extra)).toThrow(re));

  it('DDIM: set_alpha_to_one must be a boolean; no _class_name, another class, or a non-object is refused', () => {
    expect(ddim({ set_alpha_to_one: 1 })).toThrow(/'set_alpha_to_one' is 1, expected true or false/);
    expect(ddim({ thresholding: true })).toThrow(/'thresholding' is true/);
    expect(() => schedulerConfigFromDiffusers({ num_train_timesteps: 10 })).toThrow(/no '_class_name'; pass \{ as: 'DDIMScheduler' \}/);
    expect(() => schedulerConfigFromDiffusers({ _class_name: 'EulerDiscreteScheduler' })).toThrow(/"EulerDiscreteScheduler"; only DDIMScheduler and DDPMScheduler/);
    expect(() => schedulerConfigFromDiffusers([1])).toThrow(/expected a JSON object, got an array/);
    expect(() => schedulerConfigFromDiffusers('{')).toThrow(/not JSON/);
  });
});

describe('round trips', () => {
  it('diffusers -> ours -> diffusers: every real config comes back with all its keys (diffusers defaults filled in)', () => {
    for (const json of [DDPM_CIFAR10_32, DDPM_CAT_256, DDPM_CAT_256_0_13, DDPM_BUTTERFLIES_128]) {
      const back = schedulerConfigToDiffusers(schedulerConfigFromDiffusers(json), 'DDPMScheduler');
      expect(back).toEqual(normalised(json, 'DDPMScheduler'));
      expect(Object.keys(back)).toEqual(Object.keys(back).sort()); // sorted, as diffusers writes
      expect(schedulerConfigFromDiffusers(back)).toEqual(schedulerConfigFromDiffusers(json));
    }
    const asDdim = schedulerConfigToDiffusers(schedulerConfigFromDiffusers(DDPM_CIFAR10_32, undefined, { as: 'DDIMScheduler' }), 'DDIMScheduler');
    const { variance_type: _, ...cifarWithoutVariance } = DDPM_CIFAR10_32;
    expect(asDdim).toEqual(normalised({ ...cifarWithoutVariance, _class_name: 'DDIMScheduler' }, 'DDIMScheduler'));
  });

  it('ours -> diffusers -> ours: configs and schedulers come back', () => {
    const ddims = [
      {},
      { setAlphaToOne: false, timestepSpacing: 'trailing', predictionType: 'v_prediction' },
      { numTrainTimesteps: 500, betaStart: 0.0002, betaEnd: 0.03, stepsOffset: 1, clipSample: 2, useClippedModelOutput: false },
      { betaSchedule: 'cosine', timestepSpacing: 'linspace', predictionType: 'sample' },
    ] as const;
    for (const c of ddims) {
      const s = new DDIMScheduler(c);
      const json = schedulerConfigToDiffusers(s);
      const back = schedulerFromDiffusers(json) as DDIMScheduler;
      expect(back).toBeInstanceOf(DDIMScheduler);
      expect(schedulerConfigToDiffusers(back)).toEqual(json);
      expect(Array.from(back.alphasCumprod)).toEqual(Array.from(s.alphasCumprod));
      for (const k of ['predictionType', 'timestepSpacing', 'stepsOffset', 'clipSample', 'eta', 'finalAlphaCumprod'] as const) expect(back[k]).toEqual(s[k]);
      if (s.clipSample !== null) expect(back.useClippedModelOutput).toBe(false);
      expect(schedulerConfigToDiffusers(c, 'DDIMScheduler')).toEqual(json); // a config, too
    }
    const c = { numTrainTimesteps: 200, varianceType: 'fixed_large', clipSample: null, timestepSpacing: 'trailing', betaSchedule: 'cosine' } as const;
    const json = schedulerConfigToDiffusers(c, 'DDPMScheduler');
    expect(json).toMatchObject({ _class_name: 'DDPMScheduler', num_train_timesteps: 200, variance_type: 'fixed_large', clip_sample: false, beta_schedule: 'squaredcos_cap_v2', timestep_spacing: 'trailing' });
    expect(schedulerConfigFromDiffusers(json)).toEqual({ numTrainTimesteps: 200, betaSchedule: 'cosine', cosineOffset: 0.008, maxBeta: 0.999, predictionType: 'epsilon', timestepSpacing: 'trailing', stepsOffset: 0, clipSample: null, varianceType: 'fixed_large' });
  });

  it('refuses what a diffusers config cannot carry', () => {
    expect(() => schedulerConfigToDiffusers(new DDIMScheduler({ eta: 0.5 }))).toThrow(/eta 0\.5 is an argument of diffusers' DDIMScheduler\.step/);
    expect(() => schedulerConfigToDiffusers(new DDIMScheduler({ clipSample: 1 }))).toThrow(/use_clipped_model_output=True/);
    expect(() => schedulerConfigToDiffusers(new DDPMScheduler({ betaSchedule: 'cosine', cosineOffset: 0.01 }))).toThrow(/fixes the cosine offset at 0\.008 and max beta at 0\.999, got cosineOffset 0\.01/);
    expect(() => schedulerConfigToDiffusers(new DDPMScheduler(), 'DDIMScheduler')).toThrow(/got a DDPMScheduler but className 'DDIMScheduler'/);
    expect(() => schedulerConfigToDiffusers({ numTrainTimesteps: 10 })).toThrow(/className must be 'DDIMScheduler' or 'DDPMScheduler' for a config/);
    expect(() => schedulerConfigToDiffusers({ varianceType: 'fixed_large' }, 'DDIMScheduler')).toThrow(/DDIMScheduler: unknown config key 'varianceType': that is an option of DDPMScheduler/);
  });
});

describe('the scheduler constructors refuse unknown keys', () => {
  it('names the class and the key, and for a diffusers name the option to use', () => {
    expect(() => new DDIMScheduler({ num_train_timesteps: 500 } as never)).toThrow(/^DDIMScheduler: unknown config key 'num_train_timesteps': that is diffusers' name; use numTrainTimesteps, or schedulerConfigFromDiffusers/);
    expect(() => new DDPMScheduler({ clip_sample: true } as never)).toThrow(/DDPMScheduler: unknown config key 'clip_sample': .*use clipSample \(the clip range as a number/);
    expect(() => new DDIMScheduler({ set_alpha_to_one: false } as never)).toThrow(/use setAlphaToOne/);
    expect(() => new DDPMScheduler({ beta_schedule: 'squaredcos_cap_v2' } as never)).toThrow(/use betaSchedule \('linear', or 'cosine' for diffusers' 'squaredcos_cap_v2'\)/);
    expect(() => new DDIMScheduler({ thresholding: false } as never)).toThrow(/DDIMScheduler: unknown config key 'thresholding': .*schedulerConfigFromDiffusers/);
    expect(() => new DDPMScheduler({ eta: 0 } as never)).toThrow(/DDPMScheduler: unknown config key 'eta': that is an option of DDIMScheduler/);
    expect(() => new DDIMScheduler({ NumTrainTimesteps: 10 } as never)).toThrow(/DDIMScheduler: unknown config key 'NumTrainTimesteps': did you mean numTrainTimesteps\?/);
    expect(() => new DDPMScheduler({ foo: 1 } as never)).toThrow(/DDPMScheduler: unknown config key 'foo': expected one of numTrainTimesteps, .*clipSample, varianceType$/);
    expect(() => new DDIMScheduler(null as never)).toThrow(/DDIMScheduler: config must be an object/);
  });

  it('takes every option of its class (the keys the repository passes)', () => {
    const d = new DDIMScheduler({ numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, cosineOffset: 0.008, maxBeta: 0.999, predictionType: 'epsilon', timestepSpacing: 'leading', stepsOffset: 0, clipSample: null, eta: 0, setAlphaToOne: false, useClippedModelOutput: true });
    expect(d.numTrainTimesteps).toBe(1000);
    expect(new DDPMScheduler({ numTrainTimesteps: 100, betaSchedule: 'cosine', predictionType: 'sample', varianceType: 'fixed_large', clipSample: 1, timestepSpacing: 'trailing', stepsOffset: 0 }).varianceType).toBe('fixed_large');
    expect(new DDIMScheduler({ ...{ numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 }, predictionType: 'epsilon' }).numTrainTimesteps).toBe(1000);
  });
});

describe('independent oracle: the numbers diffusers computes, from its formulas written out in float64', () => {
  it("'linear': betas = linspace(beta_start, beta_end, T); alphas_cumprod = cumprod(1 - betas)", () => {
    const s = schedulerFromDiffusers(DDPM_CIFAR10_32);
    const T = 1000;
    let prod = 1;
    for (let i = 0; i < T; i++) {
      const beta = 0.0001 + ((0.02 - 0.0001) * i) / (T - 1);
      prod *= 1 - beta;
      expect(Math.abs(s.schedule.betas[i]! - beta)).toBeLessThan(1e-15);
      expect(Math.abs(s.alphasCumprod[i]! / prod - 1)).toBeLessThan(1e-12);
    }
    // abar_{T-1} from Python's float64 (the same product): the DDPM schedule's 4.04e-5
    expect(Math.abs(s.alphasCumprod[T - 1]! / 4.0358297653756754e-5 - 1)).toBeLessThan(1e-12);
  });

  it("'squaredcos_cap_v2': betas_for_alpha_bar, beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999), abar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2", () => {
    const s = schedulerFromDiffusers({ _class_name: 'DDIMScheduler', beta_schedule: 'squaredcos_cap_v2' });
    const T = 1000;
    const abar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    let prod = 1;
    for (let i = 0; i < T; i++) {
      const beta = Math.min(1 - abar((i + 1) / T) / abar(i / T), 0.999);
      prod *= 1 - beta;
      expect(Math.abs(s.schedule.betas[i]! - beta)).toBeLessThan(1e-15);
      expect(Math.abs(s.alphasCumprod[i]! / prod - 1)).toBeLessThan(1e-12);
    }
    expect(s.schedule.betas[T - 1]).toBe(0.999); // the cap
    expect(Math.abs(s.schedule.betas[0]! / 4.128422482196914e-5 - 1)).toBeLessThan(1e-12); // Python's float64
    expect(Math.abs(s.alphasCumprod[T - 1]! / 2.4287669070348567e-9 - 1)).toBeLessThan(1e-9);
  });

  it("DDIM 'leading', steps_offset 1, n = 50, T = 1000: (arange(0, n) * (T // n)).round()[::-1] + steps_offset, by hand", () => {
    const s = schedulerFromDiffusers({ _class_name: 'DDIMScheduler', steps_offset: 1 });
    // prettier-ignore
    const want = [
      981, 961, 941, 921, 901, 881, 861, 841, 821, 801, 781, 761, 741, 721, 701, 681, 661, 641, 621, 601, 581, 561, 541, 521, 501,
      481, 461, 441, 421, 401, 381, 361, 341, 321, 301, 281, 261, 241, 221, 201, 181, 161, 141, 121, 101, 81, 61, 41, 21, 1,
    ];
    expect(Array.from(s.setTimesteps(50).timesteps)).toEqual(want);
    // and with diffusers' default steps_offset 0: 980, ..., 20, 0
    expect(Array.from(schedulerFromDiffusers({ _class_name: 'DDIMScheduler' }).setTimesteps(50).timesteps)).toEqual(want.map((t) => t - 1));
  });
});

describe('docs/pytorch-bridge.md, "Diffusers scheduler configs" (its example, without the files)', () => {
  it('ddpm-cifar10-32 as DDPM and as DDIM, and back', () => {
    const json = JSON.parse(JSON.stringify(DDPM_CIFAR10_32)) as unknown;
    const ddpm = new DDPMScheduler(schedulerConfigFromDiffusers(json, 'ddpm-cifar10-32'));
    expect([ddpm.numTrainTimesteps, ddpm.schedule.config.betaStart, ddpm.schedule.config.betaEnd, ddpm.varianceType, ddpm.clipSample]).toEqual([1000, 1e-4, 0.02, 'fixed_large', 1]);
    const ddim = new DDIMScheduler(schedulerConfigFromDiffusers(json, 'ddpm-cifar10-32', { as: 'DDIMScheduler' })).setTimesteps(50);
    expect([ddim.timesteps[0], ddim.timesteps[1], ddim.timesteps[49], ddim.clipSample, ddim.finalAlphaCumprod]).toEqual([980, 960, 0, 1, 1]);
    expect(schedulerConfigToDiffusers(ddim)).toMatchObject({ _class_name: 'DDIMScheduler', clip_sample: true, set_alpha_to_one: true, num_train_timesteps: 1000 });
  });
});
