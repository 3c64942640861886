/** Reference reductions: move the reduced axes last, read row-major, reduce each contiguous run. */
import { allocArray, type DType } from '../../../dtype.js';
import { reducedShape, sizeOf } from '../../../shape.js';
import { fromTypedArray, permuteView } from '../../../kernel-util.js';
import type { Tensor } from '../../../tensor.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { readAs } from '../layout.js';

/**
 * The input viewed with the kept axes first and the reduced axes last: `outer` rows of `inner` elements. `axes` are
 * normalised, as ops pass them to kernels.
 */
export function rowsView(t: Tensor, axes: readonly number[]): { view: Tensor; outer: number; inner: number } {
  const kept = t.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const view = permuteView(t, [...kept, ...axes]); // a new view, cut from the graph like t.detach()
  return { view, outer: sizeOf(kept.map((a) => t.shape[a]!)), inner: sizeOf(axes.map((a) => t.shape[a]!)) };
}

/** rowsView's rows as one row-major array. */
export function rowsOf(t: Tensor, axes: readonly number[], dtype: DType = t.dtype): { data: ArrayLike<number>; outer: number; inner: number } {
  const { view, outer, inner } = rowsView(t, axes);
  return { data: readAs(view, view.shape, dtype), outer, inner };
}

const sum: KernelFn<'sum'> = ([t], { axes, keepdims, dtype }) => {
  const { data, outer, inner } = rowsOf(t!, axes, t!.dtype === 'bool' ? 'int32' : t!.dtype);
  const out = allocArray(dtype, outer);
  for (let r = 0; r < outer; r++) {
    let s = 0; // float64 accumulation
    const base = r * inner;
    for (let k = 0; k < inner; k++) s += data[base + k]!;
    out[r] = s;
  }
  if (dtype === 'int32') for (let r = 0; r < outer; r++) out[r] = out[r]! | 0;
  return fromTypedArray(out, reducedShape(t!.shape, axes, keepdims));
};

function extremum(isMax: boolean): KernelFn<'max' | 'min'> {
  return ([t], { axes, keepdims, dtype }) => {
    const { data, outer, inner } = rowsOf(t!, axes);
    const out = allocArray(dtype, outer);
    for (let r = 0; r < outer; r++) {
      const base = r * inner;
      let m = data[base]!;
      for (let k = 1; k < inner && !Number.isNaN(m); k++) {
        const v = data[base + k]!;
        if (Number.isNaN(v) || (isMax ? v > m : v < m)) m = v;
      }
      out[r] = m;
    }
    return fromTypedArray(out, reducedShape(t!.shape, axes, keepdims));
  };
}

function argExtremum(isMax: boolean): KernelFn<'argmax' | 'argmin'> {
  return ([t], { axis, keepdims }) => {
    const { data, outer, inner } = rowsOf(t!, [axis]);
    const out = new Int32Array(outer);
    for (let r = 0; r < outer; r++) {
      const base = r * inner;
      let best = 0;
      let m = data[base]!;
      for (let k = 1; k < inner && !Number.isNaN(m); k++) {
        const v = data[base + k]!;
        if (Number.isNaN(v) || (isMax ? v > m : v < m)) {
          m = v;
          best = k;
        }
      }
      out[r] = best;
    }
    return fromTypedArray(out, reducedShape(t!.shape, [axis], keepdims));
  };
}

export const reduceKernels = {
  sum,
  max: extremum(true),
  min: extremum(false),
  argmax: argExtremum(true),
  argmin: argExtremum(false),
} satisfies Partial<KernelTable>;
