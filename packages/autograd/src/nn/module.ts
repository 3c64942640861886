/**
 * `Module`: the base class of every layer and model, in the manner of `torch.nn.Module`.
 *
 * A module owns named parameters (trainable leaf tensors, `requiresGrad = true`), named buffers (state that is
 * saved but not trained, e.g. running statistics) and named child modules. Registration is explicit, because
 * TypeScript has no `__setattr__` hook:
 *
 * ```ts
 * class Block extends Module {
 *   conv = this.addModule('conv', new Conv2d(4, 8, 3, { generator: gen }));
 *   scale = this.addParameter('scale', ones([8]));
 *   forward(x: Tensor): Tensor { return this.conv.forward(x).mul(this.scale.reshape(1, 8, 1, 1)); }
 * }
 * ```
 *
 * Names nest with dots like PyTorch's (`down.0.conv1.weight`), so a state dict written here lines up with one
 * written by PyTorch for the same architecture.
 */
import { Tensor, copyInto, fmtShape, noGrad } from '@oclt/tensor';

/** A flat map from dotted names to tensors, as saved in checkpoints. */
export type StateDict = Record<string, Tensor>;

export interface LoadStateDictResult {
  /** Keys the module has but the state dict lacks (only reported when `strict` is false). */
  missingKeys: string[];
  /** Keys the state dict has but the module lacks (only reported when `strict` is false). */
  unexpectedKeys: string[];
}

const NAME_RE = /^[A-Za-z0-9_]+$/;

export class Module {
  /** Whether the module is in training mode (Dropout drops, etc.). Change it with `train()` / `eval()`. */
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, { tensor: Tensor; persistent: boolean }>();
  private readonly children = new Map<string, Module>();

  /**
   * The computation. Subclasses override it with their own signature (usually `forward(x: Tensor): Tensor`);
   * containers such as `ModuleList` have none.
   */
  forward(..._args: any[]): any {
    throw new Error(`${this.constructor.name}.forward: this module defines no forward pass`);
  }

  // ---- registration -------------------------------------------------------------------------------------

  /** Registers a trainable parameter: a floating leaf tensor that gets `requiresGrad = true`. Returns it. */
  addParameter(name: string, value: Tensor): Tensor {
    this.checkNewName('addParameter', name);
    if (!(value instanceof Tensor)) throw new TypeError(`${this.constructor.name}.addParameter('${name}'): expected a Tensor`);
    if (value.dtype !== 'float32' && value.dtype !== 'float64') {
      throw new TypeError(`${this.constructor.name}.addParameter('${name}'): parameters must be float32 or float64, got ${value.dtype}`);
    }
    if (!value.isLeaf) throw new Error(`${this.constructor.name}.addParameter('${name}'): a parameter must be a leaf tensor; detach() it first`);
    value.requiresGrad = true;
    this.params.set(name, value);
    return value;
  }

  /** Registers a buffer: state saved in the state dict (when persistent) but not trained. Returns it. */
  addBuffer(name: string, value: Tensor, persistent = true): Tensor {
    this.checkNewName('addBuffer', name);
    if (!(value instanceof Tensor)) throw new TypeError(`${this.constructor.name}.addBuffer('${name}'): expected a Tensor`);
    this.buffers.set(name, { tensor: value, persistent });
    return value;
  }

  /** Registers a child module under `name` (its parameters get the prefix `name.`). Returns it. */
  addModule<M extends Module>(name: string, module: M): M {
    this.checkNewName('addModule', name);
    if (!(module instanceof Module)) throw new TypeError(`${this.constructor.name}.addModule('${name}'): expected a Module`);
    this.children.set(name, module);
    return module;
  }

  private checkNewName(fn: string, name: string): void {
    if (!NAME_RE.test(name)) throw new Error(`${this.constructor.name}.${fn}: name '${name}' must be letters, digits and underscores (dots separate levels)`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}.${fn}: name '${name}' is already registered`);
    }
  }

  // ---- traversal ----------------------------------------------------------------------------------------

  /** Direct children with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** This module and every descendant, with dotted names ('' for this one), depth first. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Every parameter with its dotted name, depth first in registration order. A tensor shared by two modules
   * is listed once (under its first name), as in PyTorch.
   */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([join(prefix, name), p]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, b] of m.buffers) out.push([join(prefix, name), b.tensor]);
    return out;
  }

  /** The number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  // ---- modes and gradients --------------------------------------------------------------------------------

  /** Sets training mode on this module and every descendant. Returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`): Dropout becomes the identity. Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Clears the gradients of all parameters (sets `.grad = null`, like PyTorch's default `set_to_none`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // ---- state dicts ----------------------------------------------------------------------------------------

  /**
   * Parameters and persistent buffers by dotted name. The tensors are the module's own (not copies), like
   * PyTorch's `state_dict()`; clone them if you mean to keep a snapshot while training goes on.
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, p] of m.params) out[join(prefix, name)] = p;
      for (const [name, b] of m.buffers) if (b.persistent) out[join(prefix, name)] = b.tensor;
    }
    return out;
  }

  /**
   * Copies values from `state` into this module's parameters and buffers, in place (so optimizers that hold
   * the parameter tensors keep working). Values are cast to each target's dtype.
   *
   * With `strict` (the default) any missing or unexpected key is an error that lists them all; without it the
   * keys are returned. A shape mismatch is always an error.
   */
  loadStateDict(state: StateDict, strict = true): LoadStateDictResult {
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in state));
    const unexpectedKeys = Object.keys(state).filter((k) => !(k in own));
    const where = this.constructor.name;
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new Error(`loadStateDict (${where}): the state dict does not match the module; ${parts.join('; ')}`);
    }
    const mismatched: string[] = [];
    for (const [key, target] of Object.entries(own)) {
      const src = state[key];
      if (!src) continue;
      if (!(src instanceof Tensor)) throw new TypeError(`loadStateDict (${where}): '${key}' is not a Tensor`);
      if (src.ndim !== target.ndim || src.shape.some((d, i) => d !== target.shape[i])) {
        mismatched.push(`'${key}': checkpoint ${fmtShape(src.shape)}, module ${fmtShape(target.shape)}`);
      }
    }
    if (mismatched.length) throw new Error(`loadStateDict (${where}): shape mismatch for ${mismatched.join('; ')}`);
    noGrad(() => {
      for (const [key, target] of Object.entries(own)) {
        const src = state[key];
        if (src) copyInto(target, src);
      }
    });
    return { missingKeys, unexpectedKeys };
  }
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}
