/**
 * Data types and type promotion.
 *
 * Four dtypes, ordered by "kind": bool < int32 < float32 < float64.
 * Promotion of two tensors takes the higher of the two (like NumPy/PyTorch for these types):
 *   bool + int32 -> int32, int32 + float32 -> float32, float32 + float64 -> float64.
 * A plain JavaScript number is a "weak" scalar (like a Python scalar in PyTorch): it never widens a
 * floating tensor (float32 * 0.5 stays float32); against an integer or bool tensor it gives int32 when it is an
 * integer and float32 otherwise.
 * Arithmetic on bool tensors computes in int32. True division (`div`) of integers gives float32.
 * Comparisons and logical ops return bool.
 *
 * Conversions (`cast` / `astype`, and values given to `tensor`, `full`, `arange`, `linspace` with a dtype):
 * - to int32: floats truncate toward zero. NaN, +-Infinity and values whose truncation lies outside
 *   [-2^31, 2^31 - 1] are refused with a `CastRangeError` (a RangeError) naming the op, the dtype, the value and
 *   its element, never stored as a silently wrong integer (C leaves these undefined, NumPy gives INT_MIN with a
 *   warning, PyTorch refuses out-of-range scalars). Integer arithmetic on int32 tensors wraps modulo 2^32, as in
 *   NumPy and PyTorch (`coerce`).
 * - to bool: non-zero is true, NaN included (as in NumPy and PyTorch).
 * - float64 to float32: rounds to nearest; beyond float32's range gives +-Infinity (IEEE 754, as NumPy).
 */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export const DTYPES: readonly DType[] = ['bool', 'int32', 'float32', 'float64'];

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

export function isDType(x: unknown): x is DType {
  // Own keys only: 'constructor' or 'toString' are not dtypes.
  return typeof x === 'string' && Object.hasOwn(RANK, x);
}

export function isFloating(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** The result dtype of a binary op between two tensors. */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The dtype a weak JavaScript scalar takes next to a tensor of dtype `other`. */
export function scalarDType(value: number | boolean, other: DType): DType {
  if (typeof value === 'boolean') return other;
  if (isFloating(other)) return other;
  return Number.isInteger(value) ? promoteTypes(other, 'int32') : 'float32';
}

/** The dtype arithmetic is computed in: bool arithmetic computes in int32. */
export function arithmeticDType(dtype: DType): DType {
  return dtype === 'bool' ? 'int32' : dtype;
}

/** The floating dtype used by ops that are only defined on floats (exp, div, mean, ...). */
export function floatDType(dtype: DType): DType {
  return isFloating(dtype) ? dtype : 'float32';
}

/**
 * An array of `length` elements that the engine could not make (beyond the largest typed array, or out of memory).
 * The kernel registry turns it into a TensorError naming the op and the shapes (backend.ts).
 */
export class AllocationError extends RangeError {
  constructor(
    readonly dtype: DType,
    readonly length: number,
    cause: unknown,
  ) {
    super(`cannot allocate ${length} ${dtype} elements (${length * itemSize(dtype)} bytes): ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'AllocationError';
  }
}

/**
 * The most elements one storage may have: 2^32, Node 20's largest typed array, kept on every engine. Newer V8s
 * accept far longer arrays, and there a request the machine cannot hold (zeros([2 ** 33]): 32 GiB) was not refused
 * but killed the process when the memory ran out; with one bound everywhere it gets the same clear error.
 */
export const MAX_STORAGE_ELEMENTS = 2 ** 32;

export function allocArray(dtype: DType, length: number): TypedArray {
  if (length > MAX_STORAGE_ELEMENTS) {
    throw new AllocationError(dtype, length, new RangeError(`more than ${MAX_STORAGE_ELEMENTS} (2^32) elements, the engine's limit per tensor`));
  }
  try {
    switch (dtype) {
      case 'float32':
        return new Float32Array(length);
      case 'float64':
        return new Float64Array(length);
      case 'int32':
        return new Int32Array(length);
      case 'bool':
        return new Uint8Array(length);
    }
  } catch (e) {
    throw e instanceof RangeError ? new AllocationError(dtype, length, e) : e;
  }
}

export function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  throw new TypeError(`unsupported typed array ${(data as object).constructor?.name}`);
}

/** Bytes per element. */
export function itemSize(dtype: DType): number {
  return dtype === 'float64' ? 8 : dtype === 'bool' ? 1 : 4;
}

/** A value a conversion to int32 refuses (see the top of the file): NaN, an infinity, or out of int32's range. */
export class CastRangeError extends RangeError {
  constructor(
    readonly op: string,
    readonly dtype: DType,
    readonly value: number,
    readonly index: number | null,
  ) {
    const where = index === null ? '' : ` (element ${index})`;
    super(`${op}: cannot convert ${value}${where} to ${dtype}: NaN, infinities and values outside [-2147483648, 2147483647] after truncation toward zero have no int32 value`);
    this.name = 'CastRangeError';
  }
}

/** `value` truncated toward zero, where that is an int32; else a CastRangeError naming `op` (and `index`). */
export function toInt32(value: number, op: string, index: number | null = null): number {
  // NaN fails both comparisons; -2147483648.5 truncates to -2^31 and is kept.
  if (value > -2147483649 && value < 2147483648) return value | 0;
  throw new CastRangeError(op, 'int32', value, index);
}

/**
 * `value` as stored in `dtype` by a conversion (`cast`, creation with a dtype): like `coerce`, except that int32
 * refuses what it cannot hold (`toInt32`).
 */
export function convert(value: number, dtype: DType, op: string, index: number | null = null): number {
  return dtype === 'int32' ? toInt32(value, op, index) : coerce(value, dtype);
}

/**
 * Converts a JavaScript number to what storing it in `dtype` keeps (int32 truncates toward zero and wraps modulo
 * 2^32, the rule of integer arithmetic; bool tests != 0). Conversions of user values use `convert`, which refuses
 * what int32 cannot hold.
 */
export function coerce(value: number, dtype: DType): number {
  switch (dtype) {
    case 'bool':
      return value !== 0 ? 1 : 0; // NaN is true, as in NumPy and PyTorch
    case 'int32':
      return value | 0;
    case 'float32':
      return Math.fround(value);
    default:
      return value;
  }
}
