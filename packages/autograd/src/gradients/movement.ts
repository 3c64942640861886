/**
 * Gradients of views, copies, joins and indexing. A view's gradient is the inverse movement of the output
 * gradient: reshape back, permute by the inverse permutation, flip again, sum away an expand, and put a slice's
 * gradient back in place among zeros (built with flip, pad and reshape only, so it works on any backend).
 */
import { flip, gather, narrow, pad, permute, reshape, scatterAdd, slice, zeros, type NormalizedSlice, type Tensor } from '@oclt/tensor';
import type { GradientEntries } from './types.js';
import { sumToShape } from './util.js';

/** Pads only axis `axis` of `t` by [before, after] (pad() lists pairs from the last axis). */
function padAxis(t: Tensor, axis: number, before: number, after: number): Tensor {
  if (before === 0 && after === 0) return t;
  const pads = new Array<number>(2 * (t.ndim - axis)).fill(0);
  pads[pads.length - 2] = before;
  pads[pads.length - 1] = after;
  return pad(t, pads);
}

/**
 * The gradient of slice: dy goes to the positions the slice read, zeros elsewhere. Per axis with step s:
 * a negative step is a flip of a positive one; s > 1 spreads dy apart by interleaving s - 1 zeros
 * (a new axis of size 1 padded to s, then merged); finally zeros are padded before and after.
 */
function unslice(dy: Tensor, slices: readonly NormalizedSlice[], shape: readonly number[]): Tensor {
  if (slices.some((s) => s.length === 0)) return zeros(shape, dy.dtype);
  let g = dy;
  slices.forEach(({ start, step, length }, axis) => {
    const dim = shape[axis]!;
    if (step === 1 && start === 0 && length === dim) return;
    let first = start;
    if (step < 0) {
      g = flip(g, axis);
      first = start + (length - 1) * step;
    }
    const stride = Math.abs(step);
    if (stride > 1) {
      const gs = g.shape;
      const withGap = padAxis(reshape(g, [...gs.slice(0, axis), length, 1, ...gs.slice(axis + 1)]), axis + 1, 0, stride - 1);
      g = narrow(reshape(withGap, [...gs.slice(0, axis), length * stride, ...gs.slice(axis + 1)]), axis, 0, (length - 1) * stride + 1);
    }
    const span = (length - 1) * stride + 1;
    g = padAxis(g, axis, first, dim - first - span);
  });
  return g;
}

export const movementGradients = {
  reshape: (dy, { attrs: { shape } }) => [reshape(dy, shape)],
  permute: (dy, { attrs: { axes } }) => {
    const inverse = new Array<number>(axes.length);
    axes.forEach((a: number, i: number) => (inverse[a] = i));
    return [permute(dy, inverse)];
  },
  expand: (dy, { attrs: { shape } }) => [sumToShape(dy, shape)],
  slice: (dy, { attrs: { slices, shape } }) => [unslice(dy, slices, shape)],
  flip: (dy, { attrs: { axes } }) => [flip(dy, axes)],
  clone: (dy) => [dy],
  concat: (dy, { inputs, attrs: { axis, sizes }, needs }) => {
    let start = 0;
    return inputs.map((_, i) => {
      const piece = needs[i] ? narrow(dy, axis, start, sizes[i]) : null;
      start += sizes[i];
      return piece;
    });
  },
  pad: (dy, { inputs: [x], attrs: { before } }) => [slice(dy, x!.shape.map((d, i) => [before[i], before[i] + d, 1] as const))],
  // gather reads x at the index; its gradient adds dy back at the same positions (repeats accumulate).
  gather: (dy, { inputs: [x, index], attrs: { axis } }) => [scatterAdd(zeros(x!.shape, dy.dtype), axis, index!, dy), null],
  // scatterAdd(x, index, src) = x + (src scattered): x gets dy; src gets dy read back at the index
  // (src may be larger than the index on some axes; those elements were unused and get zeros).
  scatterAdd: (dy, { inputs: [, index, src], attrs: { axis }, needs }) => {
    if (!needs[2]) return [dy, null, null];
    const picked = gather(dy, axis, index!);
    const pads: number[] = [];
    for (let i = src!.ndim - 1; i >= 0; i--) pads.push(0, src!.shape[i]! - picked.shape[i]!);
    return [dy, null, pad(picked, pads)];
  },
} satisfies GradientEntries;
