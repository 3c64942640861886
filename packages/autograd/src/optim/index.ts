/** Optimizers, gradient clipping, learning-rate schedules and the EMA of parameters. */
export { Optimizer, type OptimizerState, type ParamsInput } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { clipGradNorm } from './clip.js';
export { linearWarmup, cosineDecay, warmupCosine, type LrSchedule } from './schedule.js';
export { EMA, type EMAOptions, type EMAState } from './ema.js';
