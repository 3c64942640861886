/**
 * The optimizer base: holds named parameters, reads their `.grad` after `backward()`, and updates their values
 * in place (so modules keep pointing at the same tensors). Updates run as plain loops over the parameters'
 * cpu typed arrays, element by element in float64 arithmetic, then are stored in the parameter's dtype: no tensor
 * is allocated per step, which keeps long training loops flat in memory.
 *
 * State (momentum buffers, moment estimates, per-parameter step counts) exports to a flat
 * `Record<string, Tensor>` keyed `<parameter name>.<buffer>` plus JSON-able scalars, for checkpoints.
 */
import { Tensor, fmtShape, keep, profileSection, zeros, type TypedArray } from '@oclt/tensor';

/** Parameters as a list, or as [name, tensor] pairs (e.g. `model.namedParameters()`) for readable checkpoint keys. */
export type ParamsInput = readonly Tensor[] | readonly (readonly [string, Tensor])[];

/** A checkpointable optimizer state: tensors by `<param>.<buffer>` and JSON-able scalars. */
export interface OptimizerState {
  tensors: Record<string, Tensor>;
  scalars: { kind: string; lr: number; steps: Record<string, number>; hyper: Record<string, number | boolean> };
}

export abstract class Optimizer {
  /** Learning rate; schedules set it before each step (`opt.lr = schedule(step)`). */
  lr: number;
  readonly params: readonly Tensor[];
  readonly names: readonly string[];
  /** Per-parameter number of updates applied (a parameter without a gradient is skipped, as in PyTorch). */
  protected readonly steps: number[];
  /** Per-parameter named buffers (momentum, moments), created lazily on the first update like PyTorch's. */
  protected readonly buffers: Map<string, Tensor>[];

  constructor(
    readonly kind: string,
    params: ParamsInput,
    lr: number,
  ) {
    const list = [...params];
    if (list.length === 0) throw new Error(`${kind}: got an empty parameter list`);
    const named = list.map((p, i) => (p instanceof Tensor ? ([String(i), p] as const) : p));
    named.forEach(([name, p]) => {
      if (!(p instanceof Tensor)) throw new TypeError(`${kind}: parameter '${name}' is not a Tensor`);
      if (p.dtype !== 'float32' && p.dtype !== 'float64') throw new TypeError(`${kind}: parameter '${name}' must be float32 or float64, got ${p.dtype}`);
      if (!p.isContiguous || p.backend !== 'cpu') throw new Error(`${kind}: parameter '${name}' must be a contiguous cpu tensor (updates are in place)`);
    });
    if (new Set(named.map(([n]) => n)).size !== named.length) throw new Error(`${kind}: parameter names must be unique`);
    checkNonNegative(kind, { lr });
    this.lr = lr;
    this.params = named.map(([, p]) => p);
    this.names = named.map(([n]) => n);
    this.steps = named.map(() => 0);
    this.buffers = named.map(() => new Map());
  }

  /** Clears every parameter's gradient (`.grad = null`). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    profileSection('optimizer', () => this.stepAll());
  }

  private stepAll(): void {
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      if (p.grad.ndim !== p.ndim || p.grad.shape.some((d, k) => d !== p.shape[k])) {
        throw new Error(`${this.kind}.step: gradient of '${this.names[i]}' has shape ${fmtShape(p.grad.shape)}, the parameter ${fmtShape(p.shape)}`);
      }
      this.steps[i]!++;
      this.update(i, p.dataSync(), readHost(p.grad));
    });
  }

  /** One parameter's update: `param` is its live storage, `grad` its gradient (read only). */
  protected abstract update(index: number, param: TypedArray, grad: ArrayLike<number>): void;

  /** The hyper-parameters that `stateDict` records (besides lr). */
  protected abstract hyper(): Record<string, number | boolean>;

  /** The named buffer of parameter `index`, created as zeros of the parameter's dtype and shape on first use. */
  protected buffer(index: number, name: string): TypedArray {
    const map = this.buffers[index]!;
    let t = map.get(name);
    if (!t) {
      const p = this.params[index]!;
      t = keep(zeros(p.shape, p.dtype)); // state outlives the tidy of the step that created it
      map.set(name, t);
    }
    return t.dataSync();
  }

  protected hasBuffer(index: number, name: string): boolean {
    return this.buffers[index]!.has(name);
  }

  /** The state for a checkpoint. Tensors are copies, so training on does not change a saved state. */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    const steps: Record<string, number> = {};
    this.names.forEach((name, i) => {
      steps[name] = this.steps[i]!;
      for (const [buf, t] of this.buffers[i]!) tensors[`${name}.${buf}`] = t.clone();
    });
    return { tensors, scalars: { kind: this.kind, lr: this.lr, steps, hyper: this.hyper() } };
  }

  /**
   * Restores a state written by `stateDict` of the same kind of optimizer over parameters with the same names
   * and shapes. Hyper-parameters stay as constructed (a resumed run may change them); lr and steps are restored.
   */
  loadStateDict(state: OptimizerState): void {
    const where = `${this.kind}.loadStateDict`;
    if (state?.scalars?.kind !== this.kind) throw new Error(`${where}: state is for '${state?.scalars?.kind}', not '${this.kind}'`);
    const unknownSteps = Object.keys(state.scalars.steps).filter((n) => !this.names.includes(n));
    if (unknownSteps.length) throw new Error(`${where}: state names parameters this optimizer lacks: ${unknownSteps.join(', ')}`);
    const loaded: Map<string, Tensor>[] = this.names.map(() => new Map());
    for (const [key, t] of Object.entries(state.tensors)) {
      const dot = key.lastIndexOf('.');
      const index = this.names.indexOf(key.slice(0, dot));
      if (dot < 0 || index < 0) throw new Error(`${where}: unexpected tensor '${key}' (no parameter '${key.slice(0, dot)}')`);
      const p = this.params[index]!;
      if (t.ndim !== p.ndim || t.shape.some((d, k) => d !== p.shape[k])) {
        throw new Error(`${where}: '${key}' has shape ${fmtShape(t.shape)}, the parameter ${fmtShape(p.shape)}`);
      }
      loaded[index]!.set(key.slice(dot + 1), keep(t.astype(p.dtype).contiguous().clone()));
    }
    this.names.forEach((name, i) => {
      const s = state.scalars.steps[name] ?? 0;
      if (!Number.isInteger(s) || s < 0) throw new Error(`${where}: step of '${name}' must be a non-negative integer, got ${s}`);
      this.steps[i] = s;
      this.buffers[i] = loaded[i]!;
    });
    this.lr = state.scalars.lr;
  }
}

/** A gradient's elements in row-major order, without a copy when it is already a contiguous cpu tensor. */
export function readHost(t: Tensor): ArrayLike<number> {
  return t.isContiguous && t.backend === 'cpu' ? t.borrowData() : t.toTypedArray();
}

export function checkNonNegative(where: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${where}: ${k} must be a finite number >= 0, got ${v}`);
  }
}
