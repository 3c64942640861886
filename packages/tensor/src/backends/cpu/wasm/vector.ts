/**
 * Elementwise, sum, max/min and softmax kernels on the WebAssembly runtime, for float32. Each falls back to the
 * reference kernel for other dtypes and for broadcasts it does not cover (more than three coalesced axes).
 *
 * Thread split: rows (or, for one long row, column chunks) for elementwise ops and softmax; fixed blocks of
 * SUM_BLOCK elements for sums and max/min, whose partial results are combined in block order, so the result never
 * depends on the thread count.
 */
import { kernelsOf, type KernelFn, type KernelTable } from '../../../backend.js';
import type { BinaryKernelName, UnaryKernelName } from '../../../kernel-names.js';
import { dispose } from '../../../memory.js';
import { asContiguous, fromTypedArray, permuteView } from '../../../kernel-util.js';
import { isContiguous, reducedShape, sizeOf } from '../../../shape.js';
import type { Tensor } from '../../../tensor.js';
import { referenceKernels } from '../index.js';
import { rowsView } from '../kernels/reduce.js';
import { host, readAs } from '../layout.js';
import { isHeapArray } from './heap.js';
import { inPlace, rowMajor, type Operand } from './operand.js';
import { splitRange } from './gemm.js';
import { claimablePieces, type Call } from './pool.js';
import type { WasmRuntime } from './runtime.js';
import { BINARY_WASM_OPS, UNARY_WASM_OPS } from './vector-emit.js';

/**
 * Elements per thread below which one thread is faster (waking the second one costs tens of microseconds):
 * memory-bound ops split from 128K elements per thread, transcendental ops and softmax from 64K. (Memory-bound ops
 * used to split only beyond 4M, when copies in and out of the kernels' memory ran on the calling thread.)
 */
export const MIN_ELEMENTS_PER_THREAD = { memoryBound: 1 << 17, transcendental: 1 << 16 };
/** Sums run over blocks of this many elements (a fixed order, whatever the thread count). */
export const SUM_BLOCK = 1 << 16;

/**
 * Below these sizes the reference kernels are faster: a WebAssembly call (with its bookkeeping, and a copy in for
 * inputs outside the kernels' memory) costs a few microseconds, more than plain loops over a few thousand elements
 * (transcendental functions are slow enough in JavaScript that WebAssembly wins from a few dozen). Tests set both
 * to 0.
 */
export const smallOpLimits = { memoryBound: 2048, transcendental: 64 };
const TRANSCENDENTAL = new Set<UnaryKernelName>(['exp', 'sigmoid', 'silu']);

const threadsForElements = (rt: WasmRuntime, n: number, kind: keyof typeof MIN_ELEMENTS_PER_THREAD = 'memoryBound') =>
  Math.max(1, Math.min(rt.threads, Math.floor(n / MIN_ELEMENTS_PER_THREAD[kind])));

/**
 * Work is cut into a few pieces per thread, claimed by whichever thread is free (pool.ts): a helper thread that
 * wakes late still finds some, and the others never wait for it to start. Every piece computes the same values
 * whoever runs it, so the cut changes nothing in the results.
 */
const PIECES_PER_THREAD = 4;
const pieces = (threads: number) => claimablePieces(threads, PIECES_PER_THREAD);

/** Groups calls into `pieces(threads)` lists of contiguous runs (each piece's memory stays contiguous). */
function spread(calls: Call[], threads: number): Call[][] {
  return splitRange(calls.length, pieces(threads), 1).map(([s, e]) => calls.slice(s, e));
}

/**
 * The output shape with size-1 axes dropped and neighbouring axes merged where both operands allow it, with
 * each operand's strides (0 on broadcast axes).
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let ax = 0; ax < shape.length; ax++) {
    const d = shape[ax]!;
    if (d === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[ax]! * d)) {
      outShape[last] = outShape[last]! * d;
      strides.forEach((s, k) => (outStrides[k]![last] = s[ax]!));
    } else {
      outShape.push(d);
      strides.forEach((s, k) => outStrides[k]!.push(s[ax]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

function binaryKernel(rt: () => WasmRuntime, op: BinaryKernelName): KernelFn<BinaryKernelName> {
  const reference: KernelFn<BinaryKernelName> = referenceKernels[op];
  const fn = `binary_${op}`;
  return (inputs, attrs) => {
    const { shape, dtype, computeDtype } = attrs;
    const n = sizeOf(shape);
    if (dtype !== 'float32' || computeDtype !== 'float32' || n === 0 || n < smallOpLimits.memoryBound) return reference(inputs, attrs);
    const [a, b] = inputs as [Tensor, Tensor];
    // Views are read where they lie when their layout fits the kernel; otherwise copied row-major first (gathered
    // in the kernels' memory where they lie there, and released at the end).
    let [A, B] = [inPlace(a, shape), inPlace(b, shape)];
    let geo = coalesce(shape, [A.strides, B.strides]);
    const copies: Tensor[] = [];
    if (geo.shape.length > 3 || geo.strides.some((st) => st[st.length - 1]! > 1)) {
      [A, B] = [rowMajor(gathered(rt(), a, copies), shape), rowMajor(gathered(rt(), b, copies), shape)];
      geo = coalesce(shape, [A.strides, B.strides]);
    }
    try {
      return binaryOnViews(rt(), fn, A, B, geo, shape, n) ?? reference(inputs, attrs);
    } finally {
      dispose(...copies);
    }
  };
}

/** The binary kernel's product over up to three coalesced axes of its two operands; null beyond that. */
function binaryOnViews(r: WasmRuntime, fn: string, A: Operand, B: Operand, geo: { shape: number[]; strides: number[][] }, shape: number[], n: number): Tensor | null {
  // Up to three axes: [outer, rows, cols]; the innermost stride of each operand is 0 or 1.
  while (geo.shape.length < 3) {
    geo.shape.unshift(1);
    geo.strides.forEach((s) => s.unshift(0));
  }
  if (geo.shape.length > 3) return null;
  const [outer, rows, cols] = geo.shape as [number, number, number];
  const [sa, sb] = geo.strides as [number[], number[]];
  if (outer > 4096) return null;
  r.reset();
  const pa = r.put(A.data);
  const pb = r.put(B.data);
  const po = r.output(n);
  const calls: Call[] = [];
  const threads = threadsForElements(r, n);
  for (let o = 0; o < outer; o++) {
    const base = o * rows * cols;
    const offA = pa + o * sa[0]! * 4;
    const offB = pb + o * sb[0]! * 4;
    if (rows === 1) {
      // One long row: chunks of columns (multiples of 4 keep every chunk on the SIMD path).
      for (const [c0, c1] of splitRange(cols, pieces(threads), 4)) {
        calls.push({ fn, args: [offA + c0 * sa[2]! * 4, 0, sa[2]!, offB + c0 * sb[2]! * 4, 0, sb[2]!, po + (base + c0) * 4, 1, c1 - c0] });
      }
    } else {
      for (const [r0, r1] of splitRange(rows, outer === 1 ? pieces(threads) : 1, 1)) {
        calls.push({ fn, args: [offA + r0 * sa[1]! * 4, sa[1]!, sa[2]!, offB + r0 * sb[1]! * 4, sb[1]!, sb[2]!, po + (base + r0 * cols) * 4, r1 - r0, cols] });
      }
    }
  }
  r.run(spread(calls, threads));
  return r.result(po, shape);
}

function unaryKernel(rt: () => WasmRuntime, op: UnaryKernelName): KernelFn<UnaryKernelName> {
  const reference: KernelFn<UnaryKernelName> = referenceKernels[op];
  const fn = `unary_${op}`;
  return (inputs, attrs) => {
    const t = inputs[0]!;
    const limit = TRANSCENDENTAL.has(op) ? smallOpLimits.transcendental : smallOpLimits.memoryBound;
    if (attrs.dtype !== 'float32' || t.dtype !== 'float32' || t.size === 0 || t.size < limit) return reference(inputs, attrs);
    const X = readAs(t, t.shape, 'float32');
    const n = X.length;
    const r = rt();
    r.reset();
    const px = r.put(X);
    const py = r.output(n);
    const threads = threadsForElements(r, n, TRANSCENDENTAL.has(op) ? 'transcendental' : 'memoryBound');
    const calls = splitRange(n, pieces(threads), 4).map(([s, e]): Call => ({ fn, args: [px + s * 4, py + s * 4, e - s] }));
    r.run(spread(calls, threads));
    return r.result(py, t.shape);
  };
}

/**
 * A row-major copy of a float32 view in the kernels' memory (`contiguous`, `clone`, a reshape of a permuted or
 * expanded view), made there: the view's axes coalesced to at most four, cut into pieces along the first axis
 * longer than one, gathered by the threads. Null for views it does not cover: outside that memory (a
 * plain-array copy there is as fast as a copy in would be), too small, or more than four axes after coalescing.
 */
export function rowMajorCopy(r: WasmRuntime, t: Tensor): Tensor | null {
  if (t.dtype !== 'float32' || t.size < smallOpLimits.memoryBound || !isHeapArray(host(t))) return null;
  const geo = coalesce(t.shape, [t.strides]);
  if (geo.shape.length > 4) return null;
  while (geo.shape.length < 4) {
    geo.shape.unshift(1);
    geo.strides[0]!.unshift(0);
  }
  const dims = geo.shape;
  const strides = geo.strides[0]!;
  r.reset();
  const ps = r.put(host(t) as Float32Array) + t.offset * 4;
  const po = r.output(t.size);
  const threads = threadsForElements(r, t.size);
  // Cut along the first axis longer than one (a cut of the last one keeps multiples of 4 for the SIMD path).
  const ax = Math.max(0, dims.findIndex((d) => d > 1));
  const inner = dims.slice(ax + 1).reduce((p, d) => p * d, 1);
  const calls = splitRange(dims[ax]!, pieces(threads), ax === 3 ? 4 : 1).map(([s, e]): Call => {
    const part = dims.map((d, k) => (k === ax ? e - s : d));
    return { fn: 'gather', args: [ps + s * strides[ax]! * 4, po + s * inner * 4, ...part, ...strides] };
  });
  r.run(spread(calls, threads));
  return r.result(po, t.shape);
}

/**
 * `t` itself where it is row-major, else its row-major copy in the kernels' memory where rowMajorCopy covers it
 * (pushed to `copies`, for the caller to release), else `t` (for the plain-TypeScript read).
 */
export function gathered(r: WasmRuntime, t: Tensor, copies: Tensor[]): Tensor {
  if (isContiguous(t.shape, t.strides)) return t;
  const copy = rowMajorCopy(r, t);
  if (copy) copies.push(copy);
  return copy ?? t;
}

/**
 * Runs `fn` on the rows of `t` with the `axes` moved last (`outer` rows of `inner` float32, row-major). A view
 * whose rows are not row-major is gathered in the kernels' memory where it lies there (rowMajorCopy), else read
 * by the reference path; the copy is released when `fn` returns.
 */
function withRows<R>(r: WasmRuntime, t: Tensor, axes: readonly number[], fn: (r: WasmRuntime, data: ArrayLike<number>, outer: number, inner: number) => R): R {
  const { view, outer, inner } = rowsView(t, axes);
  const copies: Tensor[] = [];
  try {
    return fn(r, readAs(gathered(r, view, copies), view.shape, 'float32'), outer, inner);
  } finally {
    dispose(...copies);
  }
}

function copyKernel(rt: () => WasmRuntime): KernelFn<'copy'> {
  const reference = referenceKernels.copy;
  return (inputs, attrs) => rowMajorCopy(rt(), inputs[0]!) ?? reference(inputs, attrs);
}

function sumKernel(rt: () => WasmRuntime): KernelFn<'sum'> {
  const reference = referenceKernels.sum;
  return (inputs, attrs) => {
    const t = inputs[0]!;
    if (t.dtype !== 'float32' || attrs.dtype !== 'float32' || t.size === 0 || t.size < smallOpLimits.memoryBound) return reference(inputs, attrs);
    const around = sumAroundKept(rt(), t, attrs.axes);
    if (around) return fromTypedArray(around, reducedShape(t.shape, attrs.axes, attrs.keepdims));
    return withRows(rt(), t, attrs.axes, (r, data, outer, inner) => {
      r.reset();
      const px = r.put(data);
      const blocks = Math.max(1, Math.ceil(inner / SUM_BLOCK));
      const pd = r.alloc(outer * blocks * 8);
      const calls: Call[] = [];
      if (blocks === 1) {
        const threads = threadsForElements(r, outer * inner);
        for (const [s, e] of splitRange(outer, pieces(threads), 1)) calls.push({ fn: 'rowSums', args: [px + s * inner * 4, e - s, inner, pd + s * 8] });
        r.run(spread(calls, threads));
      } else {
        for (let row = 0; row < outer; row++) {
          for (let k = 0; k < blocks; k++) {
            const len = Math.min(SUM_BLOCK, inner - k * SUM_BLOCK);
            calls.push({ fn: 'rowSums', args: [px + (row * inner + k * SUM_BLOCK) * 4, 1, len, pd + (row * blocks + k) * 8] });
          }
        }
        r.run(spread(calls, threadsForElements(r, outer * inner)));
      }
      const partial = r.f64(pd, outer * blocks);
      const out = new Float32Array(outer);
      for (let row = 0; row < outer; row++) {
        let s = 0;
        for (let k = 0; k < blocks; k++) s += partial[row * blocks + k]!;
        out[row] = s;
      }
      return fromTypedArray(out, reducedShape(t.shape, attrs.axes, attrs.keepdims));
    });
  };
}

/**
 * max / min: row extrema (rowMax / rowMin), long rows in blocks of SUM_BLOCK whose results are combined in block
 * order by the reference's own rule (the first of equal values wins; any NaN gives NaN), so the result is the
 * reference's bit for bit, whatever the thread count.
 */
function extremumKernel(rt: () => WasmRuntime, isMax: boolean): KernelFn<'max' | 'min'> {
  const reference = referenceKernels[isMax ? 'max' : 'min'];
  return (inputs, attrs) => {
    const t = inputs[0]!;
    if (t.dtype !== 'float32' || attrs.dtype !== 'float32' || t.size === 0 || t.size < smallOpLimits.memoryBound) return reference(inputs, attrs);
    return withRows(rt(), t, attrs.axes, (r, data, outer, inner) => {
      r.reset();
      const px = r.put(data);
      const blocks = Math.ceil(inner / SUM_BLOCK);
      const pd = r.alloc(outer * blocks * 4);
      const fn = isMax ? 'rowMax' : 'rowMin';
      const threads = threadsForElements(r, outer * inner);
      const calls: Call[] = [];
      if (blocks === 1) {
        for (const [s, e] of splitRange(outer, pieces(threads), 1)) calls.push({ fn, args: [px + s * inner * 4, e - s, inner, pd + s * 4] });
      } else {
        for (let row = 0; row < outer; row++) {
          for (let k = 0; k < blocks; k++) calls.push({ fn, args: [px + (row * inner + k * SUM_BLOCK) * 4, 1, Math.min(SUM_BLOCK, inner - k * SUM_BLOCK), pd + (row * blocks + k) * 4] });
        }
      }
      r.run(spread(calls, threads));
      const partial = r.f32(pd, outer * blocks);
      const out = new Float32Array(outer);
      for (let row = 0; row < outer; row++) {
        let m = partial[row * blocks]!;
        for (let k = 1; k < blocks && !Number.isNaN(m); k++) {
          const v = partial[row * blocks + k]!;
          if (Number.isNaN(v) || (isMax ? v > m : v < m)) m = v;
        }
        out[row] = m;
      }
      return fromTypedArray(out, reducedShape(t.shape, attrs.axes, attrs.keepdims));
    });
  };
}

/**
 * Sums over the axes before and after a run of kept axes, [R1, K, R2] -> [K] (a bias gradient: N, C, H x W ->
 * C), without moving the kept axes first (a strided copy): float64 row sums over R2 for every (r1, k), then added
 * over r1 in order. The (K, R2) block must be row-major in memory; the R1 axes may have any strides (a slice along
 * the batch or channel axis, as concat's gradient makes). Null when the layout is not of that form.
 */
/** Switches for benchmarks (before/after in one process): `columnSums` off restores one pool call per r1 index. */
export const sumPaths = { columnSums: true };

function sumAroundKept(r: WasmRuntime, t: Tensor, axes: readonly number[]): Float32Array | null {
  const kept = t.shape.map((_, i) => i).filter((i) => !axes.includes(i) && t.shape[i] !== 1);
  const reduced = axes.filter((a) => t.shape[a] !== 1);
  if (kept.length === 0 || reduced.length === 0 || kept[kept.length - 1]! - kept[0]! !== kept.length - 1) return null;
  const before = reduced.filter((a) => a < kept[0]!);
  const after = reduced.filter((a) => a > kept[0]!);
  const size = (dims: number[]) => dims.reduce((p, a) => p * t.shape[a]!, 1);
  const r1 = size(before);
  const k = size(kept);
  const r2 = size(after);
  if (r1 === 1 || r2 > SUM_BLOCK) return null;
  const { data, strides } = inPlace(t, t.shape);
  // The (K, R2) block row-major: walking its axes from the last, each stride is the product of the sizes after it.
  let expected = 1;
  for (const a of [...kept, ...after].reverse()) {
    if (strides[a] !== expected) return null;
    expected *= t.shape[a]!;
  }
  const idx = before.map(() => 0);
  if (r2 === 1 && sumPaths.columnSums) {
    // Kept axes innermost (a Linear's bias gradient over [N, T, C] -> C): a "row" of R2 = 1 is one element, so one
    // pool call per r1 index cost ~R1 calls of nothing (5-8 ms for [64, 64, 96]). Add the columns here instead, in
    // float64 and in r1 order: the same sums in the same order as the call path below (a one-element row sum is
    // the element), so the result is that path's bit for bit, and one thread's whatever the thread count.
    const acc = new Float64Array(k);
    for (let i = 0; i < r1; i++) {
      let off = 0;
      before.forEach((a, j) => (off += idx[j]! * strides[a]!));
      for (let j = 0; j < k; j++) acc[j] += data[off + j]!;
      for (let j = before.length - 1; j >= 0 && ++idx[j]! === t.shape[before[j]!]!; j--) idx[j] = 0;
    }
    return Float32Array.from(acc);
  }
  r.reset();
  const px = r.put(data);
  const pd = r.alloc(r1 * k * 8);
  // One call per r1 index: K rows of R2 floats, at that index's offset.
  const calls: Call[] = [];
  for (let i = 0; i < r1; i++) {
    let off = 0;
    before.forEach((a, j) => (off += idx[j]! * strides[a]!));
    calls.push({ fn: 'rowSums', args: [px + off * 4, k, r2, pd + i * k * 8] });
    for (let j = before.length - 1; j >= 0 && ++idx[j]! === t.shape[before[j]!]!; j--) idx[j] = 0;
  }
  const threads = threadsForElements(r, r1 * k * r2);
  r.run(spread(calls, threads));
  const partial = r.f64(pd, r1 * k);
  const out = new Float32Array(k);
  for (let j = 0; j < k; j++) {
    let acc = 0;
    for (let i = 0; i < r1; i++) acc += partial[i * k + j]!;
    out[j] = acc;
  }
  return out;
}

function softmaxKernel(rt: () => WasmRuntime, log: boolean): KernelFn<'softmax' | 'logSoftmax'> {
  const reference = referenceKernels[log ? 'logSoftmax' : 'softmax'];
  return (inputs, attrs) => {
    const t = inputs[0]!;
    const { axis, dtype } = attrs;
    if (t.dtype !== 'float32' || dtype !== 'float32' || t.size === 0 || t.size < smallOpLimits.transcendental) return reference(inputs, attrs);
    const rowsOut = withRows(rt(), t, [axis], (r, data, outer, inner) => {
      r.reset();
      const px = r.put(data);
      const py = r.output(outer * inner);
      const stats = log ? r.alloc(outer * 16) : 0;
      const threads = threadsForElements(r, outer * inner, 'transcendental');
      const ranges = splitRange(outer, pieces(threads), 1);
      r.run(spread(ranges.map(([s, e]) => ({ fn: 'softmaxRows', args: [px + s * inner * 4, py + s * inner * 4, e - s, inner, log ? 1 : 0, stats + s * 16] })), threads));
      if (log) {
        // log softmax = (x - max) - log(sum of exp(x - max)): the max first, so that log(sum) is not rounded away
        // next to a large max (x - (max + log(sum)) gave 0 for [1e8, 1e8], where the answer is -log 2).
        const st = r.f64(stats, outer * 2);
        const pl = r.alloc(outer * 8);
        const shift = r.f32(pl, outer * 2);
        for (let row = 0; row < outer; row++) {
          shift[2 * row] = st[2 * row]!;
          shift[2 * row + 1] = Math.log(st[2 * row + 1]!);
        }
        r.run(spread(ranges.map(([s, e]) => ({ fn: 'subRowShifts', args: [px + s * inner * 4, py + s * inner * 4, e - s, inner, pl + s * 8] })), threads));
      }
      return r.result(py, [...t.shape.filter((_, i) => i !== axis), t.shape[axis]!]);
    });
    if (axis === t.ndim - 1) return rowsOut;
    // Rows were laid out with the axis last: move it back.
    const kept = t.shape.map((_, i) => i).filter((i) => i !== axis);
    const inverse = new Array<number>(t.ndim);
    [...kept, axis].forEach((src, dst) => (inverse[src] = dst));
    const out = asContiguous(permuteView(rowsOut, inverse));
    if (out.storage !== rowsOut.storage) dispose(rowsOut); // (size-1 axes only: the permuted view is the result)
    return out;
  };
}

export function wasmVectorKernels(rt: () => WasmRuntime): Partial<KernelTable> {
  return {
    ...kernelsOf(BINARY_WASM_OPS, (op) => binaryKernel(rt, op)),
    ...kernelsOf(UNARY_WASM_OPS, (op) => unaryKernel(rt, op)),
    copy: copyKernel(rt),
    sum: sumKernel(rt),
    max: extremumKernel(rt, true),
    min: extremumKernel(rt, false),
    softmax: softmaxKernel(rt, false),
    logSoftmax: softmaxKernel(rt, true),
  };
}
