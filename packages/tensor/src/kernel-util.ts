/**
 * Building tensors below ops/: what kernels return their results with, and what ops/ builds on.
 *
 * Kernels (src/backends/) import this module and shape.ts, never ops/: an op validates, dispatches to a kernel
 * and records for autograd; a kernel only computes, so it makes its result and any views it needs here, and a copy
 * it needs through the kernel registry, without going back through an op (as in tfjs and candle, the kernels sit
 * under the ops). ops/creation re-exports the constructors (`fromTypedArray`, `fromStorage`, `build`, `full`) and
 * ops/movement builds its views with the helpers below, so both paths make the very same tensors.
 */
import { currentBackend, findKernel, getBackend, type Storage } from './backend.js';
import { trackStorage } from './memory.js';
import { AllocationError, allocArray, convert, type DType, type TypedArray } from './dtype.js';
import { checkShape, fmtShape, isContiguous, normalizeSlices, sizeOf, TensorError, type NormalizedSlice, type Shape, type SliceSpec } from './shape.js';
import { Tensor } from './tensor.js';

// ---- results -----------------------------------------------------------------------------------------------

/** Wraps a row-major typed array (not copied) as a tensor of `shape` on the current backend. */
export function fromTypedArray(data: TypedArray, shape?: Shape): Tensor {
  const s = shape ? checkShape('fromTypedArray', shape) : [data.length];
  if (sizeOf(s) !== data.length) {
    throw new TensorError('fromTypedArray', `shape ${fmtShape(s)} needs ${sizeOf(s)} elements, the array has ${data.length}`);
  }
  if (data instanceof Uint8Array) {
    // A Uint8Array is bool storage: any other value would make eq(true) and friends silently wrong.
    const bad = data.findIndex((v) => v > 1);
    if (bad >= 0) throw new TensorError('fromTypedArray', `a Uint8Array is read as bool and must hold only 0 and 1, found ${data[bad]} at index ${bad}`);
  }
  return fromStorage(getBackend(currentBackend()).fromHost(data), s);
}

/** Wraps new storage as a tensor of `shape`, recording it in the current `tidy`. */
export function fromStorage(storage: Storage, shape: Shape): Tensor {
  trackStorage(storage);
  return new Tensor(storage, shape);
}

/**
 * A new contiguous tensor of `dtype` and `shape` (zeros) whose host array is then filled by `fill`. With
 * `inKernelMemory` the backend may place it where its kernels read it without a copy (the fast cpu kernels'
 * memory): worth it for user data, which is copied anyway, but not for what plain-JavaScript code goes on to read
 * (random draws, masks), because V8 runs loops that see both kinds of arrays up to twice slower.
 */
export function build(dtype: DType, shape: Shape, fill?: (data: TypedArray) => void, inKernelMemory = false, op = 'build'): Tensor {
  const n = sizeOf(shape);
  const storage = inKernelMemory ? getBackend(currentBackend()).allocate?.(dtype, n) : null;
  if (storage) {
    const data = storage.data!.fill(0);
    fill?.(data);
    return fromStorage(storage, shape);
  }
  let data: TypedArray;
  try {
    data = allocArray(dtype, n);
  } catch (e) {
    // Beyond the largest typed array (or out of memory): say which op and shape asked for it.
    if (e instanceof AllocationError) throw Object.assign(new TensorError(op, `cannot allocate a ${dtype} tensor of shape ${fmtShape(shape)}: ${e.message}`), { cause: e });
    throw e;
  }
  fill?.(data);
  return fromTypedArray(data, shape);
}

export function full(shape: Shape, value: number | boolean, dtype: DType = typeof value === 'boolean' ? 'bool' : 'float32'): Tensor {
  const s = checkShape('full', shape);
  const v = convert(Number(value), dtype, 'full');
  return build(dtype, s, (d) => d.fill(v), false, 'full');
}

// ---- views (never recorded: ops/movement records the ones it makes) ----------------------------------------

/** A tensor over `t`'s storage with another layout. */
export function viewOf(t: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, shape, strides, offset);
}

/** `t` with its axes in the order `axes` (already normalised: a permutation of 0..ndim-1). */
export function permuteView(t: Tensor, axes: readonly number[]): Tensor {
  return viewOf(t, axes.map((a) => t.shape[a]!), axes.map((a) => t.strides[a]!), t.offset);
}

/** `t` sliced by `normalizeSlices`'s result. */
export function sliceView(t: Tensor, ns: readonly NormalizedSlice[]): Tensor {
  let offset = t.offset;
  ns.forEach((s, i) => {
    if (s.length > 0) offset += s.start * t.strides[i]!;
  });
  return viewOf(t, ns.map((s) => s.length), ns.map((s, i) => s.step * t.strides[i]!), offset);
}

/** Elements [start, start + length) of axis `axis` (normalised, and the range within bounds). */
export function narrowView(t: Tensor, axis: number, start: number, length: number): Tensor {
  const specs: SliceSpec[] = t.shape.map(() => null);
  specs[axis] = [start, start + length, 1];
  return sliceView(t, normalizeSlices('slice', t, specs));
}

// ---- copies ------------------------------------------------------------------------------------------------

/** `t` itself when it is row-major, otherwise a row-major copy by the backend's `copy` kernel. */
export function asContiguous(t: Tensor): Tensor {
  if (isContiguous(t.shape, t.strides)) return t;
  return findKernel('copy', [t]).fn([t], {});
}
