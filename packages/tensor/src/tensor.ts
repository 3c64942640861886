/**
 * Tensor = storage + dtype + shape + strides + offset.
 *
 * Views (reshape where possible, permute, expand, slice, squeeze, unsqueeze, flip) share storage and never copy;
 * `contiguous()` copies only when the layout is not already row-major. Methods are thin wrappers over the
 * functions in src/ops/, which validate, dispatch to a backend kernel and record for autograd.
 * Inputs are never consumed or mutated by ops (PyTorch semantics). Memory is garbage-collected, except what
 * memory.ts explains (`tidy`, `dispose`).
 */
import { getBackend, type Storage } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { contiguousStrides, isContiguous, sizeOf, TensorError, type Shape } from './shape.js';
import type { GradNode } from './tape.js';
import * as E from './ops/elementwise.js';
import * as M from './ops/movement.js';
import * as R from './ops/reduce.js';
import * as S from './ops/softmax.js';
import * as L from './ops/matmul.js';
import * as I from './ops/indexing.js';
import { formatTensor } from './format.js';
import { dispose as disposeTensors, moveToGcMemory } from './memory.js';

export type TensorLike = Tensor | number | boolean;

/** Set by @oclt/autograd so that `tensor.backward()` works; see autograd's engine. */
let backwardHook: ((t: Tensor, grad?: Tensor) => void) | null = null;
export function setBackwardHook(fn: (t: Tensor, grad?: Tensor) => void): void {
  backwardHook = fn;
}

export class Tensor {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;

  /** Whether gradients flow to this tensor (set it on leaves such as parameters). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  node: GradNode | null = null;
  /** Optional name, used in error messages and state dicts. */
  name?: string;

  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get backend(): string {
    return this.storage.backend;
  }
  /** True when the elements are stored row-major without gaps, starting at `offset`. */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** A leaf is a tensor not produced by a recorded op (parameters, inputs). */
  get isLeaf(): boolean {
    return this.node === null;
  }

  // ---- data access ----------------------------------------------------------------------------------------

  /** The elements as a new row-major typed array (copies). */
  toTypedArray(): TypedArray {
    const c = M.contiguous(this);
    const host = getBackend(c.backend).toHost(c.storage);
    return host.slice(c.offset, c.offset + c.size) as TypedArray;
  }
  /**
   * The backing typed array of a contiguous cpu tensor without copying (writes are visible to every view).
   * Throws for non-contiguous tensors; call `.contiguous()` first. A tensor whose elements live in the fast
   * kernels' WebAssembly memory moves them to an ordinary array first (once), so the array never dangles.
   */
  dataSync(): TypedArray {
    if (!this.isContiguous) throw new TensorError('dataSync', `tensor of shape [${this.shape}] is not contiguous; call .contiguous() first`);
    moveToGcMemory(this.storage);
    const host = getBackend(this.backend).toHost(this.storage);
    return this.offset === 0 && this.size === host.length ? host : (host.subarray(this.offset, this.offset + this.size) as TypedArray);
  }
  /**
   * The backing typed array of a contiguous cpu tensor, as it is (possibly in the fast kernels' memory), for use
   * right now: unlike `dataSync` it never copies, and the array must not be kept beyond the tensor's life.
   */
  borrowData(): TypedArray {
    if (!this.isContiguous) throw new TensorError('borrowData', `tensor of shape [${this.shape}] is not contiguous; call .contiguous() first`);
    const host = getBackend(this.backend).toHost(this.storage);
    return host.subarray(this.offset, this.offset + this.size) as TypedArray;
  }
  /** Nested JavaScript arrays (numbers; bools as booleans). A 0-d tensor gives a number. */
  toArray(): any {
    const flat = this.toTypedArray();
    const isBool = this.dtype === 'bool';
    const build = (dim: number, start: number): any => {
      if (dim === this.ndim) return isBool ? flat[start] !== 0 : flat[start];
      const n = this.shape[dim]!;
      const step = sizeOf(this.shape.slice(dim + 1));
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = build(dim + 1, start + i * step);
      return out;
    };
    return build(0, 0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new TensorError('item', `tensor has ${this.size} elements (shape [${this.shape}]), expected 1`);
    return this.toTypedArray()[0]!;
  }
  toString(): string {
    return formatTensor(this);
  }
  /** Releases this tensor's storage now (shared by its views; see `tidy`). Later reads throw. */
  dispose(): void {
    disposeTensors(this);
  }

  // ---- autograd -------------------------------------------------------------------------------------------

  /** A tensor sharing storage that is cut from the graph (stop-gradient). */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }
  /** Sets requiresGrad and returns this (like torch's requires_grad_). */
  requiresGrad_(value = true): this {
    if (value && this.dtype !== 'float32' && this.dtype !== 'float64') {
      throw new TensorError('requiresGrad_', `only floating tensors can require gradients, got ${this.dtype}`);
    }
    this.requiresGrad = value;
    return this;
  }
  /** Runs reverse-mode differentiation from this tensor; needs @oclt/autograd to be imported. */
  backward(grad?: Tensor): void {
    if (!backwardHook) throw new TensorError('backward', 'import @oclt/autograd to differentiate (it provides the gradient table)');
    backwardHook(this, grad);
  }

  // ---- views and copies -----------------------------------------------------------------------------------
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return M.reshape(this, flatArgs(shape));
  }
  view(...shape: number[] | [readonly number[]]): Tensor {
    return M.view(this, flatArgs(shape));
  }
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return M.flatten(this, startAxis, endAxis);
  }
  permute(...axes: number[] | [readonly number[]]): Tensor {
    return M.permute(this, flatArgs(axes));
  }
  transpose(a = -2, b = -1): Tensor {
    return M.transpose(this, a, b);
  }
  get T(): Tensor {
    return M.permute(this, [...this.shape.keys()].reverse());
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return M.expand(this, flatArgs(shape));
  }
  /** slice([start, stop, step] per axis); `null` keeps an axis whole. */
  slice(...specs: M.SliceSpec[]): Tensor {
    return M.slice(this, specs);
  }
  narrow(axis: number, start: number, length: number): Tensor {
    return M.narrow(this, axis, start, length);
  }
  squeeze(axes?: number | number[]): Tensor {
    return M.squeeze(this, axes);
  }
  unsqueeze(axis: number): Tensor {
    return M.unsqueeze(this, axis);
  }
  flip(axes: number | number[]): Tensor {
    return M.flip(this, axes);
  }
  contiguous(): Tensor {
    return M.contiguous(this);
  }
  clone(): Tensor {
    return M.clone(this);
  }
  astype(dtype: DType): Tensor {
    return E.cast(this, dtype);
  }

  // ---- elementwise ----------------------------------------------------------------------------------------
  add(o: TensorLike): Tensor {
    return E.add(this, o);
  }
  sub(o: TensorLike): Tensor {
    return E.sub(this, o);
  }
  mul(o: TensorLike): Tensor {
    return E.mul(this, o);
  }
  div(o: TensorLike): Tensor {
    return E.div(this, o);
  }
  pow(o: TensorLike): Tensor {
    return E.pow(this, o);
  }
  maximum(o: TensorLike): Tensor {
    return E.maximum(this, o);
  }
  minimum(o: TensorLike): Tensor {
    return E.minimum(this, o);
  }
  eq(o: TensorLike): Tensor {
    return E.eq(this, o);
  }
  ne(o: TensorLike): Tensor {
    return E.ne(this, o);
  }
  lt(o: TensorLike): Tensor {
    return E.lt(this, o);
  }
  le(o: TensorLike): Tensor {
    return E.le(this, o);
  }
  gt(o: TensorLike): Tensor {
    return E.gt(this, o);
  }
  ge(o: TensorLike): Tensor {
    return E.ge(this, o);
  }
  neg(): Tensor {
    return E.neg(this);
  }
  abs(): Tensor {
    return E.abs(this);
  }
  exp(): Tensor {
    return E.exp(this);
  }
  log(): Tensor {
    return E.log(this);
  }
  sqrt(): Tensor {
    return E.sqrt(this);
  }
  square(): Tensor {
    return E.square(this);
  }
  reciprocal(): Tensor {
    return E.reciprocal(this);
  }
  sin(): Tensor {
    return E.sin(this);
  }
  cos(): Tensor {
    return E.cos(this);
  }
  tanh(): Tensor {
    return E.tanh(this);
  }
  sigmoid(): Tensor {
    return E.sigmoid(this);
  }
  relu(): Tensor {
    return E.relu(this);
  }
  silu(): Tensor {
    return E.silu(this);
  }
  gelu(): Tensor {
    return E.gelu(this);
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return E.clamp(this, min, max);
  }

  // ---- reductions -----------------------------------------------------------------------------------------
  sum(axes?: number | number[], keepdims = false): Tensor {
    return R.sum(this, axes, keepdims);
  }
  mean(axes?: number | number[], keepdims = false): Tensor {
    return R.mean(this, axes, keepdims);
  }
  max(axes?: number | number[], keepdims = false): Tensor {
    return R.max(this, axes, keepdims);
  }
  min(axes?: number | number[], keepdims = false): Tensor {
    return R.min(this, axes, keepdims);
  }
  argmax(axis?: number, keepdims = false): Tensor {
    return R.argmax(this, axis, keepdims);
  }
  argmin(axis?: number, keepdims = false): Tensor {
    return R.argmin(this, axis, keepdims);
  }
  var(axes?: number | number[], opts: { correction?: number; keepdims?: boolean } = {}): Tensor {
    return R.variance(this, axes, opts);
  }
  std(axes?: number | number[], opts: { correction?: number; keepdims?: boolean } = {}): Tensor {
    return R.std(this, axes, opts);
  }
  logsumexp(axes?: number | number[], keepdims = false): Tensor {
    return R.logsumexp(this, axes, keepdims);
  }
  softmax(axis = -1): Tensor {
    return S.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return S.logSoftmax(this, axis);
  }

  // ---- linear algebra and indexing ------------------------------------------------------------------------
  matmul(o: Tensor): Tensor {
    return L.matmul(this, o);
  }
  gather(axis: number, index: Tensor): Tensor {
    return I.gather(this, axis, index);
  }
  indexSelect(axis: number, index: Tensor | number[]): Tensor {
    return I.indexSelect(this, axis, index);
  }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}
