/**
 * What DDPM and DDIM schedulers share: the noise schedule, timestep spacing for sampling with fewer steps,
 * the forward process (`addNoise`), and conversions between the three things a network may predict.
 *
 * Interface after diffusers: `setTimesteps(n)`, `step(modelOutput, t, sample, rng)`, `addNoise(x0, noise, t)`.
 * Browser-safe.
 */
import { full, fromTypedArray, randn, Tensor, type Generator } from '@oclt/tensor';
import { NoiseSchedule, type NoiseScheduleConfig } from '../schedules.js';

/** What the network predicts: the noise eps, the clean sample x0, or the velocity v = sqrt(abar) eps - sqrt(1-abar) x0. */
export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

/** How `setTimesteps(n)` picks n of the T training timesteps (Lin et al. 2023, Table 2; diffusers names). */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

export interface SchedulerConfig extends NoiseScheduleConfig {
  predictionType?: PredictionType;
  timestepSpacing?: TimestepSpacing;
  /** Added to every timestep with 'leading' spacing (diffusers' steps_offset; default 0). */
  stepsOffset?: number;
  /**
   * Clip the predicted x0 of every step to [-clipSample, clipSample]; null (the default) never clips.
   * - The default is the OC_LT reference: its evaluation sampler (ddpm_gen.py -> GaussianDiffusionSamplerOld in
   *   diffusion.py, DDIM with skip 10) has the x0 clip commented out and clips only the final sample to [-1, 1]; its
   *   training-time DDPM sampler (GaussianDiffusionSampler) clips x0 only after the posterior mean was computed from
   *   the unclipped x0, so it has no effect either. The DDIM authors' code (ermongroup/ddim) does not clip.
   * - diffusers' DDIMScheduler and DDPMScheduler default to `clip_sample=True` with `clip_sample_range=1.0`: pass
   *   `clipSample: 1` for that. What the step does with eps after clipping is DDIM's `useClippedModelOutput`.
   * Clipping the final sample for display or metrics is separate (e.g. `x.clamp(-1, 1)`); `sample()` returns it
   * unclipped.
   */
  clipSample?: number | null;
}

export interface SchedulerStepOutput {
  /** x_{t_prev}, the next (less noisy) sample. */
  prevSample: Tensor;
  /** The model's estimate of x0 at this step. */
  predOriginalSample: Tensor;
}

/** Options of `step`: pass `noise` to supply the Gaussian draw yourself (then `rng` is not needed). */
export interface StepOptions {
  noise?: Tensor;
}

/**
 * The per-call settings that `sample()` hands to every step of any scheduler (its SampleOptions), whatever the
 * scheduler: each scheduler turns the ones it has into its own step options (`stepOptionsFor`) and ignores the rest
 * (DDPM has no eta).
 */
export interface SamplingStepSettings {
  /** DDIM's eta for this call (undefined: the scheduler's own). */
  eta?: number;
}

export type TimestepsLike = number | readonly number[] | Int32Array | Tensor;

/** x rounded to the nearest integer, halves to the even one: numpy's `round`, which diffusers' spacings use. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The n timesteps, in decreasing order, that a sampler with `spacing` visits out of T training steps. */
export function spacedTimesteps(numTrainTimesteps: number, numInferenceSteps: number, spacing: TimestepSpacing, stepsOffset = 0): Int32Array {
  const T = numTrainTimesteps;
  const n = numInferenceSteps;
  if (!Number.isInteger(n) || n < 1 || n > T) throw new RangeError(`setTimesteps: numInferenceSteps must be an integer in [1, ${T}], got ${n}`);
  const out = new Int32Array(n);
  if (spacing === 'linspace') {
    // round(linspace(0, T-1, n)) reversed
    for (let i = 0; i < n; i++) out[n - 1 - i] = roundHalfEven(n === 1 ? 0 : ((T - 1) * i) / (n - 1));
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    for (let i = 0; i < n; i++) out[n - 1 - i] = i * ratio + stepsOffset;
  } else if (spacing === 'trailing') {
    // round(arange(T, 0, -T/n)) - 1: always includes T-1, the step where the forward process is closest to pure noise.
    const ratio = T / n;
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(T - i * ratio) - 1;
  } else {
    throw new RangeError(`setTimesteps: unknown timestepSpacing '${String(spacing)}', expected 'linspace', 'leading' or 'trailing'`);
  }
  for (const t of out) if (t < 0 || t >= T) throw new RangeError(`setTimesteps: spacing '${spacing}' with offset ${stepsOffset} gave timestep ${t} outside [0, ${T})`);
  return out;
}

/**
 * The options `SchedulerBase` takes (SchedulerConfig with NoiseScheduleConfig), for the constructor's check of
 * unknown keys; `satisfies` keeps it in step with the interfaces.
 */
const SCHEDULER_CONFIG_KEYS = {
  numTrainTimesteps: true,
  betaSchedule: true,
  betaStart: true,
  betaEnd: true,
  cosineOffset: true,
  maxBeta: true,
  predictionType: true,
  timestepSpacing: true,
  stepsOffset: true,
  clipSample: true,
} as const satisfies Record<keyof SchedulerConfig, true>;

/** Options of one scheduler class only, so that passing one to the other class names the right class. */
const CLASS_ONLY_KEYS: Readonly<Record<string, string>> = {
  eta: 'DDIMScheduler',
  setAlphaToOne: 'DDIMScheduler',
  useClippedModelOutput: 'DDIMScheduler',
  varianceType: 'DDPMScheduler',
};

/** diffusers' scheduler config names (snake_case, as in scheduler_config.json) and what to use here instead. */
const DIFFUSERS_KEY_HINTS: Readonly<Record<string, string>> = {
  num_train_timesteps: 'numTrainTimesteps',
  beta_start: 'betaStart',
  beta_end: 'betaEnd',
  beta_schedule: "betaSchedule ('linear', or 'cosine' for diffusers' 'squaredcos_cap_v2')",
  prediction_type: 'predictionType',
  timestep_spacing: 'timestepSpacing',
  steps_offset: 'stepsOffset',
  clip_sample: 'clipSample (the clip range as a number, e.g. 1, or null for no clipping)',
  clip_sample_range: 'clipSample (the clip range as a number, or null for no clipping)',
  set_alpha_to_one: 'setAlphaToOne (DDIMScheduler)',
  variance_type: 'varianceType (DDPMScheduler)',
  use_clipped_model_output: 'useClippedModelOutput (DDIMScheduler)',
  num_inference_steps: 'setTimesteps(n)',
};

/** diffusers' scheduler config keys with no option here (schedulerConfigFromDiffusers accepts them at their defaults). */
const DIFFUSERS_ONLY_KEYS = new Set(['trained_betas', 'thresholding', 'dynamic_thresholding_ratio', 'sample_max_value', 'rescale_betas_zero_snr', '_class_name', '_diffusers_version']);

/**
 * Throws on a config key that `className` does not take (a misspelt or snake_case key would otherwise be ignored and
 * its default used silently). `accepted`: the class's own keys beyond SchedulerConfig's.
 */
function checkSchedulerConfigKeys(className: string, config: object, accepted: readonly string[] = []): void {
  const keys = new Set<string>([...Object.keys(SCHEDULER_CONFIG_KEYS), ...accepted]);
  for (const key of Object.keys(config)) {
    if (keys.has(key)) continue;
    const fromDiffusers = "or schedulerConfigFromDiffusers(json) to map a whole diffusers scheduler_config.json";
    let why: string;
    if (key in DIFFUSERS_KEY_HINTS) why = `that is diffusers' name; use ${DIFFUSERS_KEY_HINTS[key]}, ${fromDiffusers}`;
    else if (DIFFUSERS_ONLY_KEYS.has(key)) why = `that is a diffusers scheduler_config.json key with no option here; use schedulerConfigFromDiffusers(json), which accepts it at diffusers' default and refuses any other value`;
    else if (key in CLASS_ONLY_KEYS && CLASS_ONLY_KEYS[key] !== className) why = `that is an option of ${CLASS_ONLY_KEYS[key]}`;
    else {
      const norm = (k: string) => k.replace(/_/g, '').toLowerCase();
      const near = [...keys].find((k) => norm(k) === norm(key));
      why = near ? `did you mean ${near}?` : `expected one of ${[...keys].join(', ')}`;
    }
    throw new TypeError(`${className}: unknown config key '${key}': ${why}`);
  }
}

export abstract class SchedulerBase {
  readonly schedule: NoiseSchedule;
  readonly predictionType: PredictionType;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly clipSample: number | null;
  /** The timesteps `step` walks through, decreasing; all T of them until `setTimesteps` is called. */
  timesteps: Int32Array;
  numInferenceSteps: number;

  /**
   * `ownConfigKeys`: the subclass's options beyond SchedulerConfig's; any other key of `config` is an error naming
   * the class and the key (a diffusers snake_case key says which option to use instead).
   */
  constructor(config: SchedulerConfig = {}, ownConfigKeys: readonly string[] = []) {
    if (config === null || typeof config !== 'object') throw new TypeError(`${new.target.name}: config must be an object, got ${config === null ? 'null' : typeof config}`);
    checkSchedulerConfigKeys(new.target.name, config, ownConfigKeys);
    this.schedule = new NoiseSchedule(config);
    this.predictionType = config.predictionType ?? 'epsilon';
    if (!['epsilon', 'sample', 'v_prediction'].includes(this.predictionType)) {
      throw new RangeError(`${this.constructor.name}: unknown predictionType '${this.predictionType}', expected 'epsilon', 'sample' or 'v_prediction'`);
    }
    this.timestepSpacing = config.timestepSpacing ?? 'leading';
    this.stepsOffset = config.stepsOffset ?? 0;
    this.clipSample = config.clipSample ?? null;
    if (this.clipSample !== null && !(typeof this.clipSample === 'number' && this.clipSample > 0)) {
      throw new RangeError(`${this.constructor.name}: clipSample must be a positive number or null (no clipping), got ${String(config.clipSample)}`);
    }
    const T = this.schedule.numTrainTimesteps;
    this.numInferenceSteps = T;
    this.timesteps = spacedTimesteps(T, T, 'leading', 0);
  }

  get numTrainTimesteps(): number {
    return this.schedule.numTrainTimesteps;
  }
  get alphasCumprod(): Float64Array {
    return this.schedule.alphasCumprod;
  }

  /** Chooses the `n` timesteps that sampling visits (see `spacedTimesteps`). */
  setTimesteps(n: number): this {
    this.timesteps = spacedTimesteps(this.numTrainTimesteps, n, this.timestepSpacing, this.stepsOffset);
    this.numInferenceSteps = n;
    return this;
  }

  /** The timestep after `t` in the current sequence, or -1 after the last one. */
  previousTimestep(t: number): number {
    const i = this.timesteps.indexOf(t);
    if (i < 0) throw new RangeError(`${this.constructor.name}.step: timestep ${t} is not in the current timesteps (call setTimesteps first; have ${this.timesteps.length} steps from ${this.timesteps[0]})`);
    return i + 1 < this.timesteps.length ? this.timesteps[i + 1]! : -1;
  }

  /** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise (DDPM Eq. 4), t per batch element (or one for all). */
  addNoise(x0: Tensor, noise: Tensor, t: TimestepsLike): Tensor {
    checkSameShape('addNoise', x0, noise);
    const a = this.perSample('addNoise', x0, t, this.schedule.sqrtAlphasCumprod);
    const s = this.perSample('addNoise', x0, t, this.schedule.sqrtOneMinusAlphasCumprod);
    return x0.mul(a).add(noise.mul(s));
  }

  /** The v-prediction target v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0 (Salimans & Ho 2022). */
  getVelocity(x0: Tensor, noise: Tensor, t: TimestepsLike): Tensor {
    checkSameShape('getVelocity', x0, noise);
    const a = this.perSample('getVelocity', x0, t, this.schedule.sqrtAlphasCumprod);
    const s = this.perSample('getVelocity', x0, t, this.schedule.sqrtOneMinusAlphasCumprod);
    return noise.mul(a).sub(x0.mul(s));
  }

  /** The regression target for this prediction type: eps, x0 or v. */
  trainingTarget(x0: Tensor, noise: Tensor, t: TimestepsLike): Tensor {
    if (this.predictionType === 'epsilon') return noise;
    if (this.predictionType === 'sample') return x0;
    return this.getVelocity(x0, noise, t);
  }

  /**
   * Converts a model output at timestep t (one for the whole batch) into (x0, eps) estimates.
   * epsilon: x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar) (DDPM Eq. 15 solved for x0);
   * sample: eps = (x_t - sqrt(abar) x0) / sqrt(1-abar); v: x0 = sqrt(abar) x_t - sqrt(1-abar) v, eps = sqrt(abar) v + sqrt(1-abar) x_t.
   * With clipSample, x0 is clipped; eps is then re-derived from the clipped x0, eps = (x_t - sqrt(abar) x0) /
   * sqrt(1-abar), so that the two stay consistent (GLIDE; diffusers' use_clipped_model_output=True), unless
   * `rederiveNoise` is false: then eps is the one implied by the unclipped prediction (diffusers' default).
   */
  predictOriginalAndNoise(modelOutput: Tensor, t: number, sample: Tensor, rederiveNoise = true): { x0: Tensor; eps: Tensor } {
    const abar = this.schedule.alphasCumprod[this.schedule.checkT(`${this.constructor.name}.step`, t)]!;
    const sa = Math.sqrt(abar);
    const s1 = Math.sqrt(1 - abar);
    let x0: Tensor;
    let eps: Tensor;
    if (this.predictionType === 'epsilon') {
      eps = modelOutput;
      x0 = sample.sub(eps.mul(s1)).div(sa);
    } else if (this.predictionType === 'sample') {
      x0 = modelOutput;
      eps = sample.sub(x0.mul(sa)).div(s1);
    } else {
      x0 = sample.mul(sa).sub(modelOutput.mul(s1));
      eps = modelOutput.mul(sa).add(sample.mul(s1));
    }
    if (this.clipSample !== null) {
      x0 = x0.clamp(-this.clipSample, this.clipSample);
      if (rederiveNoise) eps = sample.sub(x0.mul(sa)).div(s1);
    }
    return { x0, eps };
  }

  /**
   * The options `sample()` passes to every `step` of a call with these settings; undefined when the scheduler takes
   * none of them (the base: no per-call options; DDIM overrides it for eta).
   */
  stepOptionsFor(settings: SamplingStepSettings): StepOptions | undefined {
    void settings;
    return undefined;
  }

  /** One reverse step from timestep t to the next timestep of the sequence. */
  abstract step(modelOutput: Tensor, t: number, sample: Tensor, rng?: Generator, opts?: StepOptions): SchedulerStepOutput;

  protected checkStepInputs(modelOutput: Tensor, sample: Tensor): void {
    checkSameShape(`${this.constructor.name}.step`, modelOutput, sample);
  }

  protected drawNoise(fn: string, sample: Tensor, rng: Generator | undefined, opts: StepOptions | undefined): Tensor {
    if (opts?.noise) {
      checkSameShape(fn, opts.noise, sample);
      return opts.noise;
    }
    if (!rng) throw new Error(`${fn}: a stochastic step needs a seeded Generator (rng) or opts.noise`);
    return randn(sample.shape, rng, sample.dtype);
  }

  /** A coefficient per batch element as a tensor of shape [B, 1, 1, ...] (or a 0-d tensor for one shared t). */
  protected perSample(fn: string, x: Tensor, t: TimestepsLike, table: Float64Array): Tensor {
    if (typeof t === 'number') return full([], table[this.schedule.checkT(fn, t)]!, x.dtype);
    const ts = t instanceof Tensor ? t.toTypedArray() : t;
    const b = x.shape[0];
    if (ts.length !== b) throw new RangeError(`${fn}: got ${ts.length} timesteps for a batch of ${b} (x shape [${x.shape}])`);
    const out = x.dtype === 'float64' ? new Float64Array(b) : new Float32Array(b);
    for (let i = 0; i < b; i++) out[i] = table[this.schedule.checkT(fn, Number(ts[i]))]!;
    return fromTypedArray(out, [b, ...x.shape.slice(1).map(() => 1)]);
  }
}

function checkSameShape(fn: string, a: Tensor, b: Tensor): void {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new TypeError(`${fn}: expected Tensors`);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`${fn}: shapes [${a.shape}] and [${b.shape}] must be equal`);
  }
}
