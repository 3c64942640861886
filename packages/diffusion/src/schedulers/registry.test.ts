import { describe, expect, it } from 'vitest';
import * as diffusion from '../index.js';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import { SCHEDULERS, SCHEDULER_NAMES, createScheduler, isSchedulerName } from './registry.js';

describe('the scheduler registry', () => {
  it('names ddim and ddpm, each with a description; the names are its keys; exported from the package', () => {
    expect(SCHEDULER_NAMES).toEqual(['ddim', 'ddpm']);
    expect(SCHEDULER_NAMES).toEqual(Object.keys(SCHEDULERS));
    for (const n of SCHEDULER_NAMES) expect(SCHEDULERS[n].description.length).toBeGreaterThan(20);
    expect(diffusion.SCHEDULERS).toBe(SCHEDULERS);
    expect(diffusion.createScheduler).toBe(createScheduler);
  });

  it('creates the class of the name from its config, checked as its constructor checks it', () => {
    const ddim = createScheduler('ddim', { numTrainTimesteps: 50, eta: 0.5, setAlphaToOne: false, predictionType: 'sample' });
    expect(ddim).toBeInstanceOf(DDIMScheduler);
    expect([ddim.eta, ddim.finalAlphaCumprod, ddim.predictionType, ddim.numTrainTimesteps]).toEqual([0.5, ddim.alphasCumprod[0], 'sample', 50]);
    const ddpm = createScheduler('ddpm', { numTrainTimesteps: 50, varianceType: 'fixed_large' });
    expect(ddpm).toBeInstanceOf(DDPMScheduler);
    expect(ddpm.varianceType).toBe('fixed_large');
    expect(createScheduler('ddpm')).toBeInstanceOf(DDPMScheduler);
    // A DDIM option given to DDPM is refused naming the class it belongs to.
    expect(() => createScheduler('ddpm', { eta: 0 } as never)).toThrow(/DDPMScheduler: unknown config key 'eta': that is an option of DDIMScheduler/);
  });

  it('refuses an unknown name, listing the names', () => {
    expect(isSchedulerName('ddim')).toBe(true);
    expect(isSchedulerName('toString')).toBe(false);
    expect(isSchedulerName('euler')).toBe(false);
    expect(() => createScheduler('euler' as never)).toThrow(/unknown scheduler 'euler', expected one of ddim, ddpm/);
  });
});
