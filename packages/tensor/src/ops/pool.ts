/** 2-D pooling and nearest upsampling over [N, C, H, W]. */
import { findKernel } from '../backend.js';
import { isFloating } from '../dtype.js';
import { fmtShape, TensorError } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { reshape, expand } from './movement.js';

export interface PoolOptions {
  kernel: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
}

export interface PoolGeometry {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  oh: number; ow: number;
}

export function poolGeometry(op: string, shape: readonly number[], opts: PoolOptions): PoolGeometry {
  if (shape.length !== 4) throw new TensorError(op, `input must be [N, C, H, W], got ${fmtShape(shape)}`);
  const asPair = (name: string, v: unknown, min: number): [number, number] => {
    const p = typeof v === 'number' ? [v, v] : (v as number[]);
    if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
      throw new TensorError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
    }
    return p as [number, number];
  };
  const [kh, kw] = asPair('kernel', opts.kernel, 1);
  const [sh, sw] = asPair('stride', opts.stride ?? [kh, kw], 1);
  const [ph, pw] = asPair('padding', opts.padding ?? 0, 0);
  if (ph * 2 > kh || pw * 2 > kw) throw new TensorError(op, `padding ${ph}x${pw} must be at most half the kernel ${kh}x${kw}`);
  const [n, c, h, w] = shape as [number, number, number, number];
  // With padding, an empty image would still get windows, but with no cells to pool.
  if (h < 1 || w < 1) throw new TensorError(op, `input image is empty: ${fmtShape(shape)}`);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) throw new TensorError(op, `kernel ${kh}x${kw} does not fit the padded input ${h + 2 * ph}x${w + 2 * pw}`);
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow };
}

function floatInput(op: string, t: Tensor): void {
  if (!isFloating(t.dtype)) throw new TensorError(op, `needs a floating tensor, got ${t.dtype}`);
}

/** Max pooling; padded positions never win (they count as -Infinity). */
export function maxPool2d(x: Tensor, opts: PoolOptions): Tensor {
  floatInput('maxPool2d', x);
  const geo = poolGeometry('maxPool2d', x.shape, opts);
  return record('maxPool2d', [x], { geo }, findKernel('maxPool2d', [x]).fn([x], { geo }));
}

/** Average pooling; padded zeros count in the divisor (PyTorch's count_include_pad=True). */
export function avgPool2d(x: Tensor, opts: PoolOptions): Tensor {
  floatInput('avgPool2d', x);
  const geo = poolGeometry('avgPool2d', x.shape, opts);
  return record('avgPool2d', [x], { geo }, findKernel('avgPool2d', [x]).fn([x], { geo }));
}

/** The kernels index by the geometry: a tensor of another shape would be read out of bounds. */
function checkShapeIs(op: string, what: string, t: Tensor, want: readonly number[]): void {
  if (t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) throw new TensorError(op, `${what} must have shape ${fmtShape(want)} (the geometry's), got ${fmtShape(t.shape)}`);
}

/** Routes each output gradient to the input position that won the max (first on ties). */
export function maxPool2dBackward(x: Tensor, dy: Tensor, geo: PoolGeometry): Tensor {
  checkShapeIs('maxPool2dBackward', 'input', x, [geo.n, geo.c, geo.h, geo.w]);
  checkShapeIs('maxPool2dBackward', 'output gradient', dy, [geo.n, geo.c, geo.oh, geo.ow]);
  return findKernel('maxPool2dBackward', [x, dy]).fn([x, dy], { geo });
}

/** Spreads each output gradient evenly over its window. */
export function avgPool2dBackward(dy: Tensor, geo: PoolGeometry): Tensor {
  checkShapeIs('avgPool2dBackward', 'output gradient', dy, [geo.n, geo.c, geo.oh, geo.ow]);
  return record('avgPool2dBackward', [dy], { geo }, findKernel('avgPool2dBackward', [dy]).fn([dy], { geo }));
}

/** Nearest-neighbour upsampling by an integer factor: a broadcast view, then one copy. */
export function upsampleNearest2d(x: Tensor, scale: number | readonly [number, number]): Tensor {
  const [sh, sw] = typeof scale === 'number' ? [scale, scale] : scale;
  if (x.ndim !== 4) throw new TensorError('upsampleNearest2d', `input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (!Number.isInteger(sh) || !Number.isInteger(sw) || sh < 1 || sw < 1) {
    throw new TensorError('upsampleNearest2d', `scale must be a positive integer or a pair of them, got ${JSON.stringify(scale)}`);
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const big = expand(reshape(x, [n, c, h, 1, w, 1]), [n, c, h, sh, w, sw]);
  return reshape(big, [n, c, h * sh, w * sw]);
}
