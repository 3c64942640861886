/**
 * The samplers by name: one table, so that a program offering a choice of scheduler (the `oclt` CLI's --scheduler)
 * takes its names, help and constructors from here. Adding a scheduler: its class (extending SchedulerBase,
 * overriding `stepOptionsFor` if it takes per-call settings of `sample()`) and one entry below.
 * Browser-safe.
 */
import type { SchedulerBase, SchedulerConfig } from './base.js';
import { DDIMScheduler, type DDIMSchedulerConfig } from './ddim.js';
import { DDPMScheduler, type DDPMSchedulerConfig } from './ddpm.js';

/** One scheduler of the registry: what it is (for help texts) and how to make one from its config. */
export interface SchedulerRegistryEntry<C extends SchedulerConfig = SchedulerConfig, S extends SchedulerBase = SchedulerBase> {
  readonly description: string;
  /** Throws on a config key the scheduler does not take (as its constructor does). */
  create(config?: C): S;
}

export const SCHEDULERS = {
  ddim: {
    description:
      'DDIM (Song et al. 2021): deterministic with eta 0 (the default), stochastic up to DDPM-like variance at eta 1; visits the n timesteps of setTimesteps(n), one update from each to the next',
    create: (config: DDIMSchedulerConfig = {}): DDIMScheduler => new DDIMScheduler(config),
  },
  ddpm: {
    description:
      "DDPM ancestral sampling (Ho et al. 2020, Algorithm 2; 'fixed_small' variance by default), stochastic; visits the n timesteps of setTimesteps(n): with n = T it is DDPM's own sampler, with fewer each step draws from the posterior q(x_s | x_t, x0_hat) of the next visited timestep s, jumping over the skipped ones",
    create: (config: DDPMSchedulerConfig = {}): DDPMScheduler => new DDPMScheduler(config),
  },
} as const satisfies Record<string, SchedulerRegistryEntry<never>>;

export type SchedulerName = keyof typeof SCHEDULERS;

/** The scheduler class of a name, and the config its `create` takes. */
export type SchedulerOf<N extends SchedulerName> = ReturnType<(typeof SCHEDULERS)[N]['create']>;
export type SchedulerConfigOf<N extends SchedulerName> = NonNullable<Parameters<(typeof SCHEDULERS)[N]['create']>[0]>;

/** The registry's names, in its order. */
export const SCHEDULER_NAMES = Object.keys(SCHEDULERS) as SchedulerName[];

export function isSchedulerName(name: string): name is SchedulerName {
  return Object.prototype.hasOwnProperty.call(SCHEDULERS, name);
}

/** Makes the scheduler `name` from its config; an unknown name is a RangeError listing the names. */
export function createScheduler<N extends SchedulerName>(name: N, config?: SchedulerConfigOf<N>): SchedulerOf<N> {
  if (!isSchedulerName(name)) throw new RangeError(`createScheduler: unknown scheduler '${String(name)}', expected one of ${SCHEDULER_NAMES.join(', ')}`);
  const entry = SCHEDULERS[name] as SchedulerRegistryEntry<SchedulerConfigOf<N>, SchedulerOf<N>>;
  return entry.create(config);
}
