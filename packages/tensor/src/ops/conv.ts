/**
 * 2-D convolution (cross-correlation, as in PyTorch) with stride, padding, dilation and groups, and the two
 * kernels its gradient needs. Layouts: input [N, C, H, W], weight [O, C / groups, kH, kW], output [N, O, H', W'],
 * H' = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1.
 */
import { findKernel } from '../backend.js';
import { isFloating, promoteTypes } from '../dtype.js';
import { fmtShape, TensorError } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { reshape } from './movement.js';

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

/** Fully resolved convolution geometry, passed to every conv kernel. */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

function pair(op: string, name: string, v: number | readonly [number, number] | undefined, dflt: number, min: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new TensorError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p as [number, number];
}

export function convGeometry(op: string, inputShape: readonly number[], weightShape: readonly number[], opts: Conv2dOptions): ConvGeometry {
  if (inputShape.length !== 4) throw new TensorError(op, `input must be [N, C, H, W], got ${fmtShape(inputShape)}`);
  if (weightShape.length !== 4) throw new TensorError(op, `weight must be [O, C/groups, kH, kW], got ${fmtShape(weightShape)}`);
  const [n, c, h, w] = inputShape as [number, number, number, number];
  const [o, cg, kh, kw] = weightShape as [number, number, number, number];
  if (kh < 1 || kw < 1) throw new TensorError(op, `kernel must be at least 1x1, got weight ${fmtShape(weightShape)}`);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new TensorError(op, `groups must be a positive integer, got ${groups}`);
  if (c % groups !== 0 || o % groups !== 0) throw new TensorError(op, `channels in (${c}) and out (${o}) must be divisible by groups (${groups})`);
  if (cg !== c / groups) {
    throw new TensorError(op, `weight ${fmtShape(weightShape)} expects ${cg * groups} input channels with groups=${groups}, input ${fmtShape(inputShape)} has ${c}`);
  }
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) {
    throw new TensorError(op, `kernel ${kh}x${kw} (dilation ${dh}x${dw}) does not fit the padded input ${h + 2 * ph}x${w + 2 * pw}`);
  }
  return { n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups };
}

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
