/** Batched matrix multiplication with NumPy semantics (1-D operands are promoted, batch axes broadcast). */
import { findKernel } from '../backend.js';
import { arithmeticDType, promoteTypes } from '../dtype.js';
import { broadcastShapes, fmtShape, TensorError } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { reshape } from './movement.js';

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new TensorError('matmul', 'both operands must be Tensors');
  if (a.ndim === 0 || b.ndim === 0) throw new TensorError('matmul', `operands must have at least one axis, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const [m, k] = a2.shape.slice(-2) as [number, number];
  const [k2, n] = b2.shape.slice(-2) as [number, number];
  if (k !== k2) {
    throw new TensorError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} != ${k2})`);
  }
  const batch = broadcastShapes('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const dtype = arithmeticDType(promoteTypes(a.dtype, b.dtype));
  const out = record('matmul', [a2, b2], {}, findKernel('matmul', [a2, b2]).fn([a2, b2], { batch, m, n, k, dtype }));
  if (a.ndim === 1 && b.ndim === 1) return reshape(out, []);
  if (a.ndim === 1) return reshape(out, [...batch, n]);
  if (b.ndim === 1) return reshape(out, [...batch, m]);
  return out;
}
