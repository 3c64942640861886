/** Creating tensors: from values, constants, ranges and seeded random draws. */
import { convert, dtypeOfArray, isDType, type DType, type TypedArray } from '../dtype.js';
import { build, full } from '../kernel-util.js';
import { Generator } from '../random.js';
import { checkShape, fmtShape, TensorError, type Shape } from '../shape.js';
import { Tensor } from '../tensor.js';

// The constructors kernels build their results with live below ops/, in kernel-util.ts; they are part of this
// module's API as before.
export { build, fromStorage, fromTypedArray, full } from '../kernel-util.js';

export type NestedArray = number | boolean | NestedArray[];

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as NestedArray;
    if (v === undefined) break;
  }
  return shape;
}

/**
 * A tensor from nested arrays (or a number), a typed array, or another tensor (copied).
 * The default dtype is float32 for numbers, bool for booleans, and the array's own for typed arrays.
 */
export function tensor(values: NestedArray | TypedArray | Tensor, dtype?: DType): Tensor {
  if (dtype !== undefined && !isDType(dtype)) throw new TensorError('tensor', `unknown dtype '${String(dtype)}'`);
  if (values instanceof Tensor) return values.astype(dtype ?? values.dtype).clone();
  if (ArrayBuffer.isView(values)) {
    const src = values as TypedArray;
    const dt = dtype ?? dtypeOfArray(src);
    return build(dt, [src.length], (data) => {
      for (let i = 0; i < src.length; i++) data[i] = convert(src[i]!, dt, 'tensor', i);
    }, true, 'tensor');
  }
  const shape = inferShape(values);
  const flat: (number | boolean)[] = [];
  const walk = (v: NestedArray, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number' && typeof v !== 'boolean') {
        throw new TensorError('tensor', `ragged nested array: expected a number at ${path || 'top level'}, got ${Array.isArray(v) ? 'an array' : typeof v}`);
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new TensorError('tensor', `ragged nested array at ${path || 'top level'}: expected length ${shape[dim]}, got ${Array.isArray(v) ? v.length : typeof v}`);
    }
    v.forEach((x, i) => walk(x, dim + 1, `${path}[${i}]`));
  };
  walk(values, 0, '');
  const dt = dtype ?? (flat.length > 0 && typeof flat[0] === 'boolean' ? 'bool' : 'float32');
  return build(dt, shape, (data) => {
    for (let i = 0; i < flat.length; i++) data[i] = convert(Number(flat[i]), dt, 'tensor', i);
  }, true, 'tensor');
}

export function scalar(value: number | boolean, dtype?: DType): Tensor {
  return tensor(value, dtype);
}

export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return build(dtype, checkShape('zeros', shape), undefined, false, 'zeros');
}
export function ones(shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}
export function zerosLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return zeros(t.shape, dtype);
}
export function onesLike(t: Tensor, dtype: DType = t.dtype): Tensor {
  return ones(t.shape, dtype);
}
export function fullLike(t: Tensor, value: number, dtype: DType = t.dtype): Tensor {
  return full(t.shape, value, dtype);
}

/** Values start, start+step, ... below stop (like numpy.arange). Integer arguments give int32 by default. */
export function arange(start: number, stop?: number, step = 1, dtype?: DType): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new TensorError('arange', `step must be a non-zero finite number, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(stop)) throw new TensorError('arange', `start and stop must be finite numbers, got ${start} and ${stop}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dt = dtype ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  return build(dt, [n], (d) => {
    for (let i = 0; i < n; i++) d[i] = convert(start + i * step, dt, 'arange', i);
  }, false, 'arange');
}

/** `num` evenly spaced values from start to stop inclusive, computed in float64 then stored. */
export function linspace(start: number, stop: number, num: number, dtype: DType = 'float32'): Tensor {
  if (!Number.isInteger(num) || num < 0) throw new TensorError('linspace', `num must be a non-negative integer, got ${num}`);
  return build(dtype, [num], (d) => {
    const step = num > 1 ? (stop - start) / (num - 1) : 0;
    for (let i = 0; i < num; i++) d[i] = convert(i === num - 1 && num > 1 ? stop : start + i * step, dtype, 'linspace', i);
  }, false, 'linspace');
}

export function eye(n: number, m: number = n, dtype: DType = 'float32'): Tensor {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 0 || m < 0) throw new TensorError('eye', `sizes must be non-negative integers, got ${n}, ${m}`);
  return build(dtype, checkShape('eye', [n, m]), (d) => {
    for (let i = 0; i < Math.min(n, m); i++) d[i * m + i] = 1;
  }, false, 'eye');
}

function needGenerator(op: string, gen: unknown): Generator {
  if (!(gen instanceof Generator)) throw new TensorError(op, 'needs an explicit seeded Generator (new Generator(seed))');
  return gen;
}

/** Standard normal draws (times std, plus mean). */
export function randn(shape: Shape, gen: Generator, dtype: DType = 'float32', mean = 0, std = 1): Tensor {
  const g = needGenerator('randn', gen);
  if (dtype !== 'float32' && dtype !== 'float64') throw new TensorError('randn', `dtype must be floating, got ${dtype}`);
  return build(dtype, checkShape('randn', shape), (d) => g.fillNormal(d, mean, std), false, 'randn');
}

/** Uniform draws in [low, high). */
export function rand(shape: Shape, gen: Generator, dtype: DType = 'float32', low = 0, high = 1): Tensor {
  const g = needGenerator('rand', gen);
  if (dtype !== 'float32' && dtype !== 'float64') throw new TensorError('rand', `dtype must be floating, got ${dtype}`);
  return build(dtype, checkShape('rand', shape), (d) => {
    for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * g.random();
  }, false, 'rand');
}

/** Uniform integers in [low, high) as int32. */
export function randint(low: number, high: number, shape: Shape, gen: Generator): Tensor {
  const g = needGenerator('randint', gen);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low || high - low > 2 ** 32) {
    throw new TensorError('randint', `needs integers low < high with high - low <= 2^32, got [${low}, ${high})`);
  }
  return build('int32', checkShape('randint', shape), (d) => {
    for (let i = 0; i < d.length; i++) d[i] = g.integer(low, high);
  }, false, 'randint');
}

/**
 * Draws `numSamples` indices (with replacement) per row of non-negative `weights` (last axis = categories).
 * Returns int32 of shape [...weights.shape[:-1], numSamples].
 */
export function categorical(weights: Tensor, gen: Generator, numSamples = 1): Tensor {
  const g = needGenerator('categorical', gen);
  if (weights.ndim < 1) throw new TensorError('categorical', 'weights must have at least one axis (the categories)');
  const k = weights.shape[weights.ndim - 1]!;
  if (k < 1) throw new TensorError('categorical', `weights ${fmtShape(weights.shape)} have no categories on the last axis`);
  if (!Number.isInteger(numSamples) || numSamples < 0) throw new TensorError('categorical', `numSamples must be a non-negative integer, got ${numSamples}`);
  const w = weights.astype('float64').toTypedArray();
  const rows = w.length / k;
  // Validated here so that bad weights give an error naming this op (and before any draw).
  for (let r = 0; r < rows; r++) {
    let total = 0;
    for (let i = r * k; i < r * k + k; i++) {
      if (!(w[i]! >= 0) || !Number.isFinite(w[i]!)) throw new TensorError('categorical', `weight ${w[i]} in row ${r}: weights must be finite and >= 0`);
      total += w[i]!;
    }
    if (!(total > 0)) throw new TensorError('categorical', `weights of row ${r} sum to zero`);
  }
  return build('int32', [...weights.shape.slice(0, -1), numSamples], (d) => {
    for (let r = 0; r < rows; r++) {
      const row = w.subarray(r * k, r * k + k);
      for (let s = 0; s < numSamples; s++) d[r * numSamples + s] = g.categorical(row);
    }
  });
}
