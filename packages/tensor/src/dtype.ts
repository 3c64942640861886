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
 */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export const DTYPES: readonly DType[] = ['bool', 'int32', 'float32', 'float64'];

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && x in RANK;
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

export function allocArray(dtype: DType, length: number): TypedArray {
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

/** Converts a JavaScript number to what storing it in `dtype` keeps (int32 truncates toward zero, bool tests != 0). */
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
