/**
 * diffusers' scheduler configs (`scheduler_config.json`, what `DDIMScheduler.from_config` / `save_config` read and
 * write) to and from this library's DDIMSchedulerConfig / DDPMSchedulerConfig.
 *
 * Facts from diffusers' src/diffusers/schedulers/scheduling_ddim.py and scheduling_ddpm.py (and
 * configuration_utils.py for how a config is read):
 * - A key absent from the JSON takes diffusers' default, and those differ from ours: diffusers' DDIM and DDPM
 *   default to `clip_sample: true` (x0 clipped to [-1, 1] at every step; ours: no clipping), DDIM to
 *   `set_alpha_to_one: true` (ours too), `timestep_spacing: 'leading'`, `steps_offset: 0`, `beta_schedule: 'linear'`,
 *   `beta_start: 0.0001`, `beta_end: 0.02`, `prediction_type: 'epsilon'` (ours too), DDPM to
 *   `variance_type: 'fixed_small'` (ours too). `DIFFUSERS_SCHEDULER_DEFAULTS` lists them. So `{}` as a diffusers
 *   config is not our default config: it clips.
 * - `clip_sample: true` clips x0 to [-clip_sample_range, clip_sample_range] (range default 1.0): our
 *   `clipSample: clip_sample_range`; `clip_sample: false` is `clipSample: null`. DDIM's step then uses the model's
 *   own eps in the direction term (`use_clipped_model_output=False`, a step argument), so a clipping DDIM config
 *   maps to `useClippedModelOutput: false`.
 * - 'squaredcos_cap_v2' is `betas_for_alpha_bar`: beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999) with
 *   abar(t) = cos^2((t + 0.008) / 1.008 * pi/2): our 'cosine' with cosineOffset 0.008 and maxBeta 0.999, term for
 *   term. 'linear' is linspace(beta_start, beta_end, T): our 'linear'. (diffusers builds both in float32; our tables
 *   are float64, so alphas_cumprod agree to within about 1e-6, not bit for bit.)
 * - Keys starting with '_' (`_class_name`, `_diffusers_version`) are metadata; the keys listed in
 *   `_use_default_values` are dropped, so they take the class default, as diffusers does.
 *
 * What this library cannot honour is an error naming the key and value, never dropped: `beta_schedule`
 * 'scaled_linear' (Stable Diffusion's), 'sigmoid', 'laplace'; `trained_betas` other than null; `thresholding: true`;
 * `rescale_betas_zero_snr: true`; `variance_type` 'fixed_large_log', 'learned', 'learned_range'; the obsolete
 * `predict_epsilon: false`. `dynamic_thresholding_ratio` and `sample_max_value` only act with thresholding, and
 * `clip_sample_range` only with clip_sample, so any value of them is accepted otherwise (diffusers ignores them
 * too). `variance_type: 'fixed_small_log'` is accepted as 'fixed_small': its noise scale exp(0.5 log v) is sqrt(v).
 * Browser-safe.
 */
import { SchedulerBase, type PredictionType, type TimestepSpacing } from './base.js';
import { DDIMScheduler, type DDIMSchedulerConfig } from './ddim.js';
import { DDPMScheduler, type DDPMSchedulerConfig, type DDPMVarianceType } from './ddpm.js';

/** The diffusers scheduler classes this library has. */
export type DiffusersSchedulerClassName = 'DDIMScheduler' | 'DDPMScheduler';

/** A diffusers scheduler_config.json, as parsed JSON. */
export type DiffusersSchedulerJson = Record<string, unknown>;

export interface SchedulerConfigFromDiffusersOptions {
  /**
   * Read the config as this class, as diffusers' `DDIMScheduler.from_config(config)` does with another scheduler's
   * config (DDIMPipeline does it with a DDPM model's): keys that the target class does not take are then ignored,
   * as diffusers ignores them. Without it, `_class_name` must be DDIMScheduler or DDPMScheduler.
   */
  as?: DiffusersSchedulerClassName;
}

const COMMON_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  clip_sample_range: 1.0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
} as const;

/** The `__init__` defaults of diffusers' DDIMScheduler and DDPMScheduler: what a key absent from the JSON means. */
export const DIFFUSERS_SCHEDULER_DEFAULTS: Readonly<Record<DiffusersSchedulerClassName, Readonly<Record<string, unknown>>>> = {
  DDIMScheduler: { ...COMMON_DEFAULTS, set_alpha_to_one: true },
  DDPMScheduler: { ...COMMON_DEFAULTS, variance_type: 'fixed_small' },
};

/**
 * Keys diffusers itself ignores for DDIM/DDPM and that real configs carry: PNDM's `skip_prk_steps` (in Stable
 * Diffusion's DDIM configs), `tensor_format` (configs of diffusers before 0.3), and each class's key of the other
 * (a DDPM config's `variance_type` read as DDIM, a DDIM config's `set_alpha_to_one` read as DDPM).
 */
const IGNORED_KEYS = new Set(['skip_prk_steps', 'tensor_format', 'variance_type', 'set_alpha_to_one']);

const CLASSES: Record<DiffusersSchedulerClassName, new (config: never) => SchedulerBase> = { DDIMScheduler, DDPMScheduler };

/** Overloads: the config's type follows `as` when given. */
export function schedulerConfigFromDiffusers(json: unknown, source: string | undefined, options: { as: 'DDIMScheduler' }): DDIMSchedulerConfig;
export function schedulerConfigFromDiffusers(json: unknown, source: string | undefined, options: { as: 'DDPMScheduler' }): DDPMSchedulerConfig;
export function schedulerConfigFromDiffusers(json: unknown, source?: string, options?: SchedulerConfigFromDiffusersOptions): DDIMSchedulerConfig | DDPMSchedulerConfig;
/**
 * Our scheduler config from a diffusers scheduler_config.json (parsed, or its text) for the class in its
 * `_class_name` (or `options.as`): every key absent from the JSON takes diffusers' default (which clips x0, unlike
 * ours). `source` (e.g. the file's path) prefixes the errors. Throws on a key we cannot honour at its value, on an
 * unknown key, and on a value our schedulers reject. The returned config always states every option it sets, so it
 * does not depend on our defaults. Pass it to the class `diffusersSchedulerClassName(json)` names (or use
 * `schedulerFromDiffusers`); the other class refuses its class-only keys.
 */
export function schedulerConfigFromDiffusers(json: unknown, source = 'diffusers scheduler config', options: SchedulerConfigFromDiffusersOptions = {}): DDIMSchedulerConfig | DDPMSchedulerConfig {
  const fail = (msg: string): never => {
    throw new RangeError(`schedulerConfigFromDiffusers (${source}): ${msg}`);
  };
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      fail(`not JSON: ${(e as Error).message}`);
    }
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return fail(`expected a JSON object, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
  const raw = obj as DiffusersSchedulerJson;
  const className = diffusersSchedulerClassNameOf(raw, options.as, fail);
  // A config read as another class than its own: diffusers drops the keys the target does not take.
  const foreign = raw._class_name !== undefined && raw._class_name !== className;
  const defaults = DIFFUSERS_SCHEDULER_DEFAULTS[className];

  const usedDefaults = raw._use_default_values ?? [];
  if (!Array.isArray(usedDefaults) || usedDefaults.some((k) => typeof k !== 'string')) fail(`'_use_default_values' must be a list of key names, got ${JSON.stringify(raw._use_default_values)}`);
  const given: DiffusersSchedulerJson = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith('_') || (usedDefaults as string[]).includes(key)) continue;
    if (key in defaults) given[key] = value;
    else if (key === 'predict_epsilon') checkPredictEpsilon(value, raw.prediction_type, fail);
    else if (!IGNORED_KEYS.has(key) && !foreign) {
      fail(`unknown key '${key}' (value ${JSON.stringify(value)}): diffusers' ${className} does not take it (it would ignore it with a warning); remove it, or pass { as } when this is another scheduler's config`);
    }
  }
  const get = (key: string): unknown => (key in given ? given[key] : defaults[key]);
  const bad = (key: string, expected: string): never => fail(`'${key}' is ${JSON.stringify(get(key))}, expected ${expected}`);
  const bool = (key: string): boolean => {
    const v = get(key);
    return typeof v === 'boolean' ? v : bad(key, 'true or false');
  };
  const num = (key: string): number => {
    const v = get(key);
    return typeof v === 'number' && Number.isFinite(v) ? v : bad(key, 'a number');
  };
  const refuseUnless = (key: string, ok: boolean, why: string): void => {
    if (!ok) fail(`'${key}' is ${JSON.stringify(get(key))}: ${why}`);
  };

  const T = num('num_train_timesteps');
  if (!(Number.isInteger(T) && T >= 1)) bad('num_train_timesteps', 'a positive integer');
  refuseUnless('trained_betas', get('trained_betas') === null, 'explicit betas are not supported here (NoiseSchedule builds its betas from beta_schedule); only null is accepted');
  refuseUnless('rescale_betas_zero_snr', !bool('rescale_betas_zero_snr'), 'the zero-terminal-SNR rescaling of the betas (Lin et al. 2023) is not implemented here; only false is accepted');
  refuseUnless('thresholding', !bool('thresholding'), "dynamic thresholding of x0 (Imagen) is not implemented here; only false is accepted (use clip_sample for a fixed clip)");
  num('dynamic_thresholding_ratio');
  num('sample_max_value');

  const config: DDIMSchedulerConfig & DDPMSchedulerConfig = { numTrainTimesteps: T };
  const schedule = get('beta_schedule');
  const betaStart = num('beta_start');
  const betaEnd = num('beta_end');
  if (schedule === 'linear') Object.assign(config, { betaSchedule: 'linear', betaStart, betaEnd });
  else if (schedule === 'squaredcos_cap_v2') Object.assign(config, { betaSchedule: 'cosine', cosineOffset: 0.008, maxBeta: 0.999 });
  else if (schedule === 'scaled_linear') fail("'beta_schedule' is \"scaled_linear\": Stable Diffusion's betas linspace(sqrt(beta_start), sqrt(beta_end), T)^2 are not implemented here; only 'linear' and 'squaredcos_cap_v2' (our 'cosine') are");
  else fail(`'beta_schedule' is ${JSON.stringify(schedule)}: not implemented here; only 'linear' and 'squaredcos_cap_v2' (our 'cosine') are`);

  const prediction = get('prediction_type');
  if (prediction !== 'epsilon' && prediction !== 'sample' && prediction !== 'v_prediction') bad('prediction_type', "'epsilon', 'sample' or 'v_prediction'");
  config.predictionType = prediction as PredictionType;
  const spacing = get('timestep_spacing');
  if (spacing !== 'leading' && spacing !== 'trailing' && spacing !== 'linspace') bad('timestep_spacing', "'leading', 'trailing' or 'linspace'");
  config.timestepSpacing = spacing as TimestepSpacing;
  const offset = num('steps_offset');
  if (!(Number.isInteger(offset) && offset >= 0)) bad('steps_offset', 'a non-negative integer');
  config.stepsOffset = offset;
  const range = num('clip_sample_range');
  if (bool('clip_sample') && !(range > 0)) bad('clip_sample_range', 'a positive number (with clip_sample true)');
  config.clipSample = bool('clip_sample') ? range : null;

  if (className === 'DDIMScheduler') {
    config.setAlphaToOne = bool('set_alpha_to_one');
    // diffusers' DDIMScheduler.step defaults to use_clipped_model_output=False; ours to true.
    if (config.clipSample !== null) config.useClippedModelOutput = false;
  } else {
    const v = get('variance_type');
    if (v === 'fixed_small' || v === 'fixed_small_log' || v === 'fixed_large') config.varianceType = (v === 'fixed_small_log' ? 'fixed_small' : v) as DDPMVarianceType;
    else if (v === 'fixed_large_log' || v === 'learned' || v === 'learned_range') fail(`'variance_type' is ${JSON.stringify(v)}: not implemented here ('learned' and 'learned_range' need a model that predicts its variance); only 'fixed_small', 'fixed_small_log' (the same noise) and 'fixed_large' are`);
    else bad('variance_type', "'fixed_small', 'fixed_small_log' or 'fixed_large'");
  }
  try {
    new CLASSES[className](config as never);
  } catch (e) {
    fail((e as Error).message);
  }
  return config;
}

/** The class a diffusers scheduler config is for (`_class_name`, or `as`); throws for any other class. */
export function diffusersSchedulerClassName(json: unknown, as?: DiffusersSchedulerClassName): DiffusersSchedulerClassName {
  const obj = typeof json === 'string' ? (JSON.parse(json) as unknown) : json;
  return diffusersSchedulerClassNameOf((obj ?? {}) as DiffusersSchedulerJson, as, (msg) => {
    throw new RangeError(`diffusersSchedulerClassName: ${msg}`);
  });
}

/** A DDIMScheduler or DDPMScheduler, as `_class_name` (or `options.as`) says, from a diffusers scheduler config. */
export function schedulerFromDiffusers(json: unknown, source?: string, options: SchedulerConfigFromDiffusersOptions = {}): DDIMScheduler | DDPMScheduler {
  const config = schedulerConfigFromDiffusers(json, source, options);
  return diffusersSchedulerClassName(json, options.as) === 'DDIMScheduler' ? new DDIMScheduler(config as DDIMSchedulerConfig) : new DDPMScheduler(config as DDPMSchedulerConfig);
}

/**
 * A diffusers scheduler_config.json for `className` from one of our schedulers or configs: every key of that
 * diffusers class is written (sorted, as diffusers' save_config writes them), so none depends on diffusers'
 * defaults; `_diffusers_version` is left out. `className` may be left out for a scheduler (its own class).
 * Throws for what the config cannot carry: a 'cosine' schedule with cosineOffset or maxBeta other than diffusers'
 * fixed 0.008 and 0.999, and for DDIM an `eta` other than 0 or `useClippedModelOutput: true` with clipping (both are
 * arguments of diffusers' DDIMScheduler.step, eta=0.0 and use_clipped_model_output=False by default, not config).
 */
export function schedulerConfigToDiffusers(from: SchedulerBase | DDIMSchedulerConfig | DDPMSchedulerConfig, className?: DiffusersSchedulerClassName): DiffusersSchedulerJson {
  const fail = (msg: string): never => {
    throw new RangeError(`schedulerConfigToDiffusers: ${msg}`);
  };
  let s: SchedulerBase;
  if (from instanceof SchedulerBase) {
    const own = from instanceof DDIMScheduler ? 'DDIMScheduler' : from instanceof DDPMScheduler ? 'DDPMScheduler' : fail(`${from.constructor.name} has no diffusers counterpart here (DDIMScheduler, DDPMScheduler)`);
    if (className !== undefined && className !== own) fail(`got a ${own} but className '${className}'; pass its config instead to write it as another class`);
    className = own;
    s = from;
  } else {
    if (className !== 'DDIMScheduler' && className !== 'DDPMScheduler') return fail(`className must be 'DDIMScheduler' or 'DDPMScheduler' for a config, got ${JSON.stringify(className)}`);
    s = new CLASSES[className](from as never); // checks the keys and values
  }
  const c = s.schedule.config;
  let betaSchedule: string;
  if (c.betaSchedule === 'linear') betaSchedule = 'linear';
  else if (c.cosineOffset === 0.008 && c.maxBeta === 0.999) betaSchedule = 'squaredcos_cap_v2';
  else return fail(`diffusers' 'squaredcos_cap_v2' fixes the cosine offset at 0.008 and max beta at 0.999, got cosineOffset ${c.cosineOffset} and maxBeta ${c.maxBeta}`);
  const json: DiffusersSchedulerJson = {
    _class_name: className,
    num_train_timesteps: c.numTrainTimesteps,
    beta_start: c.betaStart,
    beta_end: c.betaEnd,
    beta_schedule: betaSchedule,
    trained_betas: null,
    clip_sample: s.clipSample !== null,
    clip_sample_range: s.clipSample ?? 1.0,
    prediction_type: s.predictionType,
    thresholding: false,
    dynamic_thresholding_ratio: 0.995,
    sample_max_value: 1.0,
    timestep_spacing: s.timestepSpacing,
    steps_offset: s.stepsOffset,
    rescale_betas_zero_snr: false,
  };
  if (s instanceof DDIMScheduler) {
    if (s.eta !== 0) fail(`eta ${s.eta} is an argument of diffusers' DDIMScheduler.step (and DDIMPipeline), not of its config; pass eta=${s.eta} there, or convert a scheduler with eta 0`);
    if (s.clipSample !== null && s.useClippedModelOutput) fail("useClippedModelOutput true (our default) with clipSample is diffusers' step argument use_clipped_model_output=True, not config (its default is False); pass it there, or set useClippedModelOutput: false");
    json.set_alpha_to_one = s.finalAlphaCumprod === 1;
  } else if (s instanceof DDPMScheduler) {
    json.variance_type = s.varianceType;
  }
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function diffusersSchedulerClassNameOf(raw: DiffusersSchedulerJson, as: DiffusersSchedulerClassName | undefined, fail: (msg: string) => never): DiffusersSchedulerClassName {
  if (as !== undefined) {
    if (as !== 'DDIMScheduler' && as !== 'DDPMScheduler') fail(`options.as must be 'DDIMScheduler' or 'DDPMScheduler', got ${JSON.stringify(as)}`);
    return as;
  }
  const name = raw._class_name;
  if (name === 'DDIMScheduler' || name === 'DDPMScheduler') return name;
  if (name === undefined) return fail("no '_class_name'; pass { as: 'DDIMScheduler' } or { as: 'DDPMScheduler' }");
  return fail(`'_class_name' is ${JSON.stringify(name)}; only DDIMScheduler and DDPMScheduler are implemented here (pass { as: 'DDIMScheduler' } to read it as DDIM, as diffusers' DDIMScheduler.from_config would)`);
}

/** `predict_epsilon` (diffusers before 0.10's name for prediction_type; today's diffusers ignores it). */
function checkPredictEpsilon(value: unknown, predictionType: unknown, fail: (msg: string) => never): void {
  if (value === true && (predictionType === undefined || predictionType === 'epsilon')) return;
  if (value === true) fail(`'predict_epsilon' is true but 'prediction_type' is ${JSON.stringify(predictionType)}`);
  fail(`'predict_epsilon' is ${JSON.stringify(value)}: the obsolete key meant prediction_type 'sample' in diffusers before 0.10, while today's diffusers ignores it (epsilon); replace it with an explicit 'prediction_type'`);
}
