/**
 * conv2d and its two gradients via im2col / col2im and the WebAssembly GEMM, per image and per group
 * (P = OH OW output pixels, R = C/groups kh kw rows of the column matrix per group):
 * - forward:  y_n[g]  = W[g] (Og x R)  col_n[g] (R x P)
 * - dinput:   dcol_n[g] = W[g]^T (R x Og)  dy_n[g] (Og x P), then col2im scatters dcol_n into dx_n
 * - dweight:  dW[g] += dy_n[g] (Og x P)  col_n[g]^T (P x R), images in ascending order
 * A 1x1 convolution with stride 1 and no padding needs no column matrix: col_n is x_n itself.
 * 3x3 convolutions with stride 1 and padding 1 run on Winograd F(2x2, 3x3) instead, all three kernels (winograd.ts;
 * `winogradPaths.enabled = false` for this path), but for a result with a NaN or infinity, made again here.
 *
 * Threads take runs of whole images where there are enough, else split each GEMM's output; dweight always splits
 * its output (never the image sum), so every result is bitwise independent of the thread count.
 */
import type { KernelFn } from '../../../backend.js';
import type { ConvAttrs } from '../../../kernel-names.js';
import type { ConvGeometry } from '../../../shape.js';
import { referenceKernels } from '../index.js';
import { dispose } from '../../../memory.js';
import type { Tensor } from '../../../tensor.js';
import { readAs } from '../layout.js';
import { gemmCall, runGemm, splitGemm, splitRange, threadsFor, type Gemm } from './gemm.js';
import { claimablePieces, type Call } from './pool.js';
import type { WasmRuntime } from './runtime.js';
import { gathered } from './vector.js';
import { winogradApplies, winogradForward, winogradInputGradient, winogradPaths, winogradWeightGradient } from './winograd.js';

/** Column matrices above this size are processed in batches of fewer images. */
const COLUMN_BUDGET_BYTES = 64 * 2 ** 20;
/** Output pixels per band of the forward im2col (a multiple of the GEMM's NR = 8 columns keeps panels full). */
const BAND_PIXELS = 256;

const isPointwise = (g: ConvGeometry) => g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;

function geometryArgs(g: ConvGeometry, x: number): number[] {
  return [x, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh, g.ow];
}

/**
 * The GEMM view of a convolution: per group, an [og x R] weight matrix times an [R x P] column matrix, where R is a
 * group's receptive field and P the output pixels; `rows` is the im2col height over all groups, `image` one input.
 */
function gemmDims(g: ConvGeometry) {
  return {
    og: g.o / g.groups,
    R: (g.c / g.groups) * g.kh * g.kw,
    P: g.oh * g.ow,
    rows: g.c * g.kh * g.kw,
    image: g.c * g.h * g.w,
  };
}

/**
 * Runs of images per thread: two, claimed by whichever thread is free (pool.ts), so that a thread running slower
 * (a busy vCPU) ends up with fewer images. Each piece has its own column buffer.
 */
const imagePieces = (n: number, threads: number) => Math.min(n, claimablePieces(threads, 2));

/** Images cut into `pieces` runs: piece t runs `perImage(img, t)` for each of its images, in order. */
function runPerImage(rt: WasmRuntime, n: number, pieces: number, perImage: (img: number, t: number) => Call[]): void {
  rt.run(splitRange(n, pieces, 1).map(([a, b], t) => Array.from({ length: b - a }, (_, i) => perImage(a + i, t)).flat()));
}

/** Each conv kernel returns the address of its result, an `rt.output` block. */
function conv2dForward(rt: WasmRuntime, x: Float32Array, w: Float32Array, g: ConvGeometry): number {
  const wino = winogradApplies(g) ? winogradForward(rt, x, w, g) : null;
  if (wino !== null) return wino;
  const { og, R, P, rows, image } = gemmDims(g);
  const threads = threadsFor(rt, 2 * g.n * g.o * R * P);
  const pointwise = isPointwise(g);
  rt.reset();
  const px = rt.put(x);
  const pw = rt.put(w);
  const py = rt.output(g.n * g.o * P);
  const pieces = imagePieces(g.n, threads);
  const cols = pointwise ? [] : Array.from({ length: pieces }, () => rt.alloc(rows * P * 4));
  const colOf = (img: number, t: number) => (pointwise ? px + img * image * 4 : cols[t]!);
  const gemms = (img: number, t: number): Gemm[] =>
    Array.from({ length: g.groups }, (_, gi) => ({
      m: og, n: P, k: R,
      a: pw + gi * og * R * 4, rsA: R, csA: 1,
      b: colOf(img, t) + gi * R * P * 4, rsB: P, csB: 1,
      c: py + (img * g.o + gi * og) * P * 4, ldc: P, accumulate: false,
    }));
  const im2col = (img: number, t: number): Call => ({ fn: 'im2col', args: [...geometryArgs(g, px + img * image * 4), cols[t]!, P, 1] });
  if (g.n >= threads && !pointwise && g.sw === 1) {
    // Bands of output rows: each band's column matrix (about BAND_PIXELS columns) stays in cache between
    // im2col and the GEMM's packing. Splitting the GEMM's columns changes no bit of any output.
    const band = Math.max(1, Math.floor(BAND_PIXELS / g.ow));
    runPerImage(rt, g.n, pieces, (img, t) => {
      const calls: Call[] = [];
      for (let oy0 = 0; oy0 < g.oh; oy0 += band) {
        const oy1 = Math.min(g.oh, oy0 + band);
        const bp = (oy1 - oy0) * g.ow;
        calls.push({ fn: 'im2colBand', args: [...geometryArgs(g, px + img * image * 4), cols[t]!, oy0, oy1] });
        for (let gi = 0; gi < g.groups; gi++) {
          calls.push(gemmCall({
            m: og, n: bp, k: R,
            a: pw + gi * og * R * 4, rsA: R, csA: 1,
            b: cols[t]! + gi * R * bp * 4, rsB: bp, csB: 1,
            c: py + ((img * g.o + gi * og) * P + oy0 * g.ow) * 4, ldc: P, accumulate: false,
          }));
        }
      }
      return calls;
    });
  } else if (g.n >= threads) {
    runPerImage(rt, g.n, pieces, (img, t) => [...(pointwise ? [] : [im2col(img, t)]), ...gemms(img, t).map((gm) => gemmCall(gm))]);
  } else {
    for (let img = 0; img < g.n; img++) {
      if (!pointwise) rt.run([[im2col(img, 0)]]);
      for (const gm of gemms(img, 0)) runGemm(rt, gm, threads);
    }
  }
  return py;
}

function conv2dInputGradient(rt: WasmRuntime, dy: Float32Array, w: Float32Array, g: ConvGeometry): number {
  const wino = winogradApplies(g) ? winogradInputGradient(rt, dy, w, g) : null;
  if (wino !== null) return wino;
  const { og, R, P, rows, image } = gemmDims(g);
  const threads = threadsFor(rt, 2 * g.n * g.o * R * P);
  const pointwise = isPointwise(g);
  rt.reset();
  const pdy = rt.put(dy);
  const pw = rt.put(w);
  const pdx = rt.output(g.n * image);
  rt.f32(pdx, g.n * image).fill(0);
  const pieces = imagePieces(g.n, threads);
  const dcols = pointwise ? [] : Array.from({ length: pieces }, () => rt.alloc(rows * P * 4));
  const dcolOf = (img: number, t: number) => (pointwise ? pdx + img * image * 4 : dcols[t]!);
  const gemms = (img: number, t: number): Gemm[] =>
    Array.from({ length: g.groups }, (_, gi) => ({
      m: R, n: P, k: og,
      a: pw + gi * og * R * 4, rsA: 1, csA: R,
      b: pdy + (img * g.o + gi * og) * P * 4, rsB: P, csB: 1,
      c: dcolOf(img, t) + gi * R * P * 4, ldc: P, accumulate: false,
    }));
  const col2im = (img: number, t: number): Call => ({ fn: 'col2im', args: [...geometryArgs(g, pdx + img * image * 4), dcols[t]!] });
  if (g.n >= threads) {
    runPerImage(rt, g.n, pieces, (img, t) => [...gemms(img, t).map((gm) => gemmCall(gm)), ...(pointwise ? [] : [col2im(img, t)])]);
  } else {
    for (let img = 0; img < g.n; img++) {
      for (const gm of gemms(img, 0)) runGemm(rt, gm, threads);
      if (!pointwise) rt.run([[col2im(img, 0)]]);
    }
  }
  return pdx;
}

function conv2dWeightGradient(rt: WasmRuntime, x: Float32Array, dy: Float32Array, g: ConvGeometry): number {
  const wino = winogradPaths.weightGradient && winogradApplies(g) ? winogradWeightGradient(rt, x, dy, g) : null;
  if (wino !== null) return wino;
  const { og, R, P, rows, image } = gemmDims(g);
  const threads = threadsFor(rt, 2 * g.n * g.o * R * P);
  const pointwise = isPointwise(g);
  const batch = pointwise ? g.n : Math.max(1, Math.min(g.n, Math.floor(COLUMN_BUDGET_BYTES / (rows * P * 4))));
  rt.reset();
  const px = rt.put(x);
  const pdy = rt.put(dy);
  const pdw = rt.output(g.o * R);
  // Row-major column matrices (rows x P, im2col's fast path); the GEMM reads B = col^T through its strides.
  const colTs = pointwise ? [] : Array.from({ length: batch }, () => rt.alloc(rows * P * 4));
  for (let s = 0; s < g.n; s += batch) {
    const e = Math.min(g.n, s + batch);
    if (!pointwise) {
      const lists: Call[][] = Array.from({ length: threads }, () => []);
      splitRange(e - s, threads, 1).forEach(([a, b], t) => {
        for (let i = a; i < b; i++) lists[t]!.push({ fn: 'im2col', args: [...geometryArgs(g, px + (s + i) * image * 4), colTs[i]!, P, 1] });
      });
      rt.run(lists);
    }
    // Piece t of every image's product covers the same tiles of dW: its list accumulates them in image order.
    const lists: Call[][] = [];
    for (let img = s; img < e; img++) {
      for (let gi = 0; gi < g.groups; gi++) {
        const b = pointwise
          ? { b: px + (img * g.c + gi * R) * P * 4, rsB: 1, csB: P }
          : { b: colTs[img - s]! + gi * R * P * 4, rsB: 1, csB: P };
        const gm: Gemm = { m: og, n: R, k: P, a: pdy + (img * g.o + gi * og) * P * 4, rsA: P, csA: 1, ...b, c: pdw + gi * og * R * 4, ldc: R, accumulate: img > 0 };
        splitGemm(gm, threads).forEach((l, t) => (lists[t] ??= []).push(...l));
      }
    }
    rt.run(lists);
  }
  return pdw;
}

type ConvKernelName = 'conv2d' | 'conv2dBackwardInput' | 'conv2dBackwardWeight';

export function wasmConvKernels(rt: () => WasmRuntime): { [N in ConvKernelName]: KernelFn<N> } {
  const wrap = (name: ConvKernelName, shapeOf: (g: ConvGeometry) => number[], fast: (r: WasmRuntime, a: Float32Array, b: Float32Array, g: ConvGeometry) => number): KernelFn<ConvKernelName> => {
    const reference: KernelFn<ConvKernelName> = referenceKernels[name];
    return (inputs, attrs: ConvAttrs) => {
      if (attrs.dtype !== 'float32') return reference(inputs, attrs);
      const r = rt();
      // Views that are not row-major (a gradient sliced out of a concatenation's, say) are gathered in the kernels'
      // memory where they lie there, and released once the product is made.
      const copies: Tensor[] = [];
      const rowMajor = (t: Tensor) => readAs(gathered(r, t, copies), t.shape, 'float32') as Float32Array;
      try {
        const [a, b] = [rowMajor(inputs[0]!), rowMajor(inputs[1]!)];
        return r.result(fast(r, a, b, attrs.geo), shapeOf(attrs.geo));
      } finally {
        dispose(...copies);
      }
    };
  };
  return {
    conv2d: wrap('conv2d', (g) => [g.n, g.o, g.oh, g.ow], conv2dForward),
    conv2dBackwardInput: wrap('conv2dBackwardInput', (g) => [g.n, g.c, g.h, g.w], conv2dInputGradient),
    conv2dBackwardWeight: wrap('conv2dBackwardWeight', (g) => [g.o, g.c / g.groups, g.kh, g.kw], conv2dWeightGradient),
  };
}
