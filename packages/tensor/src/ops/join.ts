/** Joining and splitting: concat, stack, split, and constant padding. */
import { findKernel } from '../backend.js';
import { promoteTypes } from '../dtype.js';
import { fmtShape, normalizeAxis, TensorError } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { narrow, unsqueeze } from './movement.js';

export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TensorError('concat', 'needs a non-empty array of tensors');
  const first: Tensor = tensors[0]!;
  const a = normalizeAxis('concat', axis, first.ndim);
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new TensorError('concat', 'every element must be a Tensor');
    if (t.ndim !== first.ndim || t.shape.some((d: number, i: number) => i !== a && d !== first.shape[i])) {
      throw new TensorError('concat', `shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  if (tensors.length === 1) return first;
  const sizes = tensors.map((t) => t.shape[a]!);
  const dtype = tensors.map((t) => t.dtype).reduce(promoteTypes);
  const shape = first.shape.map((d, i) => (i === a ? sizes.reduce((x, y) => x + y, 0) : d));
  const out = findKernel('concat', tensors).fn([...tensors], { axis: a, shape, dtype });
  return record('concat', tensors, { axis: a, sizes }, out);
}

export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new TensorError('stack', 'needs a non-empty array of tensors');
  const shape = tensors[0]!.shape;
  for (const t of tensors) {
    if (t.ndim !== shape.length || t.shape.some((d: number, i: number) => d !== shape[i])) {
      throw new TensorError('stack', `all shapes must be equal, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
    }
  }
  const a = normalizeAxis('stack', axis, shape.length + 1);
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Splits into pieces of `sizes` (array) or equal pieces of `size` (number; the last may be smaller). Views. */
export function split(t: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normalizeAxis('split', axis, t.ndim);
  const dim = t.shape[a]!;
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1) throw new TensorError('split', `size must be a positive integer, got ${sizes}`);
    parts = [];
    for (let s = 0; s < dim; s += sizes) parts.push(Math.min(sizes, dim - s));
  } else {
    parts = [...sizes];
    if (parts.some((s) => !Number.isInteger(s) || s < 0) || parts.reduce((x, y) => x + y, 0) !== dim) {
      throw new TensorError('split', `sizes ${fmtShape(parts)} must be non-negative integers summing to ${dim} (axis ${a} of ${fmtShape(t.shape)})`);
    }
  }
  let start = 0;
  return parts.map((s) => {
    const piece = narrow(t, a, start, s);
    start += s;
    return piece;
  });
}

/**
 * Constant padding. `pads` lists [before, after] pairs starting from the LAST axis, like torch.nn.functional.pad:
 * pad(x, [1, 1, 2, 2]) pads the last axis by 1 on each side and the one before it by 2.
 */
export function pad(t: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > t.ndim) {
    throw new TensorError('pad', `pads must hold [before, after] pairs for at most ${t.ndim} axes, got ${fmtShape(pads)}`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) throw new TensorError('pad', `pads must be non-negative integers, got ${fmtShape(pads)}`);
  const before = new Array<number>(t.ndim).fill(0);
  const after = new Array<number>(t.ndim).fill(0);
  for (let i = 0; i < pads.length / 2; i++) {
    before[t.ndim - 1 - i] = pads[2 * i]!;
    after[t.ndim - 1 - i] = pads[2 * i + 1]!;
  }
  const shape = t.shape.map((d, i) => d + before[i]! + after[i]!);
  const out = findKernel('pad', [t]).fn([t], { before, shape, value });
  return record('pad', [t], { before }, out);
}
