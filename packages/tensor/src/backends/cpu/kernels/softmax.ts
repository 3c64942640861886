/** Reference softmax / log-softmax: rows along the axis, max-subtracted, float64 accumulation. */
import { allocArray } from '../../../dtype.js';
import { asContiguous, fromTypedArray, permuteView } from '../../../kernel-util.js';
import type { Tensor } from '../../../tensor.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { rowsOf } from './reduce.js';

function softmaxKernel(log: boolean): KernelFn<'softmax' | 'logSoftmax'> {
  return ([t], { axis, dtype }) => {
    const x = t as Tensor;
    const { data, outer, inner } = rowsOf(x, [axis]);
    const out = allocArray(dtype, outer * inner);
    for (let r = 0; r < outer; r++) {
      const base = r * inner;
      let m = -Infinity;
      for (let k = 0; k < inner; k++) m = Math.max(m, data[base + k]!);
      if (m === -Infinity) m = 0;
      let s = 0;
      for (let k = 0; k < inner; k++) s += Math.exp(data[base + k]! - m);
      if (log) {
        // (x - m) - log(s), not x - (m + log(s)): the latter loses the low bits of log(s) when |m| is large.
        const ls = Math.log(s);
        for (let k = 0; k < inner; k++) out[base + k] = data[base + k]! - m - ls;
      } else {
        for (let k = 0; k < inner; k++) out[base + k] = Math.exp(data[base + k]! - m) / s;
      }
    }
    // Rows were laid out with the axis last: move it back.
    const kept = x.shape.map((_, i) => i).filter((i) => i !== axis);
    const permutedShape = [...kept.map((i) => x.shape[i]!), x.shape[axis]!];
    const inverse = new Array<number>(x.ndim);
    [...kept, axis].forEach((src, dst) => (inverse[src] = dst));
    return asContiguous(permuteView(fromTypedArray(out, permutedShape), inverse));
  };
}

export const softmaxKernels = {
  softmax: softmaxKernel(false),
  logSoftmax: softmaxKernel(true),
} satisfies Partial<KernelTable>;
