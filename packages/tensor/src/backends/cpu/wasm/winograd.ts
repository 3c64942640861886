/**
 * Winograd F(2x2, 3x3) for 3x3 convolutions with stride 1, padding 1, dilation 1 and one group (every 3x3 conv of
 * a UNet): the forward and the input gradient (a 3x3 stride-1 pad-1 conv of dy with the flipped, transposed
 * weights), and the weight gradient. Per run of images: input transform into the GEMM's packed-B layout (winograd-emit.ts), 16 GEMMs
 * (one per transform position: [Cout x Cin] times [Cin x tiles], 16 multiply-adds per tile and channel pair instead
 * of 36), output transform. The weight transform G g G^T is made in float64 in JavaScript (Cout Cin 4x4 values)
 * and rounded once to float32.
 *
 * Threads take runs of whole images (each its own scratch); nothing is summed across runs, so every result is
 * bitwise the same whatever the thread count. Rounding differs from im2col + GEMM (see winograd.test.ts for the
 * error against the float64 reference).
 *
 * NaN and infinity: the transforms mix the inputs of a whole 4x4 tile (Inf - Inf = NaN), so a special input would
 * spread to outputs that im2col + GEMM keeps finite; where any result is not finite, the op is run again on
 * im2col + GEMM (a flag set by the output transform, one f32x4 add per output vector), so which outputs are NaN or
 * infinite never depends on the algorithm.
 *
 * Switch: `winogradPaths.enabled = false` turns it off (im2col + GEMM everywhere), for A/B in one process.
 */
import type { ConvGeometry } from '../../../shape.js';
import { DEFAULT_BLOCKING, NR } from './gemm-emit.js';
import { gemmCall, splitRange, threadsFor } from './gemm.js';
import { claimablePieces, type Call } from './pool.js';
import type { WasmRuntime } from './runtime.js';

export const winogradPaths = {
  enabled: true,
  /** Fewest input and output channels for which Winograd is used (below, im2col + GEMM is faster; measured). */
  minChannels: 8,
  /** Bytes of V (transformed inputs) + M (products) per run of images, kept near the L2 cache size. */
  chunkBytes: 512 * 1024,
  /** The weight gradient on Winograd too (else im2col + GEMM for it even where the forward uses Winograd). */
  weightGradient: true,
  /** Bytes of V + D per batch of images in the weight gradient (they are all kept until the GEMMs have run). */
  weightGradientBytes: 64 * 2 ** 20,
};

/** Whether conv `g` runs on Winograd (forward and input gradient). */
export function winogradApplies(g: ConvGeometry): boolean {
  return (
    winogradPaths.enabled &&
    g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.ph === 1 && g.pw === 1 && g.dh === 1 && g.dw === 1 &&
    g.groups === 1 &&
    // The packed-B layout written by wgInput is packB's only when all Cin rows fit one KC block.
    g.c <= DEFAULT_BLOCKING.kc && g.o <= DEFAULT_BLOCKING.kc &&
    g.c >= winogradPaths.minChannels && g.o >= winogradPaths.minChannels
  );
}

/**
 * U = G g G^T for each of `outC` x `inC` 3x3 kernels, as 16 [outC x inC] row-major matrices (position-major).
 * `tap(o, c, i, j)` reads the kernel's tap (i, j).
 */
function transformWeights(outC: number, inC: number, tap: (o: number, c: number, i: number, j: number) => number): Float32Array {
  const U = new Float32Array(16 * outC * inC);
  const plane = outC * inC;
  const t = new Float64Array(12);
  for (let o = 0; o < outC; o++) {
    for (let c = 0; c < inC; c++) {
      // t = G g (4 x 3): rows g0, (g0 + g1 + g2)/2, (g0 - g1 + g2)/2, g2.
      for (let j = 0; j < 3; j++) {
        const g0 = tap(o, c, 0, j), g1 = tap(o, c, 1, j), g2 = tap(o, c, 2, j);
        t[j] = g0;
        t[3 + j] = 0.5 * (g0 + g1 + g2);
        t[6 + j] = 0.5 * (g0 - g1 + g2);
        t[9 + j] = g2;
      }
      const at = o * inC + c;
      for (let i = 0; i < 4; i++) {
        const a = t[3 * i]!, b = t[3 * i + 1]!, d = t[3 * i + 2]!;
        U[(4 * i) * plane + at] = a;
        U[(4 * i + 1) * plane + at] = 0.5 * (a + b + d);
        U[(4 * i + 2) * plane + at] = 0.5 * (a - b + d);
        U[(4 * i + 3) * plane + at] = d;
      }
    }
  }
  return U;
}

/**
 * out [n, outC, H, W] = the 3x3 pad-1 convolution of inp [n, inC, H, W] (byte address) whose transformed weights
 * are U. Returns the address of the result (an rt.output block), or null where some output is NaN or infinite (the
 * caller then runs im2col + GEMM). The caller has called rt.reset() and put inp.
 */
function winogradConv(rt: WasmRuntime, inp: number, n: number, inC: number, outC: number, H: number, W: number, U: Float32Array): number | null {
  const TH = Math.ceil(H / 2);
  const TW4 = Math.ceil(Math.ceil(W / 2) / 4) * 4;
  const imageTiles = TH * TW4;
  const threads = threadsFor(rt, 2 * n * outC * inC * 9 * H * W);
  const pu = rt.put(U);
  const out = rt.output(n * outC * H * W);
  const perImage = 16 * 4 * imageTiles * (inC + outC);
  const chunk = Math.max(1, Math.min(n, Math.floor(winogradPaths.chunkBytes / perImage)));
  const pieces = Math.min(n, claimablePieces(threads, 2));
  const ranges = splitRange(n, pieces, 1);
  const maxTc = Math.min(chunk, Math.max(...ranges.map(([a, b]) => b - a))) * imageTiles;
  const panelTc = Math.ceil(maxTc / NR) * NR;
  const planeFloats = (2 * TH + 2) * (2 * TW4 + 2);
  const flag = rt.alloc(64);
  rt.f32(flag, 1).fill(0);
  const lists: Call[][] = ranges.map(([a, b]) => {
    const plane = rt.alloc(planeFloats * 4);
    const V = rt.alloc(16 * inC * panelTc * 4);
    const M = rt.alloc(16 * outC * maxTc * 4);
    // Columns past the last tile of a partial panel are read by the GEMM (and thrown away): keep them finite.
    rt.f32(V, 16 * inC * panelTc).fill(0);
    const calls: Call[] = [];
    for (let s = a; s < b; s += chunk) {
      const e = Math.min(b, s + chunk);
      const Tc = (e - s) * imageTiles;
      const posBytes = Math.ceil(Tc / NR) * NR * inC * 4;
      calls.push({ fn: 'wgInput', args: [inp + s * inC * H * W * 4, inC, H, W, e - s, TH, TW4, plane, V, posBytes, 0] });
      for (let p = 0; p < 16; p++) {
        calls.push(gemmCall({
          m: outC, n: Tc, k: inC,
          a: pu + p * outC * inC * 4, rsA: inC, csA: 1,
          b: V + p * posBytes, rsB: Tc, csB: 1, packedB: V + p * posBytes,
          c: M + p * outC * Tc * 4, ldc: Tc, accumulate: false,
        }));
      }
      calls.push({ fn: 'wgOutput', args: [M, outC, Tc, e - s, TH, TW4, out + s * outC * H * W * 4, H, W, flag] });
    }
    return calls;
  });
  rt.run(lists);
  // A NaN or infinity anywhere (special inputs, or an overflow of the transforms): the direct path's result instead,
  // so that which outputs are NaN or infinite never depends on the algorithm.
  return rt.f32(flag, 1)[0] === 0 ? out : null;
}

/** conv2d forward on Winograd: x [N, C, H, W] and w [O, C, 3, 3] (float32, row-major) -> y [N, O, H, W]. */
export function winogradForward(rt: WasmRuntime, x: Float32Array, w: Float32Array, g: ConvGeometry): number | null {
  const U = transformWeights(g.o, g.c, (o, c, i, j) => w[((o * g.c + c) * 3 + i) * 3 + j]!);
  rt.reset();
  const px = rt.put(x);
  return winogradConv(rt, px, g.n, g.c, g.o, g.h, g.w, U);
}

/**
 * conv2d's input gradient on Winograd: dx[n, c] = sum over o of the pad-1 correlation of dy[n, o] with w[o, c]
 * rotated by 180 degrees, i.e. the forward with weights w'[c, o, i, j] = w[o, c, 2 - i, 2 - j].
 */
export function winogradInputGradient(rt: WasmRuntime, dy: Float32Array, w: Float32Array, g: ConvGeometry): number | null {
  const U = transformWeights(g.c, g.o, (c, o, i, j) => w[((o * g.c + c) * 3 + (2 - i)) * 3 + (2 - j)]!);
  rt.reset();
  const pdy = rt.put(dy);
  return winogradConv(rt, pdy, g.n, g.o, g.c, g.h, g.w, U);
}

/**
 * conv2d's weight gradient on Winograd: with V = B^T x_t B and D = A dy_t A^T for every tile t (of every image),
 * dU[p] = sum over tiles of D[p] V[p]^T (16 GEMMs [O x tiles] [tiles x C]) and dw = G^T dU G, the transpose of
 * the forward's chain. Images are transformed in runs per thread; the GEMMs are shared out by position, each summing
 * its tiles in the same order (KC blocks ascending, batches of images ascending), so the result is bitwise the same
 * whatever the thread count. dU goes to float64 in JavaScript for G^T dU G (O C 4x4 values). Null where some
 * result is NaN or infinite (the caller runs im2col + GEMM: the same classes of specials as it).
 */
export function winogradWeightGradient(rt: WasmRuntime, x: Float32Array, dy: Float32Array, g: ConvGeometry): number | null {
  const { n, c: C, o: O, h: H, w: W } = g;
  const TH = Math.ceil(H / 2);
  const TW4 = Math.ceil(Math.ceil(W / 2) / 4) * 4;
  const imageTiles = TH * TW4;
  const threads = threadsFor(rt, 2 * n * O * C * 9 * H * W);
  rt.reset();
  const px = rt.put(x);
  const pdy = rt.put(dy);
  const out = rt.output(O * C * 9);
  const dU = rt.alloc(16 * O * C * 4);
  const perImage = 16 * 4 * imageTiles * (C + O);
  const batch = Math.max(1, Math.min(n, Math.floor(winogradPaths.weightGradientBytes / perImage)));
  const V = rt.alloc(16 * C * batch * imageTiles * 4);
  const D = rt.alloc(16 * O * batch * imageTiles * 4);
  const pieces = claimablePieces(threads, 2);
  const planes = Array.from({ length: Math.min(batch, pieces) }, () => rt.alloc((2 * TH + 2) * (2 * TW4 + 2) * 4));
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const Tb = (e - s) * imageTiles;
    const vBytes = C * Tb * 4, dBytes = O * Tb * 4;
    rt.run(splitRange(e - s, planes.length, 1).map(([a, b], t) => [
      { fn: 'wgInput', args: [px + (s + a) * C * H * W * 4, C, H, W, b - a, TH, TW4, planes[t]!, V + a * imageTiles * 4, vBytes, Tb] },
      { fn: 'wgGradOut', args: [pdy + (s + a) * O * H * W * 4, O, H, W, b - a, TH, TW4, planes[t]!, D + a * imageTiles * 4, dBytes, Tb] },
    ]));
    rt.run(splitRange(16, Math.min(16, pieces), 1).map(([p0, p1]) => {
      const calls: Call[] = [];
      for (let p = p0; p < p1; p++) {
        calls.push(gemmCall({
          m: O, n: C, k: Tb,
          a: D + p * dBytes, rsA: Tb, csA: 1,
          b: V + p * vBytes, rsB: 1, csB: Tb,
          c: dU + p * O * C * 4, ldc: C, accumulate: s > 0,
        }));
      }
      return calls;
    }));
  }
  const u = rt.f32(dU, 16 * O * C);
  const dw = rt.f32(out, O * C * 9);
  const plane = O * C;
  const Gt = [[1, 0.5, 0.5, 0], [0, 0.5, -0.5, 0], [0, 0.5, 0.5, 1]]; // G^T (3 x 4)
  const m = new Float64Array(12);
  let special = false;
  for (let oc = 0; oc < plane; oc++) {
    // m = G^T dU (3 x 4), then dw = m G (3 x 3).
    for (let a = 0; a < 3; a++) {
      for (let k = 0; k < 4; k++) {
        let v = 0;
        for (let i = 0; i < 4; i++) v += Gt[a]![i]! * u[(4 * i + k) * plane + oc]!;
        m[4 * a + k] = v;
      }
    }
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += m[4 * a + k]! * Gt[b]![k]!;
        dw[oc * 9 + 3 * a + b] = v;
        special ||= !Number.isFinite(v);
      }
    }
  }
  return special ? null : out;
}
