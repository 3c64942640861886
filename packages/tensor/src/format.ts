/** A readable, NumPy-like `toString()` that elides the middle of large tensors. */
import type { Tensor } from './tensor.js';

const EDGE = 3;
const MAX_FULL = 1000;

function fmtNumber(v: number, dtype: string): string {
  if (dtype === 'bool') return v ? 'true' : 'false';
  if (dtype === 'int32') return String(v);
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toFixed(4)));
}

export function formatTensor(t: Tensor): string {
  const flat = t.toTypedArray();
  const shape = t.shape;
  const elide = t.size > MAX_FULL;
  // The indices shown along an axis of size n (-1 marks the '...').
  const shownAlong = (n: number) => (elide && n > 2 * EDGE ? [...Array(EDGE).keys(), -1, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)] : [...Array(n).keys()]);
  // Column width from the shown elements only (formatting all of a large tensor is slow, and spreading them
  // into Math.max overflows the stack).
  let width = 1;
  const measure = (dim: number, start: number): void => {
    if (dim === shape.length) {
      width = Math.max(width, fmtNumber(flat[start]!, t.dtype).length);
      return;
    }
    const step = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    for (const i of shownAlong(shape[dim]!)) if (i >= 0) measure(dim + 1, start + i * step);
  };
  if (t.size > 0) measure(0, 0);
  const build = (dim: number, start: number, indent: string): string => {
    if (dim === shape.length) return fmtNumber(flat[start]!, t.dtype).padStart(width);
    const n = shape[dim]!;
    const step = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const idx = shownAlong(n);
    const items = idx.map((i) => (i < 0 ? '...' : build(dim + 1, start + i * step, indent + ' ')));
    const sep = dim === shape.length - 1 ? ', ' : ',\n' + '\n'.repeat(Math.max(0, shape.length - dim - 2)) + indent + ' ';
    return '[' + items.join(sep) + ']';
  };
  const body = shape.length === 0 ? fmtNumber(flat[0]!, t.dtype) : build(0, 0, ' '.repeat('tensor('.length));
  const grad = t.requiresGrad ? ', requiresGrad=true' : '';
  return `tensor(${body}, dtype=${t.dtype}, shape=[${shape.join(', ')}]${grad})`;
}
