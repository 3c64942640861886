/** Strided reads for the cpu reference kernels: turn any view into a row-major array once, then loop simply. */
import { allocArray, type DType, type TypedArray } from '../../dtype.js';
import { broadcastStrides, isContiguous, sizeOf, type Shape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { disposedError } from '../../memory.js';

/** The host array behind a cpu tensor. */
export function host(t: Tensor): TypedArray {
  const d = t.storage.data;
  if (!d) throw t.storage.disposed ? disposedError('read') : new Error(`cpu kernel: tensor on backend '${t.backend}' has no host data`);
  return d;
}

/**
 * The elements of `t`, broadcast to `shape` (default: its own), as a row-major array of `dtype` (default: its
 * own). Returns a subarray without copying when the layout already is row-major and no conversion is needed.
 */
export function readAs(t: Tensor, shape: Shape = t.shape, dtype: DType = t.dtype): TypedArray {
  const src = host(t);
  const n = sizeOf(shape);
  const strides = broadcastStrides(t.shape, t.strides, shape);
  if (dtype === t.dtype && n === t.size && isContiguous(shape, strides)) {
    return src.subarray(t.offset, t.offset + n) as TypedArray;
  }
  const out = allocArray(dtype, n);
  const toBool = dtype === 'bool';
  const nd = shape.length;
  if (n === 0) return out;
  if (nd === 0) {
    out[0] = toBool ? (src[t.offset] !== 0 ? 1 : 0) : src[t.offset]!;
    return out;
  }
  // Odometer over all but the last axis; the last axis is a strided inner loop.
  const inner = shape[nd - 1]!;
  const innerStride = strides[nd - 1]!;
  const idx = new Array<number>(nd - 1).fill(0);
  let base = t.offset;
  let o = 0;
  for (;;) {
    let p = base;
    if (toBool) for (let k = 0; k < inner; k++, p += innerStride) out[o++] = src[p] !== 0 ? 1 : 0; // NaN is true, as in NumPy
    else for (let k = 0; k < inner; k++, p += innerStride) out[o++] = src[p]!;
    let ax = nd - 2;
    for (; ax >= 0; ax--) {
      idx[ax]!++;
      base += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      base -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
    if (ax < 0) break;
  }
  return out;
}
