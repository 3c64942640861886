/**
 * Kernel operands: a float32 tensor as an array plus element strides over the shape the kernel iterates (0 on
 * broadcast axes), read where it lies when its layout allows (no copy at all for storage in the kernels' memory).
 */
import { broadcastStrides, contiguousStrides } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { host, readAs } from '../layout.js';
import { isHeapArray } from './heap.js';

export interface Operand {
  data: ArrayLike<number>;
  /** Element strides over the output's shape (0 on broadcast axes). */
  strides: number[];
}

/** The operand as a row-major float32 array (a strided copy unless it already is one). */
export function rowMajor(t: Tensor, shape: readonly number[]): Operand {
  return { data: readAs(t, t.shape, 'float32'), strides: broadcastStrides(t.shape, contiguousStrides(t.shape), shape) };
}

/**
 * A float32 view read where it lies: the span of storage it covers, with its own strides (no copy at all when the
 * storage is in the kernels' memory). Views with negative strides are made row-major, and so are views outside that
 * memory that are sparse in their span (copying the span would cost more than gathering the view).
 */
export function inPlace(t: Tensor, shape: readonly number[]): Operand {
  if (t.dtype !== 'float32' || t.strides.some((st) => st < 0)) return rowMajor(t, shape);
  const extent = 1 + t.shape.reduce((e, d, i) => e + (d - 1) * t.strides[i]!, 0);
  const all = host(t);
  if (extent > 2 * t.size && !isHeapArray(all)) return rowMajor(t, shape);
  return { data: all.subarray(t.offset, t.offset + extent), strides: broadcastStrides(t.shape, t.strides, shape) };
}
