/**
 * The op contract, declared once (as tfjs-core's kernel_names.ts): every kernel a backend may implement, with its
 * inputs and the type of the attributes ops pass it, and every op name `record` puts on the tape for autograd.
 *
 * Everything else is checked against these declarations by the compiler: `registerKernel` / `findKernel` and the
 * backends' kernel tables take only a `KernelName` and give each kernel its `KernelAttrs<N>`; `record` takes only an
 * `OpName` with its `OpAttrs<N>`, and @oclt/autograd's gradient table is keyed by `OpName`. A typo or a kernel
 * that is not declared is a type error; kernel-names.test.ts checks that the reference backend implements every
 * declared kernel and lists what the fast cpu (wasm) and gpujs backends cover.
 *
 * Adding a kernel: declare it here (in its group, so the groups' tables must then list it), implement it in
 * backends/cpu/kernels/ (the reference kernels must be complete), optionally in the faster backends.
 */
import type { DType } from './dtype.js';
import type { ConvGeometry, NormalizedSlice, PoolGeometry } from './shape.js';

/** One kernel's declaration: its inputs (names, for messages and docs) and, as a type only, its attributes. */
export interface KernelDecl<A extends object> {
  /** The input tensors in order; a name starting with '...' takes any number of tensors. */
  readonly inputs: readonly string[];
  /** The attributes' type, for the compiler only: never present at run time. */
  readonly __attrs?: A;
}

function kernel<A extends object>(...inputs: string[]): KernelDecl<A> {
  return Object.freeze({ inputs: Object.freeze(inputs) });
}

// ---- attributes ---------------------------------------------------------------------------------------------

/** Unary elementwise: the result's dtype (the input is read as it, except for bool results). */
export interface UnaryAttrs { readonly dtype: DType }
/** Binary elementwise with broadcasting: the result's shape and dtype, and the dtype it is computed in. */
export interface BinaryAttrs { readonly shape: number[]; readonly dtype: DType; readonly computeDtype: DType }
export interface WhereAttrs { readonly shape: number[]; readonly dtype: DType }
export interface CastAttrs { readonly dtype: DType }
export interface ClampAttrs { readonly min: number | null; readonly max: number | null; readonly dtype: DType }
/** A row-major copy: no attributes. */
export type NoAttrs = Record<string, never>;
/** sum / max / min over normalised axes. */
export interface ReduceAttrs { readonly axes: number[]; readonly keepdims: boolean; readonly dtype: DType }
/** argmax / argmin along one normalised axis (int32 result). */
export interface ArgReduceAttrs { readonly axis: number; readonly keepdims: boolean }
export interface SoftmaxAttrs { readonly axis: number; readonly dtype: DType }
/** Batched matmul: `batch` the broadcast batch shape, operands [...batch, m, k] @ [...batch, k, n]. */
export interface MatmulAttrs { readonly batch: number[]; readonly m: number; readonly n: number; readonly k: number; readonly dtype: DType }
export interface ConvAttrs { readonly geo: ConvGeometry; readonly dtype: DType }
export interface PoolAttrs { readonly geo: PoolGeometry }
export interface GatherAttrs { readonly axis: number }
export interface ScatterAddAttrs { readonly axis: number; readonly dtype: DType }
export interface ConcatAttrs { readonly axis: number; readonly shape: number[]; readonly dtype: DType }
export interface PadAttrs { readonly before: number[]; readonly shape: number[]; readonly value: number }

// ---- kernels --------------------------------------------------------------------------------------------------

const unary = kernel<UnaryAttrs>('x');
const binary = kernel<BinaryAttrs>('a', 'b');

/** Unary elementwise kernels. */
export const UNARY_KERNELS = {
  neg: unary, abs: unary, square: unary, sign: unary, relu: unary,
  exp: unary, log: unary, sqrt: unary, rsqrt: unary, reciprocal: unary, sin: unary, cos: unary,
  tanh: unary, sigmoid: unary, silu: unary, gelu: unary, log1p: unary, expm1: unary, erf: unary,
  floor: unary, ceil: unary, round: unary,
  logicalNot: unary,
} as const;

/** Binary elementwise kernels (broadcasting). */
export const BINARY_KERNELS = {
  add: binary, sub: binary, mul: binary, maximum: binary, minimum: binary, pow: binary,
  div: binary,
  eq: binary, ne: binary, lt: binary, le: binary, gt: binary, ge: binary,
  logicalAnd: binary, logicalOr: binary,
} as const;

/** Every kernel. */
export const KERNELS = {
  ...UNARY_KERNELS,
  ...BINARY_KERNELS,
  where: kernel<WhereAttrs>('condition', 'a', 'b'),
  cast: kernel<CastAttrs>('x'),
  clamp: kernel<ClampAttrs>('x'),
  copy: kernel<NoAttrs>('x'),
  sum: kernel<ReduceAttrs>('x'),
  max: kernel<ReduceAttrs>('x'),
  min: kernel<ReduceAttrs>('x'),
  argmax: kernel<ArgReduceAttrs>('x'),
  argmin: kernel<ArgReduceAttrs>('x'),
  softmax: kernel<SoftmaxAttrs>('x'),
  logSoftmax: kernel<SoftmaxAttrs>('x'),
  matmul: kernel<MatmulAttrs>('a', 'b'),
  conv2d: kernel<ConvAttrs>('x', 'weight'),
  conv2dBackwardInput: kernel<ConvAttrs>('dy', 'weight'),
  conv2dBackwardWeight: kernel<ConvAttrs>('x', 'dy'),
  maxPool2d: kernel<PoolAttrs>('x'),
  maxPool2dBackward: kernel<PoolAttrs>('x', 'dy'),
  avgPool2d: kernel<PoolAttrs>('x'),
  avgPool2dBackward: kernel<PoolAttrs>('dy'),
  gather: kernel<GatherAttrs>('x', 'index'),
  scatterAdd: kernel<ScatterAddAttrs>('x', 'index', 'src'),
  concat: kernel<ConcatAttrs>('...tensors'),
  pad: kernel<PadAttrs>('x'),
} as const;

export type KernelName = keyof typeof KERNELS;
export type UnaryKernelName = keyof typeof UNARY_KERNELS;
export type BinaryKernelName = keyof typeof BINARY_KERNELS;

type AttrsOf<D> = D extends KernelDecl<infer A> ? A : never;
/** The attributes ops pass kernel `N` (distributes over a union of names). */
export type KernelAttrs<N extends KernelName> = N extends KernelName ? AttrsOf<(typeof KERNELS)[N]> : never;

export const KERNEL_NAMES = Object.freeze(Object.keys(KERNELS) as KernelName[]);

export function isKernelName(name: string): name is KernelName {
  return Object.prototype.hasOwnProperty.call(KERNELS, name);
}

// ---- recorded ops ---------------------------------------------------------------------------------------------

/** What `record` keeps for an op that records nothing beyond its inputs and output. */
export type NoOpAttrs = Record<string, never>;
const plain = kernel<NoOpAttrs>();

/**
 * The op names ops pass `record` (the keys of @oclt/autograd's gradient table), with the attributes each records.
 * Most are kernel names; the view ops (reshape, permute, expand, slice, flip) run no kernel, clone runs `copy`.
 * Ops whose result carries no gradient (comparisons, sign, floor, argmax, maxPool2dBackward, ...) are not recorded.
 * The `inputs` are not used for ops: an op records the inputs its kernel took.
 */
export const RECORDED_OPS = {
  neg: plain, abs: plain, square: plain, relu: plain,
  exp: plain, log: plain, sqrt: plain, rsqrt: plain, reciprocal: plain, sin: plain, cos: plain,
  tanh: plain, sigmoid: plain, silu: plain, gelu: plain, log1p: plain, expm1: plain, erf: plain,
  add: plain, sub: plain, mul: plain, maximum: plain, minimum: plain, pow: plain, div: plain,
  where: plain,
  clamp: kernel<{ readonly min: number | null; readonly max: number | null }>(),
  /** The input's dtype (a float dtype: casts to integer or bool are not recorded). */
  cast: kernel<{ readonly dtype: DType }>(),
  sum: kernel<{ readonly axes: number[]; readonly keepdims: boolean }>(),
  max: kernel<{ readonly axes: number[]; readonly keepdims: boolean }>(),
  min: kernel<{ readonly axes: number[]; readonly keepdims: boolean }>(),
  softmax: kernel<{ readonly axis: number }>(),
  logSoftmax: kernel<{ readonly axis: number }>(),
  matmul: plain,
  conv2d: kernel<{ readonly geo: ConvGeometry }>(),
  conv2dBackwardInput: kernel<{ readonly geo: ConvGeometry }>(),
  conv2dBackwardWeight: kernel<{ readonly geo: ConvGeometry }>(),
  maxPool2d: kernel<{ readonly geo: PoolGeometry }>(),
  avgPool2d: kernel<{ readonly geo: PoolGeometry }>(),
  avgPool2dBackward: kernel<{ readonly geo: PoolGeometry }>(),
  /** `sizes`: each input's extent along `axis`. */
  concat: kernel<{ readonly axis: number; readonly sizes: number[] }>(),
  pad: kernel<{ readonly before: number[] }>(),
  gather: kernel<{ readonly axis: number }>(),
  scatterAdd: kernel<{ readonly axis: number }>(),
  /** `shape`: the input's shape. */
  reshape: kernel<{ readonly shape: readonly number[] }>(),
  permute: kernel<{ readonly axes: number[] }>(),
  /** `shape`: the input's shape. */
  expand: kernel<{ readonly shape: readonly number[] }>(),
  /** `shape`: the input's shape. */
  slice: kernel<{ readonly slices: NormalizedSlice[]; readonly shape: readonly number[] }>(),
  flip: kernel<{ readonly axes: number[] }>(),
  clone: plain,
} as const;

export type OpName = keyof typeof RECORDED_OPS;
/** The attributes `record` keeps for op `N` (distributes over a union of names). */
export type OpAttrs<N extends OpName> = N extends OpName ? AttrsOf<(typeof RECORDED_OPS)[N]> : never;

export const OP_NAMES = Object.freeze(Object.keys(RECORDED_OPS) as OpName[]);

export function isOpName(name: string): name is OpName {
  return Object.prototype.hasOwnProperty.call(RECORDED_OPS, name);
}
