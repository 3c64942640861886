/**
 * Noise schedules of the forward process and the coefficients derived from them, in float64.
 *
 * Notation of Ho et al. 2020 (DDPM): beta_t, alpha_t = 1 - beta_t, abar_t = prod_{s<=t} alpha_s (0-indexed t here,
 * t = 0 .. T-1, so abar_0 = alpha_0).
 * - Forward marginal (DDPM Eq. 4): q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I).
 * - Posterior (DDPM Eq. 6-7): q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, betaTilde_t I) with
 *   coef1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t), coef2_t = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t),
 *   betaTilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)  ("fixed small" variance; "fixed large" is beta_t).
 * Browser-safe: no Node built-ins.
 */

export type BetaScheduleKind = 'linear' | 'cosine';

export interface NoiseScheduleConfig {
  /** T, the number of training timesteps (default 1000). */
  numTrainTimesteps?: number;
  /** 'linear' (DDPM: betaStart..betaEnd) or 'cosine' (Nichol & Dhariwal 2021). Default 'linear'. */
  betaSchedule?: BetaScheduleKind;
  /** First beta of the linear schedule (default 1e-4). */
  betaStart?: number;
  /** Last beta of the linear schedule (default 0.02). */
  betaEnd?: number;
  /** Offset s of the cosine schedule (default 0.008). */
  cosineOffset?: number;
  /** Upper clip of cosine betas, avoiding a singular last step (default 0.999). */
  maxBeta?: number;
}

/** Linear betas from `start` to `end` inclusive (DDPM section 4). */
export function linearBetas(numTimesteps: number, start = 1e-4, end = 0.02): Float64Array {
  checkTimesteps('linearBetas', numTimesteps);
  if (!(start > 0 && end < 1 && start <= end)) throw new RangeError(`linearBetas: need 0 < start <= end < 1, got start=${start}, end=${end}`);
  const b = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) b[i] = numTimesteps === 1 ? start : start + ((end - start) * i) / (numTimesteps - 1);
  return b;
}

/**
 * Cosine betas (Nichol & Dhariwal 2021, Eq. 17): abar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
 * beta_t = min(1 - abar(t+1)/abar(t), maxBeta).
 */
export function cosineBetas(numTimesteps: number, s = 0.008, maxBeta = 0.999): Float64Array {
  checkTimesteps('cosineBetas', numTimesteps);
  const f = (t: number) => Math.cos((((t / numTimesteps) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const b = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) b[i] = Math.min(1 - f(i + 1) / f(i), maxBeta);
  return b;
}

function checkTimesteps(fn: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${fn}: numTrainTimesteps must be a positive integer, got ${n}`);
}

/** All per-timestep coefficients of a schedule, precomputed in float64. Index = timestep t in [0, T). */
export class NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly config: Required<NoiseScheduleConfig>;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** abar_{t-1}, with abar_{-1} = 1. */
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** betaTilde_t of DDPM Eq. 7 ("fixed small"). Zero at t = 0. */
  readonly posteriorVariance: Float64Array;
  /** log betaTilde_t with t = 0 replaced by t = 1 (the usual clip, since betaTilde_0 = 0). */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** Coefficient of x_0 in the posterior mean (DDPM Eq. 7). */
  readonly posteriorMeanCoef1: Float64Array;
  /** Coefficient of x_t in the posterior mean (DDPM Eq. 7). */
  readonly posteriorMeanCoef2: Float64Array;

  constructor(config: NoiseScheduleConfig = {}) {
    const c: Required<NoiseScheduleConfig> = {
      numTrainTimesteps: config.numTrainTimesteps ?? 1000,
      betaSchedule: config.betaSchedule ?? 'linear',
      betaStart: config.betaStart ?? 1e-4,
      betaEnd: config.betaEnd ?? 0.02,
      cosineOffset: config.cosineOffset ?? 0.008,
      maxBeta: config.maxBeta ?? 0.999,
    };
    this.config = c;
    const T = c.numTrainTimesteps;
    if (c.betaSchedule === 'linear') this.betas = linearBetas(T, c.betaStart, c.betaEnd);
    else if (c.betaSchedule === 'cosine') this.betas = cosineBetas(T, c.cosineOffset, c.maxBeta);
    else throw new RangeError(`NoiseSchedule: unknown betaSchedule '${String(c.betaSchedule)}', expected 'linear' or 'cosine'`);
    this.numTrainTimesteps = T;
    const mk = () => new Float64Array(T);
    this.alphas = mk();
    this.alphasCumprod = mk();
    this.alphasCumprodPrev = mk();
    this.sqrtAlphasCumprod = mk();
    this.sqrtOneMinusAlphasCumprod = mk();
    this.posteriorVariance = mk();
    this.posteriorLogVarianceClipped = mk();
    this.posteriorMeanCoef1 = mk();
    this.posteriorMeanCoef2 = mk();
    let prod = 1;
    for (let t = 0; t < T; t++) {
      const beta = this.betas[t]!;
      const alpha = 1 - beta;
      const prev = prod;
      prod *= alpha;
      this.alphas[t] = alpha;
      this.alphasCumprodPrev[t] = prev;
      this.alphasCumprod[t] = prod;
      this.sqrtAlphasCumprod[t] = Math.sqrt(prod);
      this.sqrtOneMinusAlphasCumprod[t] = Math.sqrt(1 - prod);
      this.posteriorVariance[t] = (beta * (1 - prev)) / (1 - prod);
      this.posteriorMeanCoef1[t] = (beta * Math.sqrt(prev)) / (1 - prod);
      this.posteriorMeanCoef2[t] = (Math.sqrt(alpha) * (1 - prev)) / (1 - prod);
    }
    for (let t = 0; t < T; t++) {
      const v = t === 0 && T > 1 ? this.posteriorVariance[1]! : this.posteriorVariance[t]!;
      this.posteriorLogVarianceClipped[t] = Math.log(Math.max(v, 1e-20));
    }
  }

  /** Signal-to-noise ratio abar_t / (1 - abar_t) (Kingma et al. 2021), used by loss weightings. */
  snr(t: number): number {
    const a = this.alphasCumprod[this.checkT('snr', t)]!;
    return a / (1 - a);
  }

  /** Validates an integer timestep in [0, T) and returns it. */
  checkT(fn: string, t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new RangeError(`${fn}: timestep must be an integer in [0, ${this.numTrainTimesteps}), got ${t}`);
    }
    return t;
  }
}
