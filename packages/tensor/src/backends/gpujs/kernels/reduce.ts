/**
 * Reductions (sum, max, min over any axes) and softmax / log-softmax on the device.
 *
 * One thread per output element loops over the reduced elements. When there are few outputs and many reduced
 * elements (a full sum of a large tensor), one thread per output would be serial work, so the reduction runs in
 * two passes: each of ~sqrt(n) threads per output reduces a chunk of ~sqrt(n) elements, then a second pass
 * reduces the partial results. Accumulation is float32 (what the device has); chunking also bounds its error
 * growth to about 2 sqrt(n) eps instead of n eps.
 */
import { contiguousStrides, reducedShape, sizeOf } from '../../../shape.js';
import { Tensor } from '../../../tensor.js';
import { disposeTensor } from '../memory.js';
import { address, divmod, kernelSource, Names, unravel } from '../codegen.js';
import { deviceCanRun, type Device, type DeviceKernel, type DeviceKernelTable } from './device.js';

type Combine = 'sum' | 'max' | 'min';
const COMBINE: Record<Combine, (acc: string, v: string) => string> = {
  sum: (acc, v) => `${acc} + ${v}`,
  max: (acc, v) => `Math.max(${acc}, ${v})`,
  min: (acc, v) => `Math.min(${acc}, ${v})`,
};

/** Splits inner reductions longer than this when there are few outputs. */
const SPLIT_INNER = 4096;
const SPLIT_MAX_OUTER = 1024;

/**
 * Reduces `t` over `axes` into `chunks` partial results per output (chunks = 1: the final result).
 * The output is contiguous with the kept axes in order, `chunks` innermost.
 */
function reducePass(dev: Device, t: Tensor, axes: readonly number[], op: Combine, chunks: number): Tensor {
  const kept = t.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => t.shape[i]!);
  const redShape = axes.map((i) => t.shape[i]!);
  const inner = sizeOf(redShape);
  const chunk = Math.ceil(inner / chunks);
  const names = new Names();
  const body: string[] = [];
  let outIndex = 'this.thread.x';
  let chunkIndex = '0';
  if (chunks > 1) {
    const d = divmod(names, 'this.thread.x', chunks);
    body.push(...d.code);
    outIndex = d.q;
    chunkIndex = d.m;
  }
  const k = unravel(names, outIndex, keptShape);
  body.push(...k.code, `var base = ${address(t.offset, k.idx, kept.map((i) => t.strides[i]!))};`);
  const readAt = (j: string, into: string): string[] => {
    const r = unravel(names, j, redShape);
    return [...r.code, `var ${into} = a[base + ${address(0, r.idx, axes.map((i) => t.strides[i]!))}];`];
  };
  const first = chunks > 1 ? `${chunkIndex} * ${chunk}` : '0';
  body.push(...readAt(first, 'v0'), 'var acc = v0;');
  const ragged = chunks * chunk !== inner;
  if (chunk > 1) {
    // The last chunk may be short: its threads skip the indices past the end.
    const step = [...readAt('j', 'v'), `acc = ${COMBINE[op]('acc', 'v')};`];
    body.push(`for (var kk = 1; kk < ${chunk}; kk++) {`, `var j = ${first} + kk;`);
    body.push(...(ragged ? [`if (j < ${inner}) {`, ...step, '}'] : step));
    body.push('}');
  }
  body.push('return acc;');
  return dev.run(kernelSource(['a'], body), [...keptShape, ...(chunks > 1 ? [chunks] : [])], [t]);
}

function reduceKernel(op: Combine): DeviceKernel<'sum' | 'max' | 'min'> {
  return (dev, [t], { axes, keepdims, dtype }) => {
    if (dtype !== 'float32' || !deviceCanRun(1, t!)) return null;
    const outShape = reducedShape(t!.shape, axes, keepdims);
    const inner = sizeOf(axes.map((a: number) => t!.shape[a]!));
    const outer = sizeOf(outShape);
    let result: Tensor;
    if (inner >= SPLIT_INNER && outer <= SPLIT_MAX_OUTER) {
      const chunks = Math.ceil(Math.sqrt(inner));
      const partial = reducePass(dev, t!, axes, op, chunks);
      const keptRank = partial.ndim - 1;
      result = reducePass(dev, partial, [keptRank], op, 1);
      disposeTensor(partial);
    } else {
      result = reducePass(dev, t!, axes, op, 1);
    }
    return reshapeContiguous(result, outShape);
  };
}

/** A contiguous tensor viewed with another shape of the same size (no copy). */
function reshapeContiguous(t: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(t.storage, shape);
}

/** softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j; log-softmax = x_i - m - log sum. */
function softmaxKernel(log: boolean): DeviceKernel<'softmax' | 'logSoftmax'> {
  return (dev, [x], { axis, dtype }) => {
    if (dtype !== 'float32' || !deviceCanRun(x!.size, x!)) return null;
    const keptShape = x!.shape.map((d, i) => (i === axis ? 1 : d));
    const m = reduceKernel('max')(dev, [x!], { axes: [axis], keepdims: true, dtype })!;
    // sum_j exp(x_j - m), one thread per row; m is contiguous in the kept axes, so its index is the thread's.
    const names = new Names();
    const kept = x!.shape.map((_, i) => i).filter((i) => i !== axis);
    const k = unravel(names, 'this.thread.x', kept.map((i) => x!.shape[i]!));
    const base = address(x!.offset, k.idx, kept.map((i) => x!.strides[i]!));
    const n = x!.shape[axis]!;
    const sumBody = [
      ...k.code,
      `var base = ${base};`,
      'var mx = m[this.thread.x];',
      'var acc = 0.0;',
      `for (var kk = 0; kk < ${n}; kk++) {`,
      `  acc = acc + Math.exp(a[base + kk * ${x!.strides[axis]!}] - mx);`,
      '}',
      'return acc;',
    ];
    const s = dev.run(kernelSource(['a', 'm'], sumBody), keptShape, [x!, m]);
    // The final map over x; m and s are read with stride 0 along the axis.
    const names2 = new Names();
    const u = unravel(names2, 'this.thread.x', x!.shape);
    const rowStrides = contiguousStrides(keptShape).map((st, i) => (i === axis ? 0 : st));
    const row = address(0, u.idx, rowStrides);
    const body = [
      ...u.code,
      `var v = a[${address(x!.offset, u.idx, x!.strides)}] - m[${row}];`,
      log ? `return v - Math.log(s[${row}]);` : `return Math.exp(v) / s[${row}];`,
    ];
    const out = dev.run(kernelSource(['a', 'm', 's'], body), x!.shape, [x!, m, s]);
    disposeTensor(m, s);
    return out;
  };
}

export const reduceDeviceKernels = {
  sum: reduceKernel('sum'),
  max: reduceKernel('max'),
  min: reduceKernel('min'),
  softmax: softmaxKernel(false),
  logSoftmax: softmaxKernel(true),
} satisfies DeviceKernelTable;
