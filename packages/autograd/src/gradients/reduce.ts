/** Gradients of sum/max/min reductions and of the fused softmax and log-softmax. */
import { cast, div, eq, exp, expand, mul, reshape, sub, sum, where, type Tensor } from '@oclt/tensor';
import type { GradientEntries } from './types.js';
import { keptShape } from './util.js';

/** Brings a reduction's output gradient back to the input's rank (size-1 reduced axes), then broadcasts it. */
function spread(dy: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return expand(reshape(dy, keptShape(x.shape, axes)), x.shape);
}

/**
 * max/min: the gradient flows to the elements equal to the extreme value; ties share it evenly
 * (like torch.amax), so the result is a valid subgradient either way.
 */
function extremeGradient(dy: Tensor, x: Tensor, y: Tensor, axes: readonly number[]): Tensor {
  const kept = keptShape(x.shape, axes);
  const winners = eq(x, reshape(y, kept));
  const count = sum(cast(winners, 'int32'), axes, true);
  return where(winners, div(reshape(dy, kept), count), 0);
}

export const reduceGradients = {
  sum: (dy, { inputs: [x], attrs: { axes } }) => [spread(dy, x!, axes)],
  max: (dy, { inputs: [x], output, attrs: { axes } }) => [extremeGradient(dy, x!, output, axes)],
  min: (dy, { inputs: [x], output, attrs: { axes } }) => [extremeGradient(dy, x!, output, axes)],
  // y = softmax(x): dx = y * (dy - sum(dy * y)) along the axis
  softmax: (dy, { output: y, attrs: { axis } }) => [mul(y, sub(dy, sum(mul(dy, y), axis, true)))],
  // y = logSoftmax(x): dx = dy - softmax(x) * sum(dy), and softmax(x) = exp(y)
  logSoftmax: (dy, { output: y, attrs: { axis } }) => [sub(dy, mul(exp(y), sum(dy, axis, true)))],
} satisfies GradientEntries;
