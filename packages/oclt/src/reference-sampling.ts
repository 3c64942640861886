/**
 * The sampler of the released OC_LT code (MediaBrain-SJTU/OC_LT), as settings of @oclt/diffusion's DDIMScheduler
 * and `sample()`, so that a run can be evaluated the way the paper's numbers were made.
 *
 * What OC_LT's evaluation (`ddpm_gen.py --eval`, which builds `GaussianDiffusionSamplerOld` of diffusion.py with
 * method 'ddim' and `ddim_skip_step` 10) does:
 * - timesteps 990, 980, ..., 0 (`reversed(range(0, T, skip))`): 'leading' spacing with 100 steps;
 * - the eps-form DDIM update with eta 0; after t = 0 it steps to `clamp(t - skip, 0, T)` = 0, i.e. abar_0 itself
 *   (the identity on x_0): `setAlphaToOne: false`;
 * - no clipping of the predicted x0 (the clip is commented out); the returned samples are clipped to [-1, 1];
 * - guidance eps + w (eps - eps_uncond) with w = 1.5 in the README's command: `guidanceWeight` 1.5 here, the same
 *   (1 + w) eps_c - w eps_u.
 * The CLI samples with these settings (cli/common.ts `samplingScheduler`: leading spacing, eta 0, abar_0 after the
 * last step, no x0 clipping unless `--clip-x0 1`); its number of steps is the command's `--steps`/`--sample-steps`.
 */
import { DDIMScheduler, type PredictionType } from '@oclt/diffusion';

export const OC_LT_REFERENCE_SAMPLING = {
  timestepSpacing: 'leading',
  numInferenceSteps: 100,
  eta: 0,
  setAlphaToOne: false,
  clipSample: null,
  guidanceWeight: 1.5,
} as const;

/** A DDIMScheduler with OC_LT's settings, its timesteps set (100 'leading' steps). */
export function ocltReferenceDDIMScheduler(predictionType: PredictionType = 'epsilon'): DDIMScheduler {
  const r = OC_LT_REFERENCE_SAMPLING;
  return new DDIMScheduler({ predictionType, timestepSpacing: r.timestepSpacing, eta: r.eta, setAlphaToOne: r.setAlphaToOne, clipSample: r.clipSample }).setTimesteps(r.numInferenceSteps);
}
