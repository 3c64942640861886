/**
 * Movement ops: views that share storage (reshape, permute, expand, slice, squeeze, unsqueeze, flip) and the two
 * that copy (contiguous, clone). Views are backend-independent: they only change shape, strides and offset.
 */
import { findKernel } from '../backend.js';
import { permuteView, sliceView, viewOf } from '../kernel-util.js';
import { broadcastShapes, checkShape, contiguousStrides, fmtShape, isContiguous, normalizeAxes, normalizeAxis, normalizeSlices, shapesEqual, sizeOf, TensorError, type SliceSpec } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';

// Slice specs and their normalisation (pure shape arithmetic) live in shape.ts, below the kernels that use them.
export { normalizeSlices, type NormalizedSlice, type SliceSpec } from '../shape.js';

/** Resolves one -1 in a target shape. */
function resolveShape(op: string, t: Tensor, shape: readonly number[]): number[] {
  const s = [...shape];
  const neg = s.filter((d) => d === -1).length;
  if (neg > 1) throw new TensorError(op, `only one dimension can be -1, got ${fmtShape(shape)}`);
  if (neg === 1) {
    const known = sizeOf(s.filter((d) => d !== -1));
    const i = s.indexOf(-1);
    if (known === 0 || t.size % known !== 0) throw new TensorError(op, `cannot reshape tensor of shape ${fmtShape(t.shape)} into ${fmtShape(shape)}`);
    s[i] = t.size / known;
  }
  checkShape(op, s);
  if (sizeOf(s) !== t.size) {
    throw new TensorError(op, `cannot reshape tensor of shape ${fmtShape(t.shape)} (${t.size} elements) into ${fmtShape(shape)} (${sizeOf(s)} elements)`);
  }
  return s;
}

/**
 * Strides for viewing (shape, strides) as newShape without copying, or null when impossible
 * (the NumPy algorithm: match groups of axes whose sizes multiply to the same number and are contiguous among themselves).
 */
function stridesForView(shape: readonly number[], strides: readonly number[], newShape: readonly number[]): number[] | null {
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== 1) {
      oldDims.push(shape[i]!);
      oldStrides.push(strides[i]!);
    }
  }
  if (sizeOf(newShape) === 0) return contiguousStrides(newShape);
  const out = new Array<number>(newShape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (oi < oldDims.length || ni < newShape.length) {
    // Skip size-1 new axes: any stride will do.
    if (ni < newShape.length && newShape[ni] === 1) {
      out[ni] = ni + 1 < newShape.length ? 0 : 1;
      ni++;
      continue;
    }
    if (oi >= oldDims.length || ni >= newShape.length) return null;
    let np = newShape[ni]!;
    let op = oldDims[oi]!;
    const oStart = oi;
    const nStart = ni;
    while (np !== op) {
      if (np < op) np *= newShape[++ni]!;
      else op *= oldDims[++oi]!;
      if (ni >= newShape.length || oi >= oldDims.length) return null;
    }
    for (let k = oStart; k < oi; k++) if (oldStrides[k] !== oldDims[k + 1]! * oldStrides[k + 1]!) return null;
    out[ni] = oldStrides[oi]!;
    for (let k = ni - 1; k >= nStart; k--) out[k] = out[k + 1]! * newShape[k + 1]!;
    oi++;
    ni++;
  }
  // Size-1 new axes get the stride that keeps them harmless.
  for (let k = newShape.length - 1; k >= 0; k--) if (newShape[k] === 1) out[k] = k + 1 < newShape.length ? out[k + 1]! * newShape[k + 1]! : 1;
  return out;
}

/** Reshape: a view when the layout allows, otherwise a contiguous copy (like torch.reshape). */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('reshape', t, shape);
  if (shapesEqual(s, t.shape)) return t;
  const strides = stridesForView(t.shape, t.strides, s);
  // No view exists for this layout: copy to row-major first (outside the graph; the reshape is recorded once).
  const out = strides ? viewOf(t, s, strides, t.offset) : viewOf(clone(t.detach()), s, contiguousStrides(s), 0);
  return record('reshape', [t], { shape: t.shape }, out);
}

/** Like reshape, but throws instead of copying (like torch.view). */
export function view(t: Tensor, shape: readonly number[]): Tensor {
  const s = resolveShape('view', t, shape);
  const strides = stridesForView(t.shape, t.strides, s);
  if (!strides) throw new TensorError('view', `tensor of shape ${fmtShape(t.shape)} and strides ${fmtShape(t.strides)} cannot be viewed as ${fmtShape(s)} without a copy; use reshape`);
  return record('reshape', [t], { shape: t.shape }, viewOf(t, s, strides, t.offset));
}

export function flatten(t: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (t.ndim === 0) return reshape(t, [1]);
  const a = normalizeAxis('flatten', startAxis, t.ndim);
  const b = normalizeAxis('flatten', endAxis, t.ndim);
  if (a > b) throw new TensorError('flatten', `startAxis ${startAxis} comes after endAxis ${endAxis}`);
  return reshape(t, [...t.shape.slice(0, a), sizeOf(t.shape.slice(a, b + 1)), ...t.shape.slice(b + 1)]);
}

export function permute(t: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== t.ndim) throw new TensorError('permute', `expected ${t.ndim} axes for a tensor of shape ${fmtShape(t.shape)}, got ${fmtShape(axes)}`);
  const ax = axes.map((a) => normalizeAxis('permute', a, t.ndim));
  if (new Set(ax).size !== ax.length) throw new TensorError('permute', `axes ${fmtShape(axes)} are not a permutation`);
  return record('permute', [t], { axes: ax }, permuteView(t, ax));
}

export function transpose(t: Tensor, a = -2, b = -1): Tensor {
  if (t.ndim < 2) throw new TensorError('transpose', `needs a tensor of rank >= 2, got shape ${fmtShape(t.shape)}`);
  const axes = [...t.shape.keys()];
  const i = normalizeAxis('transpose', a, t.ndim);
  const j = normalizeAxis('transpose', b, t.ndim);
  [axes[i], axes[j]] = [axes[j]!, axes[i]!];
  return permute(t, axes);
}

/** Broadcasts to `shape` without copying (stride 0 on expanded axes); -1 keeps a dimension. */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < t.ndim) throw new TensorError('expand', `cannot expand shape ${fmtShape(t.shape)} to fewer dimensions ${fmtShape(shape)}`);
  const lead = shape.length - t.ndim;
  const target = shape.map((d, i) => (d === -1 && i >= lead ? t.shape[i - lead]! : d));
  checkShape('expand', target);
  const strides = target.map((d, i) => {
    if (i < lead) return 0;
    const src = t.shape[i - lead]!;
    if (src === d) return t.strides[i - lead]!;
    if (src === 1) return 0;
    throw new TensorError('expand', `cannot expand shape ${fmtShape(t.shape)} to ${fmtShape(shape)}: dimension ${i} is ${src}, expected 1 or ${d}`);
  });
  if (shapesEqual(target, t.shape)) return t;
  return record('expand', [t], { shape: t.shape }, viewOf(t, target, strides, t.offset));
}

export function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  broadcastShapes('broadcastTo', t.shape, shape);
  return expand(t, shape);
}

export function slice(t: Tensor, specs: readonly SliceSpec[]): Tensor {
  const ns = normalizeSlices('slice', t, specs);
  return record('slice', [t], { slices: ns, shape: t.shape }, sliceView(t, ns));
}

export function narrow(t: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normalizeAxis('narrow', axis, t.ndim);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > t.shape[a]!) {
    throw new TensorError('narrow', `range [${start}, ${start + length}) is out of bounds for axis ${a} of size ${t.shape[a]}`);
  }
  const specs: SliceSpec[] = t.shape.map(() => null);
  specs[a] = [start, start + length, 1];
  return slice(t, specs);
}

export function squeeze(t: Tensor, axes?: number | number[]): Tensor {
  const drop = axes === undefined ? t.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normalizeAxes('squeeze', axes, t.ndim);
  for (const a of drop) if (t.shape[a] !== 1) throw new TensorError('squeeze', `axis ${a} has size ${t.shape[a]}, expected 1 (shape ${fmtShape(t.shape)})`);
  return reshape(t, t.shape.filter((_, i) => !drop.includes(i)));
}

export function unsqueeze(t: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, t.ndim + 1);
  const s = [...t.shape];
  s.splice(a, 0, 1);
  return reshape(t, s);
}

/** Reverses the given axes: a view with negative strides. */
export function flip(t: Tensor, axes: number | number[]): Tensor {
  const ax = normalizeAxes('flip', axes, t.ndim);
  let offset = t.offset;
  const strides = [...t.strides];
  for (const a of ax) {
    if (t.shape[a]! > 0) offset += (t.shape[a]! - 1) * t.strides[a]!;
    strides[a] = -strides[a]!;
  }
  return record('flip', [t], { axes: ax }, viewOf(t, t.shape, strides, offset));
}

/** A row-major copy, or `t` itself when it already is row-major. */
export function contiguous(t: Tensor): Tensor {
  if (isContiguous(t.shape, t.strides)) return t;
  return clone(t);
}

/** Always a fresh row-major copy (recorded: gradients pass straight through). */
export function clone(t: Tensor): Tensor {
  const { fn } = findKernel('copy', [t]);
  return record('clone', [t], {}, fn([t], {}));
}
