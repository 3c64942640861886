/**
 * 2-D convolution (cross-correlation, as in PyTorch) with stride, padding, dilation and groups, and the two
 * kernels its gradient needs. Layouts: input [N, C, H, W], weight [O, C / groups, kH, kW], output [N, O, H', W'],
 * H' = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.
 */
import { findKernel } from '../backend.js';
import { isFloating, promoteTypes } from '../dtype.js';
import { convGeometry, fmtShape, TensorError, type Conv2dOptions, type ConvGeometry } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { reshape } from './movement.js';

// The geometry (pure shape arithmetic) lives in shape.ts, below the kernels that read it.
export { convGeometry, type Conv2dOptions, type ConvGeometry } from '../shape.js';

function floatOperands(op: string, a: Tensor, b: Tensor): void {
  if (!isFloating(a.dtype) || !isFloating(b.dtype)) throw new TensorError(op, `needs floating tensors, got ${a.dtype} and ${b.dtype}`);
}

/** conv2d(x, weight, bias?) like torch.nn.functional.conv2d. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) throw new TensorError('conv2d', 'input and weight must be Tensors');
  floatOperands('conv2d', x, weight);
  const geo = convGeometry('conv2d', x.shape, weight.shape, opts);
  const dtype = promoteTypes(x.dtype, weight.dtype);
  const y = record('conv2d', [x, weight], { geo }, findKernel('conv2d', [x, weight]).fn([x, weight], { geo, dtype }));
  if (!bias) return y;
  if (bias.ndim !== 1 || bias.shape[0] !== geo.o) throw new TensorError('conv2d', `bias must have shape [${geo.o}], got ${fmtShape(bias.shape)}`);
  return add(y, reshape(bias, [1, geo.o, 1, 1]));
}

/** The gradient of conv2d with respect to its input: dy [N, O, H', W'] and weight -> dx [N, C, H, W]. */
export function conv2dBackwardInput(dy: Tensor, weight: Tensor, geo: ConvGeometry): Tensor {
  floatOperands('conv2dBackwardInput', dy, weight);
  checkDy('conv2dBackwardInput', dy, geo);
  checkShapeIs('conv2dBackwardInput', 'weight', weight, [geo.o, geo.c / geo.groups, geo.kh, geo.kw]);
  const dtype = promoteTypes(dy.dtype, weight.dtype);
  const out = findKernel('conv2dBackwardInput', [dy, weight]).fn([dy, weight], { geo, dtype });
  return record('conv2dBackwardInput', [dy, weight], { geo }, out);
}

/** The gradient of conv2d with respect to its weight: x and dy -> dw [O, C/groups, kH, kW]. */
export function conv2dBackwardWeight(x: Tensor, dy: Tensor, geo: ConvGeometry): Tensor {
  floatOperands('conv2dBackwardWeight', x, dy);
  checkDy('conv2dBackwardWeight', dy, geo);
  checkShapeIs('conv2dBackwardWeight', 'input', x, [geo.n, geo.c, geo.h, geo.w]);
  const dtype = promoteTypes(dy.dtype, x.dtype);
  const out = findKernel('conv2dBackwardWeight', [x, dy]).fn([x, dy], { geo, dtype });
  return record('conv2dBackwardWeight', [x, dy], { geo }, out);
}

function checkDy(op: string, dy: Tensor, g: ConvGeometry): void {
  checkShapeIs(op, 'output gradient', dy, [g.n, g.o, g.oh, g.ow]);
}

/** The kernels index by the geometry: a tensor of another shape would be read out of bounds. */
function checkShapeIs(op: string, what: string, t: Tensor, want: readonly number[]): void {
  if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) throw new TensorError(op, `${what} must have shape ${fmtShape(want)} (the geometry's), got ${fmtShape(t.shape)}`);
}
