/**
 * conv2d and its gradients on the WebAssembly kernels (im2col / col2im + GEMM). Oracle: the reference direct-loop
 * kernels (float64 accumulation of the same float32 inputs), reached with setCpuKernels('reference').
 *
 * Tolerance: each output sums R = C/groups kh kw (forward, weight gradient: N OH OW) float32 products in float32;
 * the recursive-summation bound is gamma_R * sum |products|, gamma_R ~ R u (u = 2^-24). The sum of |products|
 * is the same convolution of |x| and |w| in float64, so the bound is computed by the reference itself.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { bitsOf, layoutArb, makeTensor, randomValues } from '../../../test-helpers.js';
import { gemmThreading } from './gemm.js';
import { smallOpLimits } from './vector.js';
import { ModuleBuilder } from './emitter.js';
import { emitConvFunctions, emitConvWalkFunctions } from './conv-emit.js';

const U = 2 ** -24;

function withReference<R>(fn: () => R): R {
  T.setCpuKernels('reference');
  try {
    return fn();
  } finally {
    T.setCpuKernels('fast');
  }
}

const f64abs = (t: T.Tensor) => T.cast(T.abs(t), 'float64');

function expectWithin(got: T.Tensor, want: T.Tensor, bound: T.Tensor, terms: number): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe('float32');
  const g = got.storage.data!;
  const w = T.contiguous(want).storage.data!;
  const b = T.contiguous(bound).storage.data!;
  for (let i = 0; i < g.length; i++) {
    const tol = (terms + 2) * U * b[i]! + 1e-30;
    if (!(Math.abs(g[i]! - w[i]!) <= tol)) throw new Error(`element ${i}: got ${g[i]}, reference ${w[i]}, tolerance ${tol}`);
  }
}

const geometryArb = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 2 }),
  cg: fc.integer({ min: 1, max: 3 }),
  og: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 8 }),
  w: fc.integer({ min: 1, max: 8 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  seed: fc.nat(),
});

afterAll(() => {
  T.cpuThreads(2);
});

describe('im2col / col2im fast paths', () => {
  it('write bitwise what the generic per-element walk writes (stride 1 along x), on random geometries', () => {
    const mb = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initialPages: 16, maximumPages: 16, shared: false });
    emitConvFunctions(mb);
    emitConvWalkFunctions(mb);
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 16 });
    const fn = new WebAssembly.Instance(new WebAssembly.Module(mb.encode()), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
    const f32 = new Float32Array(memory.buffer);
    fc.assert(
      fc.property(geometryArb, ({ cg, h, w, kh, kw, stride, padding, dilation, seed }) => {
        const oh = Math.floor((h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
        const ow = Math.floor((w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / 1) + 1;
        if (oh < 1 || ow < 1) return;
        const geo = [0, cg, h, w, kh, kw, stride[0], 1, padding[0], padding[1], dilation[0], dilation[1], oh, ow];
        const image = cg * h * w, cols = cg * kh * kw * oh * ow;
        // Layout (floats): x | col fast | col walk | dcol | dx fast | dx walk
        const [X, CF, CW, DC, DF, DW] = [0, image, image + cols, image + 2 * cols, image + 3 * cols, 2 * image + 3 * cols];
        f32.set(randomValues(image, seed), X);
        f32.set(randomValues(cols, seed + 1), DC);
        f32.fill(0, DF, DW + image);
        fn.im2col!(...geo.map((v, i) => (i === 0 ? X * 4 : v)), CF * 4, oh * ow, 1);
        fn.im2col_walk!(...geo.map((v, i) => (i === 0 ? X * 4 : v)), CW * 4, oh * ow, 1);
        expect(Array.from(f32.subarray(CF, CF + cols))).toEqual(Array.from(f32.subarray(CW, CW + cols)));
        fn.col2im!(...geo.map((v, i) => (i === 0 ? DF * 4 : v)), DC * 4);
        fn.col2im_walk!(...geo.map((v, i) => (i === 0 ? DW * 4 : v)), DC * 4);
        expect(Array.from(f32.subarray(DF, DF + image))).toEqual(Array.from(f32.subarray(DW, DW + image)));
      }),
    );
  });
});

describe('wasm conv2d kernels', () => {
  it('match the reference (forward, input and weight gradients) on random geometries and strided inputs', () => {
    fc.assert(
      fc.property(geometryArb, layoutArb(4), ({ n, groups, cg, og, h, w, kh, kw, stride, padding, dilation, seed }, layout) => {
        const fitsH = h + 2 * padding[0] >= dilation[0] * (kh - 1) + 1;
        const fitsW = w + 2 * padding[1] >= dilation[1] * (kw - 1) + 1;
        if (!fitsH || !fitsW) return;
        const c = cg * groups;
        const o = og * groups;
        const opts = { stride, padding, dilation, groups };
        const x = makeTensor(randomValues(n * c * h * w, seed), [n, c, h, w], 'float32', layout);
        const wt = makeTensor(randomValues(o * cg * kh * kw, seed + 1), [o, cg, kh, kw]);
        const geo = T.convGeometry('conv2d', x.shape, wt.shape, opts);
        const dy = makeTensor(randomValues(n * o * geo.oh * geo.ow, seed + 2), [n, o, geo.oh, geo.ow]);

        const y = T.conv2d(x, wt, null, opts);
        const dx = T.conv2dBackwardInput(dy, wt, geo);
        const dw = T.conv2dBackwardWeight(x, dy, geo);
        withReference(() => {
          expectWithin(y, T.conv2d(x, wt, null, opts), T.conv2d(f64abs(x), f64abs(wt), null, opts), cg * kh * kw);
          expectWithin(dx, T.conv2dBackwardInput(dy, wt, geo), T.conv2dBackwardInput(f64abs(dy), f64abs(wt), geo), og * kh * kw);
          expectWithin(dw, T.conv2dBackwardWeight(x, dy, geo), T.conv2dBackwardWeight(f64abs(x), f64abs(dy), geo), n * geo.oh * geo.ow);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('gather strided views that lie in the kernels\' memory before the product (x and dy as views of results)', () => {
    const saved = { ...smallOpLimits };
    smallOpLimits.memoryBound = 0; // so that mul's result lies in the kernels' memory and views of it are gathered there
    try {
      fc.assert(
        fc.property(geometryArb, layoutArb(4), layoutArb(4), ({ n, groups, cg, og, h, w, kh, kw, stride, padding, dilation, seed }, lx, ldy) => {
          if (h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 || w + 2 * padding[1] < dilation[1] * (kw - 1) + 1) return;
          const [c, o] = [cg * groups, og * groups];
          const opts = { stride, padding, dilation, groups };
          const inHeap = (b: T.Tensor) => T.mul(b, 1);
          const x = makeTensor(randomValues(n * c * h * w, seed), [n, c, h, w], 'float32', lx, inHeap);
          const wt = makeTensor(randomValues(o * cg * kh * kw, seed + 1), [o, cg, kh, kw]);
          const geo = T.convGeometry('conv2d', x.shape, wt.shape, opts);
          const dy = makeTensor(randomValues(n * o * geo.oh * geo.ow, seed + 2), [n, o, geo.oh, geo.ow], 'float32', ldy, inHeap);
          const [y, dx, dw] = [T.conv2d(x, wt, null, opts), T.conv2dBackwardInput(dy, wt, geo), T.conv2dBackwardWeight(x, dy, geo)];
          withReference(() => {
            expectWithin(y, T.conv2d(x, wt, null, opts), T.conv2d(f64abs(x), f64abs(wt), null, opts), cg * kh * kw);
            expectWithin(dx, T.conv2dBackwardInput(dy, wt, geo), T.conv2dBackwardInput(f64abs(dy), f64abs(wt), geo), og * kh * kw);
            expectWithin(dw, T.conv2dBackwardWeight(x, dy, geo), T.conv2dBackwardWeight(f64abs(x), f64abs(dy), geo), n * geo.oh * geo.ow);
          });
        }),
        { numRuns: 30 },
      );
    } finally {
      Object.assign(smallOpLimits, saved);
    }
  });

  it('forward matches the reference where the output rows are processed in several bands (some partial)', () => {
    // OW = 40 gives bands of 6 output rows: 7 bands of a 40-row output, the last one 4 rows; also with
    // groups, dilation and padding wider than the kernel reach on one side.
    const g = new T.Generator(12);
    for (const [c, o, h, w, k, opts] of [
      [3, 5, 40, 40, 3, { padding: 1 }],
      [4, 6, 37, 41, 3, { padding: [2, 3] as [number, number], dilation: 2, groups: 2 }],
    ] as const) {
      const x = T.randn([2, c, h, w], g);
      const wt = T.randn([o, c / (opts.groups ?? 1), k, k], g);
      const y = T.conv2d(x, wt, null, opts);
      withReference(() => expectWithin(y, T.conv2d(x, wt, null, opts), T.conv2d(f64abs(x), f64abs(wt), null, opts), (c / (opts.groups ?? 1)) * k * k));
    }
  });

  it('give bitwise the same results on 1 and 2 threads (images split, and one image split by GEMM tiles)', () => {
    const g = new T.Generator(11);
    // A low threshold makes two threads really share each layer.
    const saved = gemmThreading.minFlopsPerThread;
    gemmThreading.minFlopsPerThread = 1e6;
    for (const [n, c, o, hw, k, pad] of [[4, 16, 16, 16, 3, 1], [1, 32, 24, 16, 3, 1], [3, 20, 36, 18, 1, 0], [1, 8, 8, 40, 3, 1]] as const) {
      const x = T.randn([n, c, hw, hw], g);
      const wt = T.randn([o, c, k, k], g);
      const geo = T.convGeometry('conv2d', x.shape, wt.shape, { padding: pad });
      const dy = T.randn([n, o, geo.oh, geo.ow], g);
      const run = () => [T.conv2d(x, wt, null, { padding: pad }), T.conv2dBackwardInput(dy, wt, geo), T.conv2dBackwardWeight(x, dy, geo)].map((t) => bitsOf(t.storage.data!));
      T.cpuThreads(1);
      const one = run();
      T.cpuThreads(2);
      const two = run();
      for (let i = 0; i < 3; i++) expect(two[i]!.equals(one[i]!)).toBe(true);
    }
    gemmThreading.minFlopsPerThread = saved;
  });

  it('propagate NaN and infinities of weights and gradients through padded positions like the reference (0 * NaN = NaN)', () => {
    // Closed form (PyTorch gives the same): a 2x2 image of ones, padding 1, a 3x3 weight. All-NaN weight: NaN
    // everywhere. Inf at the weight's corner (0, 0) only: every output's corner tap reads the padding (0 * Inf =
    // NaN) except output (1, 1), whose corner tap is pixel (0, 0) = 1 (1 * Inf + finite = Inf).
    const x = T.ones([1, 1, 2, 2]);
    const corner = T.tensor(Float32Array.from({ length: 9 }, (_, i) => (i === 0 ? Infinity : 1))).reshape(1, 1, 3, 3);
    for (const run of [(f: () => T.Tensor) => f(), withReference]) {
      expect(Array.from(run(() => T.conv2d(x, T.full([1, 1, 3, 3], NaN), null, { padding: 1 })).toTypedArray()).every(Number.isNaN)).toBe(true);
      expect(Array.from(run(() => T.conv2d(x, corner, null, { padding: 1 })).toTypedArray())).toEqual([NaN, NaN, NaN, Infinity]);
    }
    // Weight gradient: dy NaN at output (0, 0), whose corner tap reads the padding: dW's corner is 0 * NaN = NaN.
    const geo = T.convGeometry('conv2d', [1, 1, 2, 2], [1, 1, 3, 3], { padding: 1 });
    const dy = T.tensor([NaN, 1, 1, 1]).reshape(1, 1, 2, 2);
    for (const run of [(f: () => T.Tensor) => f(), withReference]) expect(Array.from(run(() => T.conv2dBackwardWeight(x, dy, geo)).toTypedArray()).every(Number.isNaN)).toBe(true);
  });

  it('classify every output as NaN, +Inf, -Inf or finite like the reference, with specials in x, weight and dy', () => {
    const kind = (v: number) => (Number.isNaN(v) ? 'nan' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : 'finite');
    const specialsArb = fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 3 });
    fc.assert(
      fc.property(geometryArb, specialsArb, specialsArb, specialsArb, ({ n, groups, cg, og, h, w, kh, kw, stride, padding, dilation, seed }, sx, sw, sdy) => {
        if (h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 || w + 2 * padding[1] < dilation[1] * (kw - 1) + 1) return;
        const c = cg * groups;
        const o = og * groups;
        const opts = { stride, padding, dilation, groups };
        const withSpecials = (values: number[], specials: [number, number][]) => {
          for (const [where, v] of specials) values[where % values.length] = v;
          return values;
        };
        // Only one operand of each product carries specials, so that the classes do not hang on Inf - Inf orders.
        const x = T.tensor(withSpecials(randomValues(n * c * h * w, seed), sx)).reshape(n, c, h, w);
        const x0 = T.tensor(randomValues(n * c * h * w, seed)).reshape(n, c, h, w);
        const wt = T.tensor(withSpecials(randomValues(o * cg * kh * kw, seed + 1), sw)).reshape(o, cg, kh, kw);
        const geo = T.convGeometry('conv2d', x.shape, wt.shape, opts);
        const dy = T.tensor(withSpecials(randomValues(n * o * geo.oh * geo.ow, seed + 2), sdy)).reshape(n, o, geo.oh, geo.ow);
        const cases = [() => T.conv2d(x0, wt, null, opts), () => T.conv2dBackwardInput(dy, wt, geo), () => T.conv2dBackwardWeight(x0, dy, geo), () => T.conv2d(x, T.abs(wt), null, opts)];
        for (const f of cases) {
          const got = Array.from(f().toTypedArray(), kind);
          const want = Array.from(withReference(f).toTypedArray(), kind);
          expect(got).toEqual(want);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('leave float64 to the reference kernels (exactly their results)', () => {
    const g = new T.Generator(5);
    const x = T.randn([2, 3, 6, 5], g, 'float64');
    const wt = T.randn([4, 3, 3, 3], g, 'float64');
    const got = T.conv2d(x, wt, null, { padding: 1 }).storage.data!;
    const want = withReference(() => T.conv2d(x, wt, null, { padding: 1 })).storage.data!;
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
