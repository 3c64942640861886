/**
 * DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), generalised to any decreasing subsequence of timesteps:
 * between t and the next visited timestep s < t the forward process has alpha' = abar_t / abar_s and
 * beta' = 1 - alpha', and the posterior q(x_s | x_t, x0) has (DDPM Eq. 7 with these values)
 *   mean = beta' sqrt(abar_s) / (1 - abar_t) x0 + sqrt(alpha') (1 - abar_s) / (1 - abar_t) x_t,
 *   var  = beta' (1 - abar_s) / (1 - abar_t)  ("fixed_small")  or  beta'  ("fixed_large").
 * abar_{-1} = 1, so the last step returns the posterior mean without noise.
 * Browser-safe.
 */
import type { Generator, Tensor } from '@oclt/tensor';
import { SchedulerBase, type SchedulerConfig, type SchedulerStepOutput, type StepOptions } from './base.js';

export type DDPMVarianceType = 'fixed_small' | 'fixed_large';

export interface DDPMSchedulerConfig extends SchedulerConfig {
  /** Reverse-process variance (DDPM section 3.2: both give similar results). Default 'fixed_small'. */
  varianceType?: DDPMVarianceType;
}

/** DDPMScheduler's options beyond SchedulerConfig's (the constructor refuses any other key). */
const OWN_CONFIG_KEYS = Object.keys({ varianceType: true } as const satisfies Record<Exclude<keyof DDPMSchedulerConfig, keyof SchedulerConfig>, true>);

export class DDPMScheduler extends SchedulerBase {
  readonly varianceType: DDPMVarianceType;

  /** Throws on a key it does not take (e.g. diffusers' snake_case names: see schedulerConfigFromDiffusers). */
  constructor(config: DDPMSchedulerConfig = {}) {
    super(config, OWN_CONFIG_KEYS);
    this.varianceType = config.varianceType ?? 'fixed_small';
    if (this.varianceType !== 'fixed_small' && this.varianceType !== 'fixed_large') {
      throw new RangeError(`DDPMScheduler: unknown varianceType '${String(this.varianceType)}', expected 'fixed_small' or 'fixed_large'`);
    }
  }

  /** Posterior coefficients between timestep t and the previous visited timestep `prevT` (-1 = the data). */
  stepCoefficients(t: number, prevT: number): { coefX0: number; coefXt: number; variance: number } {
    const abar = this.schedule.alphasCumprod[this.schedule.checkT('DDPMScheduler.step', t)]!;
    const abarPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT]! : 1;
    const alpha = abar / abarPrev;
    const beta = 1 - alpha;
    const coefX0 = (beta * Math.sqrt(abarPrev)) / (1 - abar);
    const coefXt = (Math.sqrt(alpha) * (1 - abarPrev)) / (1 - abar);
    const small = Math.max((beta * (1 - abarPrev)) / (1 - abar), 1e-20);
    return { coefX0, coefXt, variance: this.varianceType === 'fixed_small' ? small : beta };
  }

  step(modelOutput: Tensor, t: number, sample: Tensor, rng?: Generator, opts?: StepOptions): SchedulerStepOutput {
    this.checkStepInputs(modelOutput, sample);
    const prevT = this.previousTimestep(t);
    const { x0 } = this.predictOriginalAndNoise(modelOutput, t, sample);
    const { coefX0, coefXt, variance } = this.stepCoefficients(t, prevT);
    let prev = x0.mul(coefX0).add(sample.mul(coefXt));
    // No noise on the final step (z = 0 when t = 1 in DDPM Algorithm 2): it returns the posterior mean. Testing
    // prevT rather than t also covers 'trailing' spacing, whose last step starts above 0.
    if (prevT >= 0) prev = prev.add(this.drawNoise('DDPMScheduler.step', sample, rng, opts).mul(Math.sqrt(variance)));
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
