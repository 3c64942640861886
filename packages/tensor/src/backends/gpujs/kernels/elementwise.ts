/**
 * Elementwise kernels on the device: unary maps, binary ops with NumPy broadcasting, and the strided copy that
 * makes views contiguous. Inputs are read through their own strides and offsets (broadcast axes have stride 0),
 * so views and broadcasts are never materialised first.
 */
import { broadcastStrides, sizeOf } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { address, kernelSource, Names, unravel } from '../codegen.js';
import { deviceCanRun, type DeviceKernel, type DeviceKernelTable } from './device.js';
import type { BinaryKernelName, UnaryKernelName } from '../../../kernel-names.js';

/**
 * float32 expressions of `x`. tanh is written with exp because GLSL ES 1.0 has none; the form
 * 1 - 2 / (e^{2x} + 1) saturates to +-1 instead of overflowing to NaN.
 */
export const UNARY_EXPRESSIONS: Partial<Record<UnaryKernelName, string>> = {
  neg: '-x',
  abs: 'Math.abs(x)',
  square: 'x * x',
  relu: 'Math.max(x, 0.0)',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1.0 / Math.sqrt(x)',
  reciprocal: '1.0 / x',
  sin: 'Math.sin(x)',
  cos: 'Math.cos(x)',
  tanh: '1.0 - 2.0 / (Math.exp(2.0 * x) + 1.0)',
  sigmoid: '1.0 / (1.0 + Math.exp(-x))',
  silu: 'x / (1.0 + Math.exp(-x))',
};

/** Binary float32 expressions of `x` and `y` (pow is left to cpu: GLSL's pow is undefined for x < 0). */
export const BINARY_EXPRESSIONS: Partial<Record<BinaryKernelName, string>> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  maximum: 'Math.max(x, y)',
  minimum: 'Math.min(x, y)',
};

/** Statements reading element `i` of the output `shape` from tensor `t` (broadcast) into variable `into`. */
export function readBroadcast(names: Names, param: string, t: Tensor, shape: readonly number[], idx: readonly string[], into: string): string {
  const strides = broadcastStrides(t.shape, t.strides, shape);
  return `var ${into} = ${param}[${address(t.offset, idx, strides)}];`;
}

function unaryKernel(expr: string): DeviceKernel<UnaryKernelName> {
  return (dev, [t], { dtype }) => {
    if (dtype !== 'float32' || !deviceCanRun(t!.size, t!)) return null;
    const names = new Names();
    const u = unravel(names, 'this.thread.x', t!.shape);
    const body = [...u.code, readBroadcast(names, 'a', t!, t!.shape, u.idx, 'x'), `return ${expr};`];
    return dev.run(kernelSource(['a'], body), t!.shape, [t!]);
  };
}

function binaryKernel(expr: string): DeviceKernel<BinaryKernelName> {
  return (dev, [a, b], { shape, dtype, computeDtype }) => {
    if (dtype !== 'float32' || computeDtype !== 'float32' || !deviceCanRun(sizeOf(shape), a!, b!)) return null;
    const names = new Names();
    const u = unravel(names, 'this.thread.x', shape);
    const body = [...u.code, readBroadcast(names, 'a', a!, shape, u.idx, 'x'), readBroadcast(names, 'b', b!, shape, u.idx, 'y'), `return ${expr};`];
    return dev.run(kernelSource(['a', 'b'], body), shape, [a!, b!]);
  };
}

/** A row-major copy of any view (what `contiguous()` and `clone()` run). */
const copy: DeviceKernel<'copy'> = (dev, [t]) => {
  if (!deviceCanRun(t!.size, t!)) return null;
  const names = new Names();
  const u = unravel(names, 'this.thread.x', t!.shape);
  const body = [...u.code, readBroadcast(names, 'a', t!, t!.shape, u.idx, 'x'), 'return x;'];
  return dev.run(kernelSource(['a'], body), t!.shape, [t!]);
};

export const elementwiseDeviceKernels: DeviceKernelTable = {
  ...(Object.fromEntries(Object.entries(UNARY_EXPRESSIONS).map(([k, e]) => [k, unaryKernel(e!)])) as { [N in UnaryKernelName]?: DeviceKernel<N> }),
  ...(Object.fromEntries(Object.entries(BINARY_EXPRESSIONS).map(([k, e]) => [k, binaryKernel(e!)])) as { [N in BinaryKernelName]?: DeviceKernel<N> }),
  copy,
};
