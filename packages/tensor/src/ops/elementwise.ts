/**
 * Elementwise ops with NumPy broadcasting. Result dtypes follow src/dtype.ts: arithmetic promotes, `div` and the
 * transcendental functions give floats, comparisons and logical ops give bool.
 */
import { findKernel } from '../backend.js';
import type { BinaryKernelName, OpName, UnaryKernelName } from '../kernel-names.js';
import { arithmeticDType, floatDType, isDType, promoteTypes, scalarDType, type DType } from '../dtype.js';
import { broadcastShapes, TensorError } from '../shape.js';
import { record } from '../tape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { full } from './creation.js';

/** Unary ops and how their output dtype follows the input's. */
export const UNARY_OPS = {
  neg: 'arith', abs: 'arith', square: 'arith', sign: 'arith', relu: 'arith',
  exp: 'float', log: 'float', sqrt: 'float', rsqrt: 'float', reciprocal: 'float', sin: 'float', cos: 'float',
  tanh: 'float', sigmoid: 'float', silu: 'float', gelu: 'float', log1p: 'float', expm1: 'float', erf: 'float',
  floor: 'same', ceil: 'same', round: 'same',
  logicalNot: 'bool',
} as const satisfies Record<UnaryKernelName, 'arith' | 'float' | 'same' | 'bool'>;
export type UnaryOp = keyof typeof UNARY_OPS;

/** Binary ops and their output dtype rule. */
export const BINARY_OPS = {
  add: 'arith', sub: 'arith', mul: 'arith', maximum: 'arith', minimum: 'arith', pow: 'arith',
  div: 'float',
  eq: 'compare', ne: 'compare', lt: 'compare', le: 'compare', gt: 'compare', ge: 'compare',
  logicalAnd: 'logical', logicalOr: 'logical',
} as const satisfies Record<BinaryKernelName, 'arith' | 'float' | 'compare' | 'logical'>;
export type BinaryOp = keyof typeof BINARY_OPS;

/** Ops whose output carries no gradient (not recorded, so not in kernel-names.ts's RECORDED_OPS). */
const NOT_DIFFERENTIABLE = new Set<UnaryOp | BinaryOp>(['sign', 'floor', 'ceil', 'round', 'logicalNot', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr']);

/** Whether `op` is recorded (kernel-names.test.ts checks that exactly the ops in RECORDED_OPS are). */
function isDifferentiable<O extends UnaryOp | BinaryOp>(op: O): op is O & OpName {
  return !NOT_DIFFERENTIABLE.has(op);
}

export function unary(op: UnaryOp, t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new TensorError(op, `expected a Tensor, got ${typeof t}`);
  const rule = UNARY_OPS[op];
  const dtype: DType = rule === 'arith' ? arithmeticDType(t.dtype) : rule === 'float' ? floatDType(t.dtype) : rule === 'bool' ? 'bool' : t.dtype;
  const out = findKernel(op, [t]).fn([t], { dtype });
  return isDifferentiable(op) ? record(op, [t], {}, out) : out;
}

/** Turns a number into a 0-d tensor of the weak-scalar dtype next to `other`. */
export function asTensor(x: TensorLike, other: Tensor, op: string): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number' && typeof x !== 'boolean') throw new TensorError(op, `expected a Tensor or a number, got ${typeof x}`);
  return full([], x, scalarDType(x, other.dtype));
}

export function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new TensorError(op, 'needs at least one Tensor operand');
  const ta = a instanceof Tensor ? a : asTensor(a, b as Tensor, op);
  const tb = asTensor(b, ta, op);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const rule = BINARY_OPS[op];
  const promoted = promoteTypes(ta.dtype, tb.dtype);
  const computeDtype: DType = rule === 'logical' ? 'bool' : rule === 'float' ? floatDType(promoted) : arithmeticDType(promoted);
  const dtype: DType = rule === 'compare' || rule === 'logical' ? 'bool' : computeDtype;
  const out = findKernel(op, [ta, tb]).fn([ta, tb], { shape, dtype, computeDtype });
  return isDifferentiable(op) ? record(op, [ta, tb], {}, out) : out;
}

export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);
export const eq = (a: TensorLike, b: TensorLike) => binary('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike) => binary('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike) => binary('lt', a, b);
export const le = (a: TensorLike, b: TensorLike) => binary('le', a, b);
export const gt = (a: TensorLike, b: TensorLike) => binary('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike) => binary('ge', a, b);
export const logicalAnd = (a: TensorLike, b: TensorLike) => binary('logicalAnd', a, b);
export const logicalOr = (a: TensorLike, b: TensorLike) => binary('logicalOr', a, b);

export const neg = (t: Tensor) => unary('neg', t);
export const abs = (t: Tensor) => unary('abs', t);
export const square = (t: Tensor) => unary('square', t);
export const sign = (t: Tensor) => unary('sign', t);
export const relu = (t: Tensor) => unary('relu', t);
export const exp = (t: Tensor) => unary('exp', t);
export const log = (t: Tensor) => unary('log', t);
export const sqrt = (t: Tensor) => unary('sqrt', t);
export const rsqrt = (t: Tensor) => unary('rsqrt', t);
export const reciprocal = (t: Tensor) => unary('reciprocal', t);
export const sin = (t: Tensor) => unary('sin', t);
export const cos = (t: Tensor) => unary('cos', t);
export const tanh = (t: Tensor) => unary('tanh', t);
export const sigmoid = (t: Tensor) => unary('sigmoid', t);
export const silu = (t: Tensor) => unary('silu', t);
/** GELU with the exact erf form (PyTorch's default). */
export const gelu = (t: Tensor) => unary('gelu', t);
export const log1p = (t: Tensor) => unary('log1p', t);
export const expm1 = (t: Tensor) => unary('expm1', t);
export const erf = (t: Tensor) => unary('erf', t);
export const floor = (t: Tensor) => unary('floor', t);
export const ceil = (t: Tensor) => unary('ceil', t);
export const round = (t: Tensor) => unary('round', t);
export const logicalNot = (t: Tensor) => unary('logicalNot', t);

/** Leaky ReLU: x for x > 0, slope * x otherwise. */
export function leakyRelu(t: Tensor, slope = 0.01): Tensor {
  return where(gt(t, 0), t, mul(t, slope));
}

/** Clamps into [min, max]; either bound may be null. */
export function clamp(t: Tensor, min: number | null, max: number | null = null): Tensor {
  if (min !== null && max !== null && min > max) throw new TensorError('clamp', `min ${min} is greater than max ${max}`);
  // The bounds are weak scalars (dtype.ts): a fractional bound makes an integer tensor's result float32.
  let dtype = arithmeticDType(t.dtype);
  for (const bound of [min, max]) if (bound !== null) dtype = promoteTypes(dtype, scalarDType(bound, dtype));
  const out = findKernel('clamp', [t]).fn([t], { min, max, dtype });
  return record('clamp', [t], { min, max }, out);
}

/** Picks from `a` where `cond` is true and from `b` elsewhere, with broadcasting of all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (!(cond instanceof Tensor)) throw new TensorError('where', 'condition must be a Tensor');
  const ta = a instanceof Tensor ? a : b instanceof Tensor ? asTensor(a, b, 'where') : full([], a, typeof a === 'boolean' ? 'bool' : 'float32');
  const tb = asTensor(b, ta, 'where');
  const shape = broadcastShapes('where', cond.shape, ta.shape, tb.shape);
  const dtype = promoteTypes(ta.dtype, tb.dtype);
  const out = findKernel('where', [cond, ta, tb]).fn([cond, ta, tb], { shape, dtype });
  return record('where', [cond, ta, tb], {}, out);
}

/**
 * Converts to another dtype (a copy). Floats to int32 truncate toward zero; NaN, infinities and values outside
 * int32's range throw a `CastRangeError` (a RangeError) naming the value and its element (rule: dtype.ts).
 */
export function cast(t: Tensor, dtype: DType): Tensor {
  if (!isDType(dtype)) throw new TensorError('cast', `unknown dtype '${String(dtype)}'`);
  if (dtype === t.dtype) return t;
  const out = findKernel('cast', [t]).fn([t], { dtype });
  return dtype === 'float32' || dtype === 'float64' ? record('cast', [t], { dtype: t.dtype }, out) : out;
}
