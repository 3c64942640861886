/** Reference gather / scatterAdd / concat / pad kernels. */
import { allocArray } from '../../../dtype.js';
import { contiguousStrides, normalizeSlices, sizeOf, TensorError } from '../../../shape.js';
import { fromTypedArray, full, narrowView, sliceView } from '../../../kernel-util.js';
import type { Tensor } from '../../../tensor.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { readAs } from '../layout.js';
import { copyInto } from './elementwise.js';

/** Calls f(flatIndexInIndexTensor, flatIndexInTarget) with the axis coordinate replaced by the index value. */
function forEachIndexed(op: string, index: Tensor, target: readonly number[], axis: number, f: (i: number, t: number) => void): void {
  const idx = readAs(index);
  const shape = index.shape;
  const tStrides = contiguousStrides(target);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i]!;
    const dim = target[axis]!;
    if (k < -dim || k >= dim) throw new TensorError(op, `index ${k} is out of range for axis ${axis} of size ${dim}`);
    let p = 0;
    for (let d = 0; d < shape.length; d++) p += (d === axis ? (k < 0 ? k + dim : k) : coords[d]!) * tStrides[d]!;
    f(i, p);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coords[d]! < shape[d]!) break;
      coords[d] = 0;
    }
  }
}

const gather: KernelFn<'gather'> = ([x, index], { axis }) => {
  const X = readAs(x!);
  const out = allocArray(x!.dtype, index!.size);
  forEachIndexed('gather', index!, x!.shape, axis, (i, p) => (out[i] = X[p]!));
  return fromTypedArray(out, index!.shape);
};

const scatterAdd: KernelFn<'scatterAdd'> = ([x, index, src], { axis, dtype }) => {
  const out = readAs(x!, x!.shape, dtype).slice();
  const S = readAs(src!, src!.shape, dtype);
  const sStrides = contiguousStrides(src!.shape);
  const iStrides = contiguousStrides(index!.shape);
  forEachIndexed('scatterAdd', index!, x!.shape, axis, (i, p) => {
    // The src element at the same coordinates as index element i.
    let rem = i;
    let sp = 0;
    for (let d = 0; d < iStrides.length; d++) {
      const c = Math.floor(rem / iStrides[d]!);
      rem -= c * iStrides[d]!;
      sp += c * sStrides[d]!;
    }
    out[p] += S[sp]!;
  });
  return fromTypedArray(out, x!.shape);
};

const concat: KernelFn<'concat'> = (parts, { axis, shape, dtype }) => {
  const out = fromTypedArray(allocArray(dtype, sizeOf(shape)), shape);
  let start = 0;
  for (const p of parts) {
    copyInto(narrowView(out, axis, start, p.shape[axis]!), p);
    start += p.shape[axis]!;
  }
  return out;
};

const pad: KernelFn<'pad'> = ([t], { before, shape, value }) => {
  const out = full(shape, value, t!.dtype);
  copyInto(sliceView(out, normalizeSlices('slice', out, t!.shape.map((d, i) => [before[i]!, before[i]! + d, 1] as const))), t!);
  return out;
};

export const indexingKernels = { gather, scatterAdd, concat, pad } satisfies Partial<KernelTable>;
