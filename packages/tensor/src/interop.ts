/**
 * Interop with the `ndarray` package (strided views, no math): the same storage model, so conversion shares the
 * typed array where it can. The ndarray package is not imported here; any object with its shape (data, shape,
 * stride, offset) works, and `toNdarray` takes the package's constructor so the core stays dependency-free.
 */
import type { TypedArray } from './dtype.js';
import { fromTypedArray } from './ops/creation.js';
import { Tensor } from './tensor.js';
import { getBackend } from './backend.js';
import { fmtShape, sizeOf, TensorError } from './shape.js';
import { moveToGcMemory } from './memory.js';

export interface NdArrayLike {
  data: ArrayLike<number>;
  shape: number[];
  stride: number[];
  offset: number;
}

export type NdArrayConstructor<T> = (data: TypedArray, shape: number[], stride: number[], offset: number) => T;

/**
 * A view over the same memory (cpu tensors; device tensors are read back first). A tensor whose elements lie in
 * the fast kernels' memory has them moved to an ordinary array first (once, as `dataSync` does), so the ndarray
 * never views memory that `dispose` or a `tidy` would free and the next op reuse: it keeps its values, and it
 * shares memory with the tensor (and its views) for every size alike.
 */
export function toNdarray<T>(t: Tensor, ndarray: NdArrayConstructor<T>): T {
  if (t.backend === 'cpu') moveToGcMemory(t.storage);
  const data = getBackend(t.backend).toHost(t.storage);
  return ndarray(data, [...t.shape], [...t.strides], t.offset);
}

/** A tensor that shares the ndarray's typed array and layout (no copy). */
export function fromNdarray(a: NdArrayLike): Tensor {
  const data = a.data;
  if (!(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint8Array)) {
    throw new TensorError('fromNdarray', 'data must be a Float32Array, Float64Array, Int32Array or Uint8Array');
  }
  // Every addressed element must lie inside the array, or reads would silently give undefined (NaN).
  if (a.shape.length !== a.stride.length || a.shape.some((d) => !Number.isInteger(d) || d < 0) || !Number.isInteger(a.offset)) {
    throw new TensorError('fromNdarray', `invalid layout: shape ${fmtShape(a.shape)}, stride ${fmtShape(a.stride)}, offset ${a.offset}`);
  }
  if (sizeOf(a.shape) > 0) {
    let lo = a.offset;
    let hi = a.offset;
    a.shape.forEach((d, i) => {
      const span = (d - 1) * a.stride[i]!;
      if (span < 0) lo += span;
      else hi += span;
    });
    if (lo < 0 || hi >= data.length) {
      throw new TensorError('fromNdarray', `shape ${fmtShape(a.shape)}, stride ${fmtShape(a.stride)} and offset ${a.offset} address elements ${lo}..${hi} of an array of length ${data.length}`);
    }
  }
  const base = fromTypedArray(data as TypedArray, [data.length]);
  return new Tensor(base.storage, a.shape, a.stride, a.offset);
}
