/** Reductions over any set of axes, with keepdims. */
import { findKernel } from '../backend.js';
import { arithmeticDType, floatDType } from '../dtype.js';
import { fmtShape, normalizeAxes, normalizeAxis, reducedShape, sizeOf, TensorError } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { add, div, exp, log, sqrt, square, sub, where } from './elementwise.js';
import { reshape } from './movement.js';

// reducedShape (pure shape arithmetic) lives in shape.ts, below the kernels that use it.
export { reducedShape } from '../shape.js';

function reduceOp(op: 'sum' | 'max' | 'min', t: Tensor, axes: number | readonly number[] | undefined, keepdims: boolean): Tensor {
  const ax = normalizeAxes(op, axes, t.ndim);
  if (op !== 'sum') {
    for (const a of ax) if (t.shape[a] === 0) throw new TensorError(op, `cannot reduce over axis ${a} of size 0 (shape ${fmtShape(t.shape)})`);
  }
  const dtype = op === 'sum' ? arithmeticDType(t.dtype) : t.dtype;
  const out = findKernel(op, [t]).fn([t], { axes: ax, keepdims, dtype });
  return record(op, [t], { axes: ax, keepdims }, out);
}

/** Sum (float32 inputs accumulate in float64 on cpu; int32 and bool give int32). */
export function sum(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('sum', t, axes, keepdims);
}
export function max(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('max', t, axes, keepdims);
}
export function min(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('min', t, axes, keepdims);
}

function countOf(t: Tensor, axes: number | readonly number[] | undefined, op: string): number {
  return sizeOf(normalizeAxes(op, axes, t.ndim).map((a) => t.shape[a]!));
}

export function mean(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const n = countOf(t, axes, 'mean');
  if (n === 0) throw new TensorError('mean', `mean over zero elements (shape ${fmtShape(t.shape)})`);
  const s = sum(t.dtype === 'float64' ? t : t.astype(floatDType(t.dtype)), axes, keepdims);
  return div(s, n);
}

/** Variance with Bessel's correction by default (correction = 1, like torch.var). */
export function variance(t: Tensor, axes?: number | readonly number[], opts: { correction?: number; keepdims?: boolean } = {}): Tensor {
  const correction = opts.correction ?? 1;
  const n = countOf(t, axes, 'var');
  if (n - correction <= 0) throw new TensorError('var', `needs more than ${correction} elements per reduction, got ${n} (shape ${fmtShape(t.shape)})`);
  const x = t.astype(floatDType(t.dtype));
  const centered = sub(x, mean(x, axes, true));
  return div(sum(square(centered), axes, opts.keepdims ?? false), n - correction);
}

export function std(t: Tensor, axes?: number | readonly number[], opts: { correction?: number; keepdims?: boolean } = {}): Tensor {
  return sqrt(variance(t, axes, opts));
}

/** log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))), m the (detached) max. */
export function logsumexp(t: Tensor, axes?: number | readonly number[], keepdims = false): Tensor {
  const x = t.astype(floatDType(t.dtype));
  const ax = normalizeAxes('logsumexp', axes, t.ndim);
  const mRaw = max(x.detach(), ax, true);
  // A row whose max is infinite would give NaN from inf - inf: shift it by 0 instead (the sum is then 0 or inf).
  const m = where(mRaw.abs().lt(Infinity), mRaw, 0);
  const s = log(sum(exp(sub(x, m)), ax, true));
  const out = add(s, m);
  return keepdims ? out : reshape(out, reducedShape(t.shape, ax, false));
}

function argReduce(op: 'argmax' | 'argmin', t: Tensor, axis: number | undefined, keepdims: boolean): Tensor {
  if (axis === undefined) {
    if (t.size === 0) throw new TensorError(op, 'empty tensor');
    const flat = reshape(t.detach(), [t.size]);
    const r = findKernel(op, [flat]).fn([flat], { axis: 0, keepdims: false });
    return keepdims ? reshape(r, t.shape.map(() => 1)) : r;
  }
  const a = normalizeAxis(op, axis, t.ndim);
  if (t.shape[a] === 0) throw new TensorError(op, `axis ${a} has size 0`);
  return findKernel(op, [t]).fn([t], { axis: a, keepdims });
}

/** Index of the largest value along an axis (first on ties; NaN counts as largest), int32. */
export function argmax(t: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmax', t, axis, keepdims);
}
export function argmin(t: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmin', t, axis, keepdims);
}

