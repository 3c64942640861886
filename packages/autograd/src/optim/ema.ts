/**
 * An exponential moving average of a model's parameters, the weights DDPM samples with:
 *   shadow <- d * shadow + (1 - d) * param  after each optimizer step,
 * with d = decay, or with warmup d = min(decay, (1 + n) / (10 + n)) where n counts the earlier updates, so that
 * early shadows do not remember the random initialisation for thousands of steps.
 *
 * For sampling: `ema.store(model); ema.copyTo(model); ...sample...; ema.restore(model)`.
 */
import { fmtShape, profileSection, type Tensor } from '@oclt/tensor';
import type { Module } from '../nn/module.js';
import { readHost } from './optimizer.js';

export interface EMAOptions {
  /** Decay per update, in [0, 1]; default 0.9999. */
  decay?: number;
  /** Use d = min(decay, (1 + n) / (10 + n)); default false. */
  warmup?: boolean;
}

export interface EMAState {
  tensors: Record<string, Tensor>;
  scalars: { decay: number; warmup: boolean; numUpdates: number };
}

export class EMA {
  readonly decay: number;
  readonly warmup: boolean;
  /** Number of updates applied so far. */
  numUpdates = 0;
  private readonly shadow = new Map<string, Tensor>();
  private backup: Map<string, Tensor> | null = null;

  constructor(model: Module, opts: EMAOptions = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.warmup = opts.warmup ?? false;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new RangeError(`EMA: decay must lie in [0, 1], got ${this.decay}`);
    for (const [name, p] of model.namedParameters()) this.shadow.set(name, p.detach().contiguous().clone());
  }

  /** The decay the next update will use. */
  currentDecay(): number {
    return this.warmup ? Math.min(this.decay, (1 + this.numUpdates) / (10 + this.numUpdates)) : this.decay;
  }

  /** Moves the shadow towards the model's current parameters. */
  update(model: Module): void {
    profileSection('ema', () => this.updateAll(model));
  }

  private updateAll(model: Module): void {
    const d = this.currentDecay();
    for (const [name, p] of this.matched('update', model)) {
      const s = this.shadow.get(name)!.dataSync();
      const v = readHost(p);
      for (let k = 0; k < s.length; k++) s[k] = d * s[k]! + (1 - d) * v[k]!;
    }
    this.numUpdates++;
  }

  /** Writes the averaged weights into the model's parameters (in place). */
  copyTo(model: Module): void {
    for (const [name, p] of this.matched('copyTo', model)) p.dataSync().set(this.shadow.get(name)!.dataSync());
  }

  /** Saves the model's current parameters, to be put back by `restore` after sampling with the EMA weights. */
  store(model: Module): void {
    this.backup = new Map(this.matched('store', model).map(([name, p]) => [name, p.detach().contiguous().clone()]));
  }

  /** Puts back the parameters saved by `store`. */
  restore(model: Module): void {
    if (!this.backup) throw new Error('EMA.restore: nothing stored; call store(model) first');
    for (const [name, p] of this.matched('restore', model)) p.dataSync().set(this.backup.get(name)!.dataSync());
    this.backup = null;
  }

  /** The averaged weights by parameter name (the tensors themselves; clone to keep a snapshot). */
  shadowParameters(): Record<string, Tensor> {
    return Object.fromEntries(this.shadow);
  }

  stateDict(): EMAState {
    return {
      tensors: Object.fromEntries([...this.shadow].map(([n, t]) => [n, t.clone()])),
      scalars: { decay: this.decay, warmup: this.warmup, numUpdates: this.numUpdates },
    };
  }

  loadStateDict(state: EMAState): void {
    const missing = [...this.shadow.keys()].filter((k) => !(k in state.tensors));
    const unexpected = Object.keys(state.tensors).filter((k) => !this.shadow.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(`EMA.loadStateDict: names differ; missing: ${missing.join(', ') || 'none'}; unexpected: ${unexpected.join(', ') || 'none'}`);
    }
    for (const [name, s] of this.shadow) {
      const t = state.tensors[name]!;
      if (t.ndim !== s.ndim || t.shape.some((d, i) => d !== s.shape[i])) throw new Error(`EMA.loadStateDict: '${name}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(s.shape)}`);
    }
    for (const [name, s] of this.shadow) s.dataSync().set(state.tensors[name]!.astype(s.dtype).toTypedArray());
    this.numUpdates = state.scalars.numUpdates;
  }

  private matched(fn: string, model: Module): [string, Tensor][] {
    const params = model.namedParameters();
    const names = new Set(params.map(([n]) => n));
    const missing = [...this.shadow.keys()].filter((k) => !names.has(k));
    if (missing.length || params.length !== this.shadow.size) {
      throw new Error(`EMA.${fn}: the model's parameters do not match the EMA's (missing: ${missing.join(', ') || 'none'}; model has ${params.length}, EMA ${this.shadow.size})`);
    }
    for (const [name, p] of params) {
      const s = this.shadow.get(name)!;
      if (p.size !== s.size) throw new Error(`EMA.${fn}: '${name}' has shape ${fmtShape(p.shape)}, the EMA ${fmtShape(s.shape)}`);
    }
    return params;
  }
}
