/**
 * DDIM sampling (Song, Meng & Ermon 2021). From timestep t to the next visited timestep s (abar_{-1} = 1 or
 * abar_0, see `setAlphaToOne`), DDIM Eq. 12:
 *   x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z,
 * with DDIM Eq. 16: sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s).
 * eta = 0 is the deterministic sampler (an ODE discretisation); eta = 1 matches DDPM's fixed-small variance.
 *
 * x0_hat is not clipped unless `clipSample` is set (see SchedulerConfig). The released OC_LT sampler
 * (GaussianDiffusionSamplerOld, method 'ddim', skip 10) is this class with its defaults except
 * `setAlphaToOne: false`: timesteps 990, 980, ..., 0 ('leading' spacing, 100 steps), eta 0, no clipping, and a last
 * step from t = 0 to abar_0 itself (the identity on x_0 there); OC_LT then clips the returned sample to [-1, 1].
 * Browser-safe.
 */
import type { Generator, Tensor } from '@oclt/tensor';
import { SchedulerBase, type SamplingStepSettings, type SchedulerConfig, type SchedulerStepOutput, type StepOptions } from './base.js';

export interface DDIMSchedulerConfig extends SchedulerConfig {
  /** Stochasticity eta in [0, 1] (default 0). Can be overridden per call of `step`. */
  eta?: number;
  /** abar after the last step: 1 (default, the clean data) or abar_0 when false (diffusers' set_alpha_to_one). */
  setAlphaToOne?: boolean;
  /**
   * Only with `clipSample`: whether the direction term sqrt(1 - abar_s - sigma^2) eps_hat uses the eps re-derived
   * from the clipped x0 (true, the default: GLIDE, and what this scheduler always did) or the model's own eps
   * (false: diffusers' DDIMScheduler.step default, `use_clipped_model_output=False`). Can be overridden per step.
   */
  useClippedModelOutput?: boolean;
}

export interface DDIMStepOptions extends StepOptions {
  eta?: number;
  useClippedModelOutput?: boolean;
}

/** DDIMScheduler's options beyond SchedulerConfig's (the constructor refuses any other key). */
const OWN_CONFIG_KEYS = Object.keys({ eta: true, setAlphaToOne: true, useClippedModelOutput: true } as const satisfies Record<Exclude<keyof DDIMSchedulerConfig, keyof SchedulerConfig>, true>);

export class DDIMScheduler extends SchedulerBase {
  readonly eta: number;
  readonly finalAlphaCumprod: number;
  readonly useClippedModelOutput: boolean;

  /** Throws on a key it does not take (e.g. diffusers' snake_case names: see schedulerConfigFromDiffusers). */
  constructor(config: DDIMSchedulerConfig = {}) {
    super(config, OWN_CONFIG_KEYS);
    this.eta = checkEta(config.eta ?? 0);
    this.useClippedModelOutput = config.useClippedModelOutput ?? true;
    this.finalAlphaCumprod = config.setAlphaToOne === false ? this.schedule.alphasCumprod[0]! : 1;
  }

  /** sigma of DDIM Eq. 16 between t and prevT for a given eta. */
  sigma(t: number, prevT: number, eta: number): number {
    const abar = this.schedule.alphasCumprod[this.schedule.checkT('DDIMScheduler.sigma', t)]!;
    const abarPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const v = ((1 - abarPrev) / (1 - abar)) * (1 - abar / abarPrev);
    return eta * Math.sqrt(Math.max(v, 0));
  }

  /** `sample()`'s eta, when given, overrides this scheduler's own for the call; without one, no step options. */
  override stepOptionsFor(settings: SamplingStepSettings): DDIMStepOptions | undefined {
    return settings.eta === undefined ? undefined : { eta: settings.eta };
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, rng?: Generator, opts?: DDIMStepOptions): SchedulerStepOutput {
    this.checkStepInputs(modelOutput, sample);
    const eta = checkEta(opts?.eta ?? this.eta);
    const prevT = this.previousTimestep(t);
    const abarPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const { x0, eps } = this.predictOriginalAndNoise(modelOutput, t, sample, opts?.useClippedModelOutput ?? this.useClippedModelOutput);
    const sigma = this.sigma(t, prevT, eta);
    const dirCoef = Math.sqrt(Math.max(1 - abarPrev - sigma * sigma, 0));
    let prev = x0.mul(Math.sqrt(abarPrev)).add(eps.mul(dirCoef));
    if (sigma > 0) prev = prev.add(this.drawNoise('DDIMScheduler.step', sample, rng, opts).mul(sigma));
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

function checkEta(eta: number): number {
  if (!(eta >= 0 && eta <= 1)) throw new RangeError(`DDIMScheduler: eta must be in [0, 1], got ${eta}`);
  return eta;
}
