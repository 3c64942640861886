/** Reference elementwise kernels: read each input as row-major (broadcast), then one plain loop. */
import { allocArray, coerce, toInt32, type DType } from '../../../dtype.js';
import { sizeOf, TensorError } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { fromTypedArray } from '../../../kernel-util.js';
import { host, readAs } from '../layout.js';
import { kernelsOf, type KernelFn, type KernelTable } from '../../../backend.js';
import type { BinaryKernelName, UnaryKernelName } from '../../../kernel-names.js';

/** erf to about 1e-15: a positive series below 3, the erfc continued fraction above (no cancellation in either). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let r: number;
  if (ax < 3) {
    // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= (2 * ax * ax) / (2 * n + 1);
      sum += term;
    }
    r = (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  } else {
    // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up.
    let f = ax;
    for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

/** Rounds to the nearest integer, ties to even (NumPy and PyTorch; Math.round rounds ties up). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const SQRT1_2 = Math.SQRT1_2;
export const UNARY_FNS: Readonly<Record<UnaryKernelName, (x: number) => number>> = {
  neg: (x) => -x,
  abs: Math.abs,
  square: (x) => x * x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  relu: (x) => (x > 0 || Number.isNaN(x) ? x : 0), // NaN propagates, as in PyTorch
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  silu: (x) => (x >= 0 ? x / (1 + Math.exp(-x)) : (x * Math.exp(x)) / (1 + Math.exp(x))),
  gelu: (x) => 0.5 * x * (1 + erf(x * SQRT1_2)),
  log1p: Math.log1p,
  expm1: Math.expm1,
  erf,
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
  // Truthiness as in NumPy/PyTorch: any non-zero value, NaN included, is true.
  logicalNot: (x) => (x !== 0 ? 0 : 1),
};

export const BINARY_FNS: Readonly<Record<BinaryKernelName, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  logicalAnd: (a, b) => (a !== 0 && b !== 0 ? 1 : 0),
  logicalOr: (a, b) => (a !== 0 || b !== 0 ? 1 : 0),
};

/** int32 results wrap like C; Math.pow and division give doubles that must be truncated. */
function storeFix(dtype: DType): ((x: number) => number) | null {
  return dtype === 'int32' ? (x) => x | 0 : null;
}

function unaryKernel(name: UnaryKernelName): KernelFn<UnaryKernelName> {
  const f = UNARY_FNS[name];
  return ([t], { dtype }) => {
    const x = readAs(t!, t!.shape, dtype === 'bool' ? t!.dtype : dtype);
    const out = allocArray(dtype, x.length);
    const fix = storeFix(dtype);
    if (fix) for (let i = 0; i < x.length; i++) out[i] = fix(f(x[i]!));
    else for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
    return fromTypedArray(out, t!.shape);
  };
}

function binaryKernel(name: BinaryKernelName): KernelFn<BinaryKernelName> {
  const f = BINARY_FNS[name];
  return ([a, b], { shape, dtype, computeDtype }) => {
    const x = readAs(a!, shape, computeDtype === 'bool' ? a!.dtype : computeDtype);
    const y = readAs(b!, shape, computeDtype === 'bool' ? b!.dtype : computeDtype);
    const n = sizeOf(shape);
    if (name === 'pow' && dtype === 'int32') {
      for (let i = 0; i < n; i++) {
        if (y[i]! < 0) throw new TensorError('pow', `integers to negative integer powers are not allowed (exponent ${y[i]}); cast to float first`);
      }
    }
    const out = allocArray(dtype, n);
    const fix = storeFix(dtype);
    if (fix) for (let i = 0; i < n; i++) out[i] = fix(f(x[i]!, y[i]!));
    else for (let i = 0; i < n; i++) out[i] = f(x[i]!, y[i]!);
    return fromTypedArray(out, shape);
  };
}

const where: KernelFn<'where'> = ([c, a, b], { shape, dtype }) => {
  const cond = readAs(c!, shape, 'bool');
  const x = readAs(a!, shape, dtype);
  const y = readAs(b!, shape, dtype);
  const out = allocArray(dtype, cond.length);
  for (let i = 0; i < out.length; i++) out[i] = cond[i] ? x[i]! : y[i]!;
  return fromTypedArray(out, shape);
};

/** The conversion rule is at the top of dtype.ts: floats to int32 refuse NaN, infinities and out-of-range values. */
const cast: KernelFn<'cast'> = ([t], { dtype }) => {
  const src = readAs(t!);
  const out = allocArray(dtype, src.length);
  if (dtype === 'int32' && (t!.dtype === 'float32' || t!.dtype === 'float64')) for (let i = 0; i < src.length; i++) out[i] = toInt32(src[i]!, 'cast', i);
  else for (let i = 0; i < src.length; i++) out[i] = coerce(src[i]!, dtype);
  return fromTypedArray(out, t!.shape);
};

const clamp: KernelFn<'clamp'> = ([t], { min, max, dtype }) => {
  const x = readAs(t!, t!.shape, dtype);
  const out = allocArray(dtype, x.length);
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return fromTypedArray(out, t!.shape);
};

/** A fresh row-major copy. */
const copy: KernelFn<'copy'> = ([t]) => fromTypedArray(readAs(t!).slice(), t!.shape);

/** Writes `src` (broadcast) into the elements `dst` addresses, following its strides. Not recorded. */
export function copyInto(dst: Tensor, src: Tensor): void {
  const values = readAs(src, dst.shape, dst.dtype);
  const data = host(dst);
  const nd = dst.ndim;
  const n = dst.size;
  if (n === 0) return;
  // Odometer over all but the last axis; rows with unit stride are copied with one set() (a memcpy).
  const inner = nd === 0 ? 1 : dst.shape[nd - 1]!;
  const innerStride = nd === 0 ? 1 : dst.strides[nd - 1]!;
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let p = dst.offset;
  for (let i = 0; i < n; i += inner) {
    if (innerStride === 1) data.set(values.subarray(i, i + inner) as ArrayLike<number>, p);
    else for (let k = 0, q = p; k < inner; k++, q += innerStride) data[q] = values[i + k]!;
    for (let ax = nd - 2; ax >= 0; ax--) {
      idx[ax]!++;
      p += dst.strides[ax]!;
      if (idx[ax]! < dst.shape[ax]!) break;
      p -= dst.strides[ax]! * dst.shape[ax]!;
      idx[ax] = 0;
    }
  }
}

export const elementwiseKernels = {
  ...kernelsOf(Object.keys(UNARY_FNS) as UnaryKernelName[], unaryKernel),
  ...kernelsOf(Object.keys(BINARY_FNS) as BinaryKernelName[], binaryKernel),
  where,
  cast,
  clamp,
  copy,
} satisfies Partial<KernelTable>;
