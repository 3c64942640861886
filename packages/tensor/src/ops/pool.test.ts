/**
 * Pooling and nearest upsampling. Oracles: naive float64 window loops written here (max ignores padding,
 * average counts padded zeros like PyTorch's count_include_pad=True), the identities <pool(x), dy> =
 * <x, poolBackward(dy)> (both pools are linear in x once the max positions are fixed), tfjs maxPool/avgPool
 * (NHWC; tfjs's average excludes padding, so it is compared without padding), tf.grad for max pooling, and
 * tf.image.resizeNearestNeighbor for upsampling.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, ones, poolGeometry, sizeOf, tensor, upsampleNearest2d, zeros, type DType } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, loadTf, makeTensor, randomValues, ravel, unravel } from '../test-helpers.js';

interface PoolCase { n: number; c: number; h: number; w: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number }

const poolCaseArb: fc.Arbitrary<PoolCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.integer({ min: 1, max: 3 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 2 }),
    padH: fc.boolean(),
    padW: fc.boolean(),
    extraH: fc.integer({ min: 0, max: 4 }),
    extraW: fc.integer({ min: 0, max: 4 }),
  })
  .map((r) => {
    const ph = r.padH ? Math.floor(r.kh / 2) : 0;
    const pw = r.padW ? Math.floor(r.kw / 2) : 0;
    return { n: r.n, c: r.c, kh: r.kh, kw: r.kw, sh: r.sh, sw: r.sw, ph, pw, h: Math.max(1, r.kh - 2 * ph) + r.extraH, w: Math.max(1, r.kw - 2 * pw) + r.extraW };
  });

/** For every output: the in-bounds window positions (flat input indices, row-major within the window). */
function windows(g: PoolCase): { oh: number; ow: number; win: number[][] } {
  const oh = Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1;
  const ow = Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1;
  const win: number[][] = [];
  for (let nc = 0; nc < g.n * g.c; nc++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const cells: number[] = [];
        for (let u = 0; u < g.kh; u++)
          for (let v = 0; v < g.kw; v++) {
            const r = i * g.sh - g.ph + u;
            const c = j * g.sw - g.pw + v;
            if (r >= 0 && r < g.h && c >= 0 && c < g.w) cells.push((nc * g.h + r) * g.w + c);
          }
        win.push(cells);
      }
  return { oh, ow, win };
}

const opts = (g: PoolCase) => ({ kernel: [g.kh, g.kw] as const, stride: [g.sh, g.sw] as const, padding: [g.ph, g.pw] as const });
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);

describe('maxPool2d / avgPool2d against float64 window loops', () => {
  it('forward on any layout, float32 and float64', () => {
    fc.assert(
      fc.property(poolCaseArb, fc.nat(), layoutArb(4), fc.constantFrom<DType>('float32', 'float64'), (g, seed, layout, dtype) => {
        const shape = [g.n, g.c, g.h, g.w];
        const xv = randomValues(sizeOf(shape), seed, dtype);
        const x = makeTensor(xv, shape, dtype, layout);
        const { oh, ow, win } = windows(g);
        const mx = maxPool2d(x, opts(g));
        const av = avgPool2d(x, opts(g));
        expect(mx.dtype).toBe(dtype);
        expectClose(mx, win.map((cells) => Math.max(...cells.map((i) => xv[i]!))), [g.n, g.c, oh, ow]);
        // Average: sum of the in-bounds cells over the full window size (padding counts as zeros).
        const tol = dtype === 'float32' ? { rtol: 1e-6, atol: 1e-6 } : { rtol: 1e-14, atol: 1e-14 };
        expectClose(av, win.map((cells) => cells.reduce((s, i) => s + xv[i]!, 0) / (g.kh * g.kw)), [g.n, g.c, oh, ow], tol);
      }),
      FC,
    );
  });

  it('backward kernels route gradients to window positions (first max on ties) and are adjoint to the forward', () => {
    fc.assert(
      fc.property(poolCaseArb, fc.nat(), layoutArb(4), fc.boolean(), (g, seed, layout, ties) => {
        const shape = [g.n, g.c, g.h, g.w];
        // With ties, values repeat, so "first max" matters.
        const xv = randomValues(sizeOf(shape), seed, ties ? 'int32' : 'float64');
        const x = makeTensor(xv, shape, 'float64', layout);
        const geo = poolGeometry('test', shape, opts(g));
        const { oh, ow, win } = windows(g);
        const dyv = randomValues(g.n * g.c * oh * ow, seed + 1, 'float64');
        const dy = makeTensor(dyv, [g.n, g.c, oh, ow], 'float64');
        const dxMax = new Array<number>(xv.length).fill(0);
        const dxAvg = new Array<number>(xv.length).fill(0);
        win.forEach((cells, o) => {
          let best = cells[0]!;
          for (const i of cells) if (xv[i]! > xv[best]!) best = i;
          dxMax[best] += dyv[o]!;
          for (const i of cells) dxAvg[i] += dyv[o]! / (g.kh * g.kw);
        });
        const gm = maxPool2dBackward(x, dy, geo);
        const ga = avgPool2dBackward(dy, geo);
        expectClose(gm, dxMax, shape, { rtol: 1e-14, atol: 1e-14 });
        expectClose(ga, dxAvg, shape, { rtol: 1e-14, atol: 1e-14 });
        const yMax = maxPool2d(x, opts(g)).toTypedArray();
        const yAvg = avgPool2d(x, opts(g)).toTypedArray();
        expect(dot(yMax, dyv)).toBeCloseTo(dot(xv, gm.toTypedArray()), 10);
        expect(dot(yAvg, dyv)).toBeCloseTo(dot(xv, ga.toTypedArray()), 10);
      }),
      FC,
    );
  });

  it('max pooling propagates NaN and ignores padding even when every value is negative', () => {
    const x = tensor([[[[-5, -6], [-7, NaN]]]]);
    expectClose(maxPool2d(x, { kernel: 2 }), [NaN], [1, 1, 1, 1]);
    const neg = tensor([[[[-5, -6], [-7, -8]]]]);
    expectClose(maxPool2d(neg, { kernel: 2, stride: 1, padding: 1 }), [-5, -5, -6, -5, -5, -6, -7, -7, -8], [1, 1, 3, 3]);
  });
});

describe('upsampleNearest2d', () => {
  it('repeats each pixel sh x sw times (out[i][j] = x[floor(i / sh)][floor(j / sw)]) from any layout', () => {
    fc.assert(
      fc.property(fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), layoutArb(4), fc.nat(), (shape, sh, sw, layout, seed) => {
        const xv = randomValues(sizeOf(shape), seed, 'float32');
        const y = upsampleNearest2d(makeTensor(xv, shape, 'float32', layout), [sh, sw]);
        const outShape = [shape[0], shape[1], shape[2] * sh, shape[3] * sw];
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => {
          const [n, c, r, q] = unravel(i, outShape) as [number, number, number, number];
          return xv[ravel([n, c, Math.floor(r / sh), Math.floor(q / sw)], shape)]!;
        });
        expectClose(y, expected, outShape);
      }),
      FC,
    );
  });
});

describe('pooling against tfjs', () => {
  let tf: Awaited<ReturnType<typeof loadTf>>;
  beforeAll(async () => {
    tf = await loadTf();
  });

  it('maxPool (with padding), avgPool (without), max-pool gradient, nearest resize', () => {
    fc.assert(
      fc.property(poolCaseArb, fc.nat(), (g, seed) => {
        const shape = [g.n, g.c, g.h, g.w] as [number, number, number, number];
        const xv = randomValues(sizeOf(shape), seed, 'float32'); // continuous values: no ties
        const x = tensor(xv).reshape(shape);
        const geo = poolGeometry('test', shape, opts(g));
        const dyv = randomValues(g.n * g.c * geo.oh * geo.ow, seed + 1, 'float32');
        const toNCHW = (t: import('@tensorflow/tfjs').Tensor) => tf.transpose(t, [0, 3, 1, 2]).dataSync();
        const xN = tf.transpose(tf.tensor4d(xv, shape), [0, 2, 3, 1]) as import('@tensorflow/tfjs').Tensor4D;
        const pad = [[0, 0], [g.ph, g.ph], [g.pw, g.pw], [0, 0]] as never;
        // tfjs takes explicit paddings for maxPool through its `pad` argument as a number only: use 'valid' on a
        // -Infinity-padded input instead, which is what max pooling with padding means.
        const xPadded = tf.pad(xN, pad, -Infinity) as import('@tensorflow/tfjs').Tensor4D;
        const theirMax = tf.maxPool(xPadded, [g.kh, g.kw], [g.sh, g.sw], 'valid');
        expectClose(maxPool2d(x, opts(g)), toNCHW(theirMax), [g.n, g.c, geo.oh, geo.ow]);
        const dyN = tf.transpose(tf.tensor4d(dyv, [g.n, g.c, geo.oh, geo.ow]), [0, 2, 3, 1]);
        const gx = tf.grad((a) => tf.sum(tf.mul(tf.maxPool(a as import('@tensorflow/tfjs').Tensor4D, [g.kh, g.kw], [g.sh, g.sw], 'valid'), dyN)))(xPadded);
        const gxInner = tf.slice(gx, [0, g.ph, g.pw, 0], [g.n, g.h, g.w, g.c]);
        expectClose(maxPool2dBackward(x, tensor(dyv).reshape([g.n, g.c, geo.oh, geo.ow]), geo), toNCHW(gxInner), shape, { rtol: 1e-6, atol: 1e-6 });
        if (g.ph === 0 && g.pw === 0) {
          const theirAvg = tf.avgPool(xN, [g.kh, g.kw], [g.sh, g.sw], 'valid');
          expectClose(avgPool2d(x, opts(g)), toNCHW(theirAvg), [g.n, g.c, geo.oh, geo.ow], { rtol: 1e-5, atol: 1e-6 });
        }
        const up = tf.image.resizeNearestNeighbor(xN, [g.h * g.sh, g.w * g.sw]);
        expectClose(upsampleNearest2d(x, [g.sh, g.sw]), toNCHW(up), [g.n, g.c, g.h * g.sh, g.w * g.sw]);
        tf.dispose([xN, xPadded, theirMax, dyN, gx, gxInner, up]);
      }),
      { numRuns: 25 },
    );
  });
});

describe('pooling errors', () => {
  it('name the op and what was expected', () => {
    const x = zeros([1, 1, 4, 4]);
    expectOpError(() => maxPool2d(zeros([4, 4]), { kernel: 2 }), 'maxPool2d', '[4, 4]', '[N, C, H, W]');
    expectOpError(() => avgPool2d(x, { kernel: 5 }), 'avgPool2d', 'does not fit');
    expectOpError(() => maxPool2d(x, { kernel: 2, padding: 2 }), 'maxPool2d', 'padding', 'half the kernel');
    expectOpError(() => maxPool2d(x, { kernel: 0 }), 'maxPool2d', 'kernel');
    expectOpError(() => avgPool2d(x, { kernel: 2, stride: [1, 0] }), 'avgPool2d', 'stride');
    expectOpError(() => maxPool2d(zeros([1, 1, 4, 4], 'int32'), { kernel: 2 }), 'maxPool2d', 'int32');
    expectOpError(() => upsampleNearest2d(x, 1.5), 'upsampleNearest2d', 'scale');
    expectOpError(() => upsampleNearest2d(ones([2, 2]), 2), 'upsampleNearest2d', '[2, 2]');
    const geo = poolGeometry('maxPool2d', [1, 1, 4, 4], { kernel: 2 });
    expectOpError(() => maxPool2dBackward(x, zeros([1, 1, 3, 3]), geo), 'maxPool2dBackward', 'output gradient', '[1, 1, 2, 2]', '[1, 1, 3, 3]');
    expectOpError(() => maxPool2dBackward(zeros([1, 2, 4, 4]), zeros([1, 1, 2, 2]), geo), 'maxPool2dBackward', 'input', '[1, 2, 4, 4]');
    expectOpError(() => avgPool2dBackward(zeros([1, 1, 2, 3]), geo), 'avgPool2dBackward', '[1, 1, 2, 3]');
    // An empty image with padding would make windows with no cells (NaN outputs).
    expectOpError(() => maxPool2d(zeros([1, 1, 0, 2]), { kernel: 2, padding: 1 }), 'maxPool2d', 'empty');
  });
});
