/**
 * The JavaScript side of the GEMM: describe one product, split it over threads, and the matmul kernel.
 *
 * Work is split only over output tiles (rows in multiples of 4, columns in multiples of 8), never over the
 * reduction axis, so each output element is summed in the same order whatever the thread count.
 */
import type { KernelFn } from '../../../backend.js';
import { sizeOf } from '../../../shape.js';
import { inPlace } from './operand.js';
import { MR, NR } from './gemm-emit.js';
import type { Call } from './pool.js';
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
}

/**
 * Below this many flops per thread, waking another thread costs more than it saves (on a busy machine a
 * helper may wake late: measured here, a 256 x 256 product was slower on two threads than on one).
 */
export const gemmThreading = { minFlopsPerThread: 2e7 };

export function threadsFor(rt: WasmRuntime, flops: number): number {
  return Math.max(1, Math.min(rt.threads, Math.floor(flops / gemmThreading.minFlopsPerThread)));
}

/** The call that computes rows [i0, i1) and columns [j0, j1) of `g` on thread `t`. */
export function gemmCall(rt: WasmRuntime, g: Gemm, t: number, i0 = 0, i1 = g.m, j0 = 0, j1 = g.n): Call {
  return {
    fn: 'gemm',
    args: [i1 - i0, g.n, g.k, g.a + i0 * g.rsA * 4, g.rsA, g.csA, g.b, g.rsB, g.csB, g.c + i0 * g.ldc * 4, g.ldc, j0, j1, g.accumulate ? 1 : 0, rt.scratch(t)],
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

/** Per-thread call lists for one GEMM, split along its longer output side. */
export function splitGemm(rt: WasmRuntime, g: Gemm, threads: number): Call[][] {
  const lists: Call[][] = Array.from({ length: threads }, () => []);
  if (g.n / NR >= g.m / MR) splitRange(g.n, threads, NR).forEach(([j0, j1], t) => lists[t]!.push(gemmCall(rt, g, t, 0, g.m, j0, j1)));
  else splitRange(g.m, threads, MR).forEach(([i0, i1], t) => lists[t]!.push(gemmCall(rt, g, t, i0, i1)));
  return lists;
}

/**
 * Per-thread call lists for a batch of independent GEMMs: whole products per thread when there are enough of
 * them, otherwise each product split between the threads.
 */
export function splitGemms(rt: WasmRuntime, gs: readonly Gemm[], threads: number): Call[][] {
  if (gs.length >= threads) {
    const lists: Call[][] = Array.from({ length: threads }, () => []);
    splitRange(gs.length, threads, 1).forEach(([s, e], t) => {
      for (let i = s; i < e; i++) lists[t]!.push(gemmCall(rt, gs[i]!, t));
    });
    return lists;
  }
  const lists: Call[][] = Array.from({ length: threads }, () => []);
  for (const g of gs) splitGemm(rt, g, threads).forEach((l, t) => lists[t]!.push(...l));
  return lists;
}

/** Batched float32 matmul on the WebAssembly GEMM; other dtypes go to the reference kernel. */
export function wasmMatmul(rt: () => WasmRuntime, reference: KernelFn): KernelFn {
  return (inputs, attrs: { batch: number[]; m: number; n: number; k: number; dtype: string }) => {
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
    r.run(splitGemms(r, gs, threadsFor(r, 2 * nb * m * n * k)));
    return r.result(pc, [...batch, m, n]);
  };
}
