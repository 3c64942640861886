/** Softmax and log-softmax along one axis, computed stably (max subtracted) in one fused kernel each. */
import { findKernel } from '../backend.js';
import { floatDType } from '../dtype.js';
import { normalizeAxis } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';

function softmaxOp(op: 'softmax' | 'logSoftmax', t: Tensor, axis: number): Tensor {
  const a = normalizeAxis(op, axis, t.ndim);
  const out = findKernel(op, [t]).fn([t], { axis: a, dtype: floatDType(t.dtype) });
  return record(op, [t], { axis: a }, out);
}

export function softmax(t: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', t, axis);
}
export function logSoftmax(t: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', t, axis);
}
