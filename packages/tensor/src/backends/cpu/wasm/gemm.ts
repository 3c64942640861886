/**
 * The JavaScript side of the GEMM: describe one product, split it over threads, and the matmul kernel.
 *
 * Work is split only over output tiles (rows in multiples of 4, columns in multiples of 8), never over the
 * reduction axis, so each output element is summed in the same order whatever the thread count.
 */
import type { KernelFn } from '../../../backend.js';
import { sizeOf } from '../../../shape.js';
import { inPlace } from './operand.js';
import { DEFAULT_BLOCKING, MR, NR, packedBlockOffset } from './gemm-emit.js';
import { claimablePieces, type Call } from './pool.js';
import type { WasmRuntime } from './runtime.js';

/** One product C (+)= A B, with element strides and byte addresses. */
export interface Gemm {
  m: number;
  n: number;
  k: number;
  a: number;
  rsA: number;
  csA: number;
  b: number;
  rsB: number;
  csB: number;
  c: number;
  ldc: number;
  accumulate: boolean;
  /** Byte address of B packed whole (packBlocksOfB), read instead of packing B's blocks in each call. */
  packedB?: number;
}

/**
 * Below this many flops per thread, waking another thread costs more than it saves. Measured with the claiming
 * pool (a helper that wakes late costs nothing but the wake): two threads break even with one at a 96 x 96
 * product and win from 128 x 128 (0.20 ms against 0.25); at 64 x 64 they lose (0.075 ms against 0.048).
 */
export const gemmThreading = {
  minFlopsPerThread: 3e6,
  /** Threads that cut one product's rows share one packing of B (runGemm). */
  sharePackedB: true,
};

export function threadsFor(rt: WasmRuntime, flops: number): number {
  return Math.max(1, Math.min(rt.threads, Math.floor(flops / gemmThreading.minFlopsPerThread)));
}

/**
 * Pieces per thread that one product is cut into. Lists are claimed by whichever thread is free (pool.ts), so
 * with more pieces than threads a thread that runs slower (a busy vCPU) ends up with fewer of them.
 */
export const GEMM_PIECES_PER_THREAD = 2;
const gemmPieces = (threads: number) => claimablePieces(threads, GEMM_PIECES_PER_THREAD);

/** The call that computes rows [i0, i1) and columns [j0, j1) of `g` (packing in its thread's scratch). */
export function gemmCall(g: Gemm, i0 = 0, i1 = g.m, j0 = 0, j1 = g.n): Call {
  return {
    fn: 'gemm',
    args: [i1 - i0, g.n, g.k, g.a + i0 * g.rsA * 4, g.rsA, g.csA, g.b, g.rsB, g.csB, g.c + i0 * g.ldc * 4, g.ldc, j0, j1, g.accumulate ? 1 : 0, g.packedB ?? 0],
    scratch: true,
  };
}

/** [start, end) ranges cutting n into `parts` pieces whose boundaries are multiples of `align`. */
export function splitRange(n: number, parts: number, align: number): [number, number][] {
  const units = Math.ceil(n / align);
  const p = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  for (let i = 0; i < p; i++) {
    const s = Math.floor((units * i) / p) * align;
    const e = Math.min(n, Math.floor((units * (i + 1)) / p) * align);
    if (e > s) out.push([s, e]);
  }
  return out;
}

/** Whether splitGemm cuts `g` along its columns (else along its rows). */
const cutsColumns = (g: Gemm) => g.n / NR >= g.m / MR;

/**
 * Call lists for one GEMM, cut along its longer output side into a few pieces per thread. The cut depends only
 * on the product's shape and the thread count, so products of one shape are cut alike (list t of each touches
 * the same output tiles).
 */
export function splitGemm(g: Gemm, threads: number): Call[][] {
  if (cutsColumns(g)) return splitRange(g.n, gemmPieces(threads), NR).map(([j0, j1]) => [gemmCall(g, 0, g.m, j0, j1)]);
  return splitRange(g.m, gemmPieces(threads), MR).map(([i0, i1]) => [gemmCall(g, i0, i1)]);
}

/** Calls that pack all of g's B at byte address `dst`, one per KC x NC block (packedBlockOffset's layout). */
function packBlocksOfB(g: Gemm, dst: number): Call[] {
  const { kc: KC, nc: NC } = DEFAULT_BLOCKING;
  const calls: Call[] = [];
  for (let jc = 0; jc < g.n; jc += NC) {
    for (let pc = 0; pc < g.k; pc += KC) {
      const src = g.b + (pc * g.rsB + jc * g.csB) * 4;
      calls.push({ fn: 'packB', args: [Math.min(KC, g.k - pc), Math.min(NC, g.n - jc), src, g.rsB, g.csB, dst + packedBlockOffset(g.k, g.n, jc, pc) * 4] });
    }
  }
  return calls;
}

/**
 * Runs one GEMM on `threads` threads (through `r`, which also provides the scratch memory). Cut along its rows,
 * each piece would pack all of B for itself: B is packed once instead, its blocks shared out between the threads,
 * and then every piece reads it from there (measured: 2-3% off 512 x 512 and 1024 x 1024 products on two threads).
 */
export function runGemm(r: WasmRuntime, g: Gemm, threads: number): void {
  const lists = splitGemm(g, threads);
  if (lists.length < 2 || cutsColumns(g) || !gemmThreading.sharePackedB) return r.run(lists);
  const packed = r.alloc(g.k * Math.ceil(g.n / NR) * NR * 4);
  const packing = packBlocksOfB(g, packed);
  r.run(splitRange(packing.length, gemmPieces(threads), 1).map(([s, e]) => packing.slice(s, e)));
  r.run(splitGemm({ ...g, packedB: packed }, threads));
}

/** Runs a batch of independent GEMMs: runs of whole products when there are enough of them, otherwise each cut into pieces. */
export function runGemms(r: WasmRuntime, gs: readonly Gemm[], threads: number): void {
  if (gs.length >= threads) return r.run(splitRange(gs.length, gemmPieces(threads), 1).map(([s, e]) => gs.slice(s, e).map((g) => gemmCall(g))));
  for (const g of gs) runGemm(r, g, threads);
}

/** Batched float32 matmul on the WebAssembly GEMM; other dtypes go to the reference kernel. */
export function wasmMatmul(rt: () => WasmRuntime, reference: KernelFn<'matmul'>): KernelFn<'matmul'> {
  return (inputs, attrs) => {
    const { batch, m, n, k, dtype } = attrs;
    const nb = sizeOf(batch);
    if (dtype !== 'float32' || nb * m * n === 0 || k === 0) return reference(inputs, attrs);
    const r = rt();
    // Transposed and broadcast operands are read through their strides (the GEMM packs them anyway).
    const A = inPlace(inputs[0]!, [...batch, m, k]);
    const B = inPlace(inputs[1]!, [...batch, k, n]);
    r.reset();
    const pa = r.put(A.data);
    const pb = r.put(B.data);
    const pc = r.output(nb * m * n);
    const gs: Gemm[] = [];
    const nd = batch.length;
    for (let i = 0; i < nb; i++) {
      // Element offsets of batch entry i in each operand.
      let offA = 0, offB = 0;
      for (let d = nd - 1, rest = i; d >= 0; d--) {
        const idx = rest % batch[d]!;
        rest = Math.floor(rest / batch[d]!);
        offA += idx * A.strides[d]!;
        offB += idx * B.strides[d]!;
      }
      gs.push({ m, n, k, a: pa + offA * 4, rsA: A.strides[nd]!, csA: A.strides[nd + 1]!, b: pb + offB * 4, rsB: B.strides[nd]!, csB: B.strides[nd + 1]!, c: pc + i * m * n * 4, ldc: n, accumulate: false });
    }
    runGemms(r, gs, threadsFor(r, 2 * nb * m * n * k));
    return r.result(pc, [...batch, m, n]);
  };
}
