/** Reference pooling kernels. */
import { allocArray } from '../../../dtype.js';
import { fromTypedArray } from '../../../kernel-util.js';
import type { PoolGeometry } from '../../../shape.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { readAs } from '../layout.js';

/** Calls visit(outIndex, inIndex) for every in-bounds (output, window element) pair, window-major. */
function forEachWindow(g: PoolGeometry, visit: (o: number, i: number, first: boolean) => void): void {
  for (let nc = 0; nc < g.n * g.c; nc++) {
    for (let y = 0; y < g.oh; y++) {
      for (let x = 0; x < g.ow; x++) {
        const o = (nc * g.oh + y) * g.ow + x;
        let first = true;
        for (let i = 0; i < g.kh; i++) {
          const iy = y * g.sh - g.ph + i;
          if (iy < 0 || iy >= g.h) continue;
          for (let j = 0; j < g.kw; j++) {
            const ix = x * g.sw - g.pw + j;
            if (ix < 0 || ix >= g.w) continue;
            visit(o, (nc * g.h + iy) * g.w + ix, first);
            first = false;
          }
        }
      }
    }
  }
}

/** For each output, the input index that holds the window's max (first on ties, NaN wins). */
function argmaxIndices(X: ArrayLike<number>, g: PoolGeometry): Int32Array {
  const arg = new Int32Array(g.n * g.c * g.oh * g.ow);
  forEachWindow(g, (o, i, first) => {
    const v = X[i]!;
    const best = X[arg[o]!]!;
    if (first || (!Number.isNaN(best) && (v > best || Number.isNaN(v)))) arg[o] = i;
  });
  return arg;
}

const maxPool2d: KernelFn<'maxPool2d'> = ([x], { geo: g }) => {
  const X = readAs(x!);
  const arg = argmaxIndices(X, g);
  const out = allocArray(x!.dtype, arg.length);
  for (let o = 0; o < arg.length; o++) out[o] = X[arg[o]!]!;
  return fromTypedArray(out, [g.n, g.c, g.oh, g.ow]);
};

const maxPool2dBackward: KernelFn<'maxPool2dBackward'> = ([x, dy], { geo: g }) => {
  const arg = argmaxIndices(readAs(x!), g);
  const DY = readAs(dy!, dy!.shape, x!.dtype);
  const dx = allocArray(x!.dtype, g.n * g.c * g.h * g.w);
  for (let o = 0; o < arg.length; o++) dx[arg[o]!] += DY[o]!;
  return fromTypedArray(dx, [g.n, g.c, g.h, g.w]);
};

const avgPool2d: KernelFn<'avgPool2d'> = ([x], { geo: g }) => {
  const X = readAs(x!);
  const acc = new Float64Array(g.n * g.c * g.oh * g.ow);
  forEachWindow(g, (o, i) => (acc[o] += X[i]!));
  const out = allocArray(x!.dtype, acc.length);
  const inv = 1 / (g.kh * g.kw);
  for (let o = 0; o < acc.length; o++) out[o] = acc[o]! * inv;
  return fromTypedArray(out, [g.n, g.c, g.oh, g.ow]);
};

const avgPool2dBackward: KernelFn<'avgPool2dBackward'> = ([dy], { geo: g }) => {
  const DY = readAs(dy!);
  const dx = new Float64Array(g.n * g.c * g.h * g.w);
  const inv = 1 / (g.kh * g.kw);
  forEachWindow(g, (o, i) => (dx[i] += DY[o]! * inv));
  const out = allocArray(dy!.dtype, dx.length);
  out.set(dx);
  return fromTypedArray(out, [g.n, g.c, g.h, g.w]);
};

export const poolKernels = { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } satisfies Partial<KernelTable>;
