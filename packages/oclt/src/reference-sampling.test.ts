import { describe, expect, it } from 'vitest';
import { ocltReferenceDDIMScheduler, OC_LT_REFERENCE_SAMPLING } from './reference-sampling.js';

describe('OC_LT reference sampling settings', () => {
  it('DDIM over t = 990, 980, ..., 0, eta 0, no x0 clipping, abar_0 after the last step', () => {
    const s = ocltReferenceDDIMScheduler();
    expect(Array.from(s.timesteps)).toEqual(Array.from({ length: 100 }, (_, i) => 990 - 10 * i));
    expect(s.clipSample).toBeNull();
    expect(s.eta).toBe(0);
    expect(s.finalAlphaCumprod).toBe(s.alphasCumprod[0]);
    expect(OC_LT_REFERENCE_SAMPLING.guidanceWeight).toBe(1.5);
    expect(ocltReferenceDDIMScheduler('sample').predictionType).toBe('sample');
  });
});
