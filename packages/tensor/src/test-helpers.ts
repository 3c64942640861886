/**
 * Shared helpers for the tensor test suite (imported only by *.test.ts files, not exported by the package).
 *
 * The central tool is `makeTensor(values, shape, dtype, layout)`: it builds a tensor whose logical contents are
 * `values` (row-major over `shape`) but whose memory layout is a non-contiguous view (sliced with steps, flipped,
 * permuted, with junk around it). Where every logical element sits in memory is computed here from the recipe,
 * independently of the library's stride arithmetic, so a view bug shows up as a wrong value or as the junk
 * sentinel leaking into a result.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
// Importing the package entry installs the cpu backend, as a user's import would.
import { allocArray, coerce, contiguousStrides, flip, fromTypedArray, permute, sizeOf, slice, TensorError, type DType, type Tensor } from './index.js';

/** A small deterministic PRNG for test data (mulberry32), independent of the library's Generator. */
export function testRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A copy of exactly the bytes of `a`, to compare results bit for bit. (Buffer.from(a.buffer) would view the whole
 * buffer behind it: for results in the fast kernels' memory, all of that memory, the same for every result.)
 */
export function bitsOf(a: ArrayBufferView): Buffer {
  return Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Random test values suited to a dtype: floats in about [-3, 3], int32 in [-9, 9], bool 0/1. */
export function randomValues(n: number, seed: number, dtype: DType = 'float32'): number[] {
  const r = testRng(seed);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'bool') out[i] = r() < 0.5 ? 1 : 0;
    else if (dtype === 'int32') out[i] = Math.floor(r() * 19) - 9;
    else out[i] = coerce((r() * 2 - 1) * 3, dtype);
  }
  return out;
}

/** How a logical tensor is laid out in memory: base tensor -> slice(starts, steps) -> flip -> permute(perm). */
export interface Layout {
  perm: number[];
  flips: boolean[];
  steps: number[];
  starts: number[];
  /** Extra junk elements after each sliced axis. */
  tails: number[];
}

export function contiguousLayout(rank: number): Layout {
  const z = new Array<number>(rank).fill(0);
  return { perm: [...z.keys()], flips: z.map(() => false), steps: z.map(() => 1), starts: [...z], tails: [...z] };
}

/** Any layout for a tensor of rank `rank`: sometimes contiguous, mostly a strided, flipped, permuted view. */
export function layoutArb(rank: number): fc.Arbitrary<Layout> {
  const range = [...Array(rank).keys()];
  const per = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: rank, maxLength: rank });
  const strided = fc.record({
    perm: fc.shuffledSubarray(range, { minLength: rank, maxLength: rank }),
    flips: per(fc.boolean()),
    steps: per(fc.integer({ min: 1, max: 3 })),
    starts: per(fc.integer({ min: 0, max: 2 })),
    tails: per(fc.integer({ min: 0, max: 1 })),
  });
  return fc.oneof({ weight: 1, arbitrary: fc.constant(contiguousLayout(rank)) }, { weight: 4, arbitrary: strided });
}

/** The sentinel stored in memory that no view should ever read. */
function junk(dtype: DType): number {
  return dtype === 'int32' ? -777777 : dtype === 'bool' ? 1 : NaN;
}

/**
 * A tensor with logical contents `values` (row-major over `shape`) stored with `layout`. `place` may move the
 * underlying storage before the view is taken (e.g. into the fast kernels' memory).
 */
export function makeTensor(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32', layout: Layout = contiguousLayout(shape.length), place: (base: Tensor) => Tensor = (b) => b): Tensor {
  const rank = shape.length;
  if (values.length !== sizeOf(shape)) throw new Error(`makeTensor: ${values.length} values for shape [${shape}]`);
  // Shape of the view before the permutation: axis perm[k] of it becomes axis k.
  const pre = new Array<number>(rank);
  layout.perm.forEach((src, k) => (pre[src] = shape[k]!));
  const base = pre.map((d, j) => layout.starts[j]! + (d > 0 ? (d - 1) * layout.steps[j]! + 1 : 0) + layout.tails[j]!);
  const baseStrides = contiguousStrides(base);
  const data = allocArray(dtype, sizeOf(base));
  data.fill(junk(dtype));
  const idx = new Array<number>(rank).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    // idx = the logical multi-index of `flat`.
    let rem = flat;
    for (let k = rank - 1; k >= 0; k--) {
      idx[k] = rem % shape[k]!;
      rem = Math.floor(rem / shape[k]!);
    }
    let pos = 0;
    for (let k = 0; k < rank; k++) {
      const j = layout.perm[k]!;
      const q = layout.flips[j] ? pre[j]! - 1 - idx[k]! : idx[k]!;
      pos += (layout.starts[j]! + q * layout.steps[j]!) * baseStrides[j]!;
    }
    data[pos] = coerce(values[flat]!, dtype);
  }
  let t = place(fromTypedArray(data, base));
  t = slice(t, pre.map((d, j) => [layout.starts[j]!, layout.starts[j]! + (d > 0 ? (d - 1) * layout.steps[j]! + 1 : 0), layout.steps[j]!] as const));
  const flipAxes = layout.flips.flatMap((f, j) => (f ? [j] : []));
  if (flipAxes.length > 0) t = flip(t, flipAxes);
  return permute(t, layout.perm);
}

/** Shapes of rank in [minRank, maxRank] with dims in [minDim, maxDim]. */
export function shapeArb(opts: { minRank?: number; maxRank?: number; minDim?: number; maxDim?: number } = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 4, minDim = 1, maxDim = 4 } = opts;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** A tensor description (shape, values seed, layout) for property tests. */
export interface TensorCase {
  shape: number[];
  seed: number;
  layout: Layout;
}
export function tensorCaseArb(shape: fc.Arbitrary<number[]>): fc.Arbitrary<TensorCase> {
  return shape.chain((s) => fc.record({ shape: fc.constant(s), seed: fc.nat(), layout: layoutArb(s.length) }));
}
export function fromCase(c: TensorCase, dtype: DType = 'float32'): { t: Tensor; values: number[] } {
  const values = randomValues(sizeOf(c.shape), c.seed, dtype);
  return { t: makeTensor(values, c.shape, dtype, c.layout), values };
}

/** Row-major multi-index of a flat position. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = flat % shape[k]!;
    flat = Math.floor(flat / shape[k]!);
  }
  return idx;
}
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let p = 0;
  for (let k = 0; k < shape.length; k++) p = p * shape[k]! + idx[k]!;
  return p;
}

/** The row-major elements of a tensor as plain numbers (via toArray, flattened by hand, not via the library). */
export function valuesOf(t: Tensor): number[] {
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else out.push(typeof v === 'boolean' ? (v ? 1 : 0) : (v as number));
  };
  walk(t.toArray());
  return out;
}

/**
 * Asserts `actual` has `shape` and matches `expected` elementwise within atol + rtol * |expected|
 * (NaN matches NaN, infinities must match exactly).
 */
export function expectClose(actual: Tensor, expected: ArrayLike<number>, shape: readonly number[], tol: { rtol?: number; atol?: number } = {}): void {
  const { rtol = 0, atol = 0 } = tol;
  expect([...actual.shape]).toEqual([...shape]);
  const got = valuesOf(actual);
  expect(got.length).toBe(expected.length);
  for (let i = 0; i < got.length; i++) {
    const a = got[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        throw new Error(`element ${i} (index [${unravel(i, shape)}]): got ${a}, expected ${e}`);
      }
      continue;
    }
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`element ${i} (index [${unravel(i, shape)}]) of shape [${shape}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)}, atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Asserts that `fn` throws a TensorError naming `op`, whose message contains every string in `mentions`. */
export function expectOpError(fn: () => unknown, op: string, ...mentions: string[]): void {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TensorError)) throw new Error(`expected a TensorError from '${op}', got ${err === null ? 'no error' : String(err)}`);
  expect(err.op).toBe(op);
  expect(err.message.startsWith(`${op}:`)).toBe(true);
  for (const m of mentions) expect(err.message).toContain(m);
}

/** Loads tfjs on its cpu backend once (the oracle for matmul, conv, pooling, reductions). */
let tfPromise: Promise<typeof import('@tensorflow/tfjs')> | null = null;
export function loadTf(): Promise<typeof import('@tensorflow/tfjs')> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    await tf.ready();
    return tf;
  })();
  return tfPromise;
}

/** fast-check settings shared by the suite: small and deterministic per run. */
export const FC = { numRuns: 40 } as const;
