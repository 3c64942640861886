/** Gather, indexSelect and scatterAdd along an axis (PyTorch semantics). Indices are int32 and bounds-checked. */
import { findKernel } from '../backend.js';
import { arithmeticDType, promoteTypes } from '../dtype.js';
import { fmtShape, normalizeAxis, TensorError } from '../shape.js';
import { record } from '../tape.js';
import { Tensor } from '../tensor.js';
import { tensor } from './creation.js';
import { expand, reshape } from './movement.js';

function checkIndex(op: string, index: Tensor): void {
  if (!(index instanceof Tensor)) throw new TensorError(op, 'index must be a Tensor');
  if (index.dtype !== 'int32') throw new TensorError(op, `index must be int32, got ${index.dtype}`);
}

/** out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (index has x's rank; other dims at most x's). */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndex('gather', index);
  const a = normalizeAxis('gather', axis, x.ndim);
  if (index.ndim !== x.ndim) throw new TensorError('gather', `index rank ${index.ndim} must equal input rank ${x.ndim} (input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)})`);
  index.shape.forEach((d, i) => {
    if (i !== a && d > x.shape[i]!) throw new TensorError('gather', `index ${fmtShape(index.shape)} exceeds input ${fmtShape(x.shape)} on axis ${i}`);
  });
  const out = findKernel('gather', [x, index]).fn([x, index], { axis: a });
  return record('gather', [x, index], { axis: a }, out);
}

/** Selects whole slices along `axis` by a 1-D list of indices (a gather with a broadcast index). */
export function indexSelect(x: Tensor, axis: number, index: Tensor | readonly number[]): Tensor {
  const idx = index instanceof Tensor ? index : tensor([...index], 'int32');
  checkIndex('indexSelect', idx);
  if (idx.ndim !== 1) throw new TensorError('indexSelect', `index must be 1-D, got ${fmtShape(idx.shape)}`);
  const a = normalizeAxis('indexSelect', axis, x.ndim);
  // Checked here so that the error names indexSelect, not the gather it is built on (the index is 1-D and small).
  const dim = x.shape[a]!;
  for (const k of idx.toTypedArray()) {
    if (k < -dim || k >= dim) throw new TensorError('indexSelect', `index ${k} is out of range for axis ${a} of size ${dim}`);
  }
  const outShape = x.shape.map((d, i) => (i === a ? idx.shape[0]! : d));
  const viewShape = x.shape.map((_, i) => (i === a ? idx.shape[0]! : 1));
  return gather(x, a, expand(reshape(idx, viewShape), outShape));
}

/** A copy of x with src added at the positions index names along axis: out[i][index[i][j][k]][k] += src[i][j][k]. */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  checkIndex('scatterAdd', index);
  const a = normalizeAxis('scatterAdd', axis, x.ndim);
  if (index.ndim !== x.ndim || src.ndim !== x.ndim) {
    throw new TensorError('scatterAdd', `input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must have the same rank`);
  }
  index.shape.forEach((d, i) => {
    if (d > src.shape[i]! || (i !== a && d > x.shape[i]!)) {
      throw new TensorError('scatterAdd', `index ${fmtShape(index.shape)} exceeds src ${fmtShape(src.shape)} or input ${fmtShape(x.shape)} on axis ${i}`);
    }
  });
  // Adding bools counts (bool arithmetic computes in int32, see dtype.ts); a bool result would hold 2, 3, ...
  const dtype = arithmeticDType(promoteTypes(x.dtype, src.dtype));
  const out = findKernel('scatterAdd', [x, index, src]).fn([x, index, src], { axis: a, dtype });
  return record('scatterAdd', [x, index, src], { axis: a }, out);
}
