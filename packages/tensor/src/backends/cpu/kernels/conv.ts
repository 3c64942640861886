/**
 * Reference conv2d kernels as direct loops (readable, float64 accumulation). The fast backend replaces them with
 * im2col + GEMM; these stay the oracle.
 *
 * Padding is zeros that take part in the products, as in im2col + GEMM and in PyTorch: a tap that reads the padding
 * adds w * 0, which is 0 for a finite w but NaN for a NaN or infinite one (and likewise 0 * dy in the weight
 * gradient). The loops skip those taps only when the product is 0, which changes nothing.
 */
import { allocArray } from '../../../dtype.js';
import { fromTypedArray } from '../../../kernel-util.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { readAs } from '../layout.js';

const conv2d: KernelFn<'conv2d'> = ([x, w], { geo: g, dtype }) => {
  const X = readAs(x!, x!.shape, dtype);
  const W = readAs(w!, w!.shape, dtype);
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const acc = new Float64Array(g.oh * g.ow);
  const out = allocArray(dtype, g.n * g.o * g.oh * g.ow);
  for (let n = 0; n < g.n; n++) {
    for (let o = 0; o < g.o; o++) {
      acc.fill(0);
      const grp = Math.floor(o / og);
      for (let ci = 0; ci < cg; ci++) {
        const c = grp * cg + ci;
        const xBase = (n * g.c + c) * g.h * g.w;
        for (let i = 0; i < g.kh; i++) {
          for (let j = 0; j < g.kw; j++) {
            const wv = W[((o * cg + ci) * g.kh + i) * g.kw + j]!;
            const padTerm = wv * 0; // what a tap on the padding adds: 0, or NaN for a non-finite weight
            for (let y = 0; y < g.oh; y++) {
              const iy = y * g.sh - g.ph + i * g.dh;
              if (iy < 0 || iy >= g.h) {
                if (padTerm !== 0) for (let xx = 0; xx < g.ow; xx++) acc[y * g.ow + xx] += padTerm;
                continue;
              }
              for (let xx = 0; xx < g.ow; xx++) {
                const ix = xx * g.sw - g.pw + j * g.dw;
                if (ix < 0 || ix >= g.w) {
                  acc[y * g.ow + xx] += padTerm;
                  continue;
                }
                acc[y * g.ow + xx] += wv * X[xBase + iy * g.w + ix]!;
              }
            }
          }
        }
      }
      out.set(acc, (n * g.o + o) * g.oh * g.ow);
    }
  }
  return fromTypedArray(out, [g.n, g.o, g.oh, g.ow]);
};

const conv2dBackwardInput: KernelFn<'conv2dBackwardInput'> = ([dy, w], { geo: g, dtype }) => {
  const DY = readAs(dy!, dy!.shape, dtype);
  const W = readAs(w!, w!.shape, dtype);
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const dx = new Float64Array(g.n * g.c * g.h * g.w);
  for (let n = 0; n < g.n; n++) {
    for (let o = 0; o < g.o; o++) {
      const grp = Math.floor(o / og);
      const dyBase = (n * g.o + o) * g.oh * g.ow;
      for (let ci = 0; ci < cg; ci++) {
        const dxBase = (n * g.c + grp * cg + ci) * g.h * g.w;
        for (let i = 0; i < g.kh; i++) {
          for (let j = 0; j < g.kw; j++) {
            const wv = W[((o * cg + ci) * g.kh + i) * g.kw + j]!;
            for (let y = 0; y < g.oh; y++) {
              const iy = y * g.sh - g.ph + i * g.dh;
              if (iy < 0 || iy >= g.h) continue;
              for (let xx = 0; xx < g.ow; xx++) {
                const ix = xx * g.sw - g.pw + j * g.dw;
                if (ix < 0 || ix >= g.w) continue;
                dx[dxBase + iy * g.w + ix] += wv * DY[dyBase + y * g.ow + xx]!;
              }
            }
          }
        }
      }
    }
  }
  const out = allocArray(dtype, dx.length);
  out.set(dx);
  return fromTypedArray(out, [g.n, g.c, g.h, g.w]);
};

const conv2dBackwardWeight: KernelFn<'conv2dBackwardWeight'> = ([x, dy], { geo: g, dtype }) => {
  const X = readAs(x!, x!.shape, dtype);
  const DY = readAs(dy!, dy!.shape, dtype);
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const out = allocArray(dtype, g.o * cg * g.kh * g.kw);
  for (let o = 0; o < g.o; o++) {
    const grp = Math.floor(o / og);
    for (let ci = 0; ci < cg; ci++) {
      for (let i = 0; i < g.kh; i++) {
        for (let j = 0; j < g.kw; j++) {
          let s = 0;
          for (let n = 0; n < g.n; n++) {
            const xBase = (n * g.c + grp * cg + ci) * g.h * g.w;
            const dyBase = (n * g.o + o) * g.oh * g.ow;
            for (let y = 0; y < g.oh; y++) {
              const iy = y * g.sh - g.ph + i * g.dh;
              const padRow = iy < 0 || iy >= g.h;
              for (let xx = 0; xx < g.ow; xx++) {
                const ix = xx * g.sw - g.pw + j * g.dw;
                // A padded tap: 0 * dy (NaN where dy is NaN or infinite, as in im2col + GEMM).
                if (padRow || ix < 0 || ix >= g.w) s += 0 * DY[dyBase + y * g.ow + xx]!;
                else s += X[xBase + iy * g.w + ix]! * DY[dyBase + y * g.ow + xx]!;
              }
            }
          }
          out[((o * cg + ci) * g.kh + i) * g.kw + j] = s;
        }
      }
    }
  }
  return fromTypedArray(out, [g.o, cg, g.kh, g.kw]);
};

export const convKernels = { conv2d, conv2dBackwardInput, conv2dBackwardWeight } satisfies Partial<KernelTable>;
