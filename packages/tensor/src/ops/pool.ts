/** 2-D pooling and nearest upsampling over [N, C, H, W]. */
import { findKernel } from '../backend.js';
import { isFloating } from '../dtype.js';
import { fmtShape, poolGeometry, TensorError, type PoolGeometry, type PoolOptions } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { reshape, expand } from './movement.js';

// The geometry (pure shape arithmetic) lives in shape.ts, below the kernels that read it.
export { poolGeometry, type PoolGeometry, type PoolOptions } from '../shape.js';

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
