/**
 * Learning-rate schedules as plain functions of the step (0-based): `opt.lr = schedule(step)` before each step.
 * They follow the schedules of Hugging Face transformers/diffusers that DDPM training code uses.
 */
export type LrSchedule = (step: number) => number;

function checkSteps(where: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) if (!Number.isInteger(v) || v < 0) throw new RangeError(`${where}: ${k} must be a non-negative integer, got ${v}`);
}

/** Linear warmup from 0 to `baseLr` over `warmupSteps` steps, then constant: baseLr * min(1, step / warmupSteps). */
export function linearWarmup(baseLr: number, warmupSteps: number): LrSchedule {
  checkSteps('linearWarmup', { warmupSteps });
  return (step) => (warmupSteps > 0 && step < warmupSteps ? (baseLr * Math.max(step, 0)) / warmupSteps : baseLr);
}

/**
 * Cosine decay from `baseLr` to `minLr` over `totalSteps`, then `minLr`:
 * minLr + (baseLr - minLr) * (1 + cos(pi * min(step, T) / T)) / 2.
 */
export function cosineDecay(baseLr: number, totalSteps: number, minLr = 0): LrSchedule {
  checkSteps('cosineDecay', { totalSteps });
  if (totalSteps === 0) throw new RangeError('cosineDecay: totalSteps must be > 0');
  return (step) => minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * Math.min(Math.max(step, 0), totalSteps)) / totalSteps))) / 2;
}

/** Linear warmup over `warmupSteps`, then cosine decay to `minLr` at `totalSteps` (transformers' cosine-with-warmup). */
export function warmupCosine(baseLr: number, warmupSteps: number, totalSteps: number, minLr = 0): LrSchedule {
  checkSteps('warmupCosine', { warmupSteps, totalSteps });
  if (totalSteps <= warmupSteps) throw new RangeError(`warmupCosine: totalSteps (${totalSteps}) must exceed warmupSteps (${warmupSteps})`);
  const warm = linearWarmup(baseLr, warmupSteps);
  const decay = cosineDecay(baseLr, totalSteps - warmupSteps, minLr);
  return (step) => (step < warmupSteps ? warm(step) : decay(step - warmupSteps));
}
