/**
 * Case definitions shared by the suites that bench the same op (kernels, gpujs): one definition of each shape, so
 * that rows of different suites with the same case name measure the same work.
 */

/** The reference conv layer of the kernel benchmarks: N=8, C=64->64, 32x32, 3x3, pad 1 (stride 1). */
export const BENCH_CONV = Object.freeze({ n: 8, c: 64, o: 64, h: 32, w: 32, k: 3, pad: 1 });

/** Multiply-adds x 2 of that layer; the same for the forward pass and both gradients. */
export const BENCH_CONV_FLOPS = 2 * BENCH_CONV.n * BENCH_CONV.o * BENCH_CONV.c * BENCH_CONV.k * BENCH_CONV.k * BENCH_CONV.h * BENCH_CONV.w;

/** Deterministic inputs in [-1, 1) (a linear congruential generator, so every run times the same numbers). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
