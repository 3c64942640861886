/**
 * conv2d and the two kernels of its gradient. Oracles:
 *  - a naive float64 convolution over plain arrays written here (output-stationary loops, NCHW),
 *  - the adjoint identities <conv(x, w), dy> = <x, dX(dy, w)> = <w, dW(x, dy)>, checked in float64,
 *  - tfjs conv2d (NHWC input, HWIO filter, explicit padding) and tf.grads for the input/weight gradients,
 *    with groups done as one tfjs conv per group.
 *
 * These tests run whatever kernels the cpu backend has installed (the fast im2col + GEMM WebAssembly kernels for
 * float32 by default, the reference loops with OCLT_CPU=reference; both pass). Tolerance: a float32 sum of T
 * terms accumulated in float32 is within (T + 1) * 2^-24 * sum|terms| of the exact value (gamma_T bound); the
 * reference kernels (float64 accumulation) are well inside it. tfjs: 1e-5 relative plus 1e-5 * sum|terms|.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight, convGeometry, ones, sizeOf, tensor, zeros, type ConvGeometry, type DType } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, loadTf, makeTensor, randomValues } from '../test-helpers.js';

interface ConvCase {
  n: number; c: number; h: number; w: number; o: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; groups: number;
}

const convCaseArb: fc.Arbitrary<ConvCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cg: fc.integer({ min: 1, max: 2 }),
    og: fc.integer({ min: 1, max: 2 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 2 }),
    ph: fc.integer({ min: 0, max: 2 }),
    pw: fc.integer({ min: 0, max: 1 }),
    dh: fc.integer({ min: 1, max: 2 }),
    dw: fc.integer({ min: 1, max: 2 }),
    extraH: fc.integer({ min: 0, max: 4 }),
    extraW: fc.integer({ min: 0, max: 4 }),
  })
  .map((r) => ({
    n: r.n, c: r.groups * r.cg, o: r.groups * r.og, kh: r.kh, kw: r.kw, sh: r.sh, sw: r.sw, ph: r.ph, pw: r.pw, dh: r.dh, dw: r.dw, groups: r.groups,
    // The smallest input the dilated kernel fits in once padded, plus some extra rows/columns.
    h: Math.max(1, r.dh * (r.kh - 1) + 1 - 2 * r.ph) + r.extraH,
    w: Math.max(1, r.dw * (r.kw - 1) + 1 - 2 * r.pw) + r.extraW,
  }));

const outSize = (size: number, k: number, s: number, p: number, d: number) => Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;

/** Naive float64 conv2d: for every output element, sum over its receptive field. Returns values and sum|terms|. */
function conv2dRef(x: number[], wt: number[], g: ConvCase): { y: number[]; abs: number[]; oh: number; ow: number } {
  const oh = outSize(g.h, g.kh, g.sh, g.ph, g.dh);
  const ow = outSize(g.w, g.kw, g.sw, g.pw, g.dw);
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const y: number[] = [];
  const abs: number[] = [];
  for (let n = 0; n < g.n; n++) {
    for (let o = 0; o < g.o; o++) {
      const grp = Math.floor(o / og);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = 0;
          let a = 0;
          for (let ci = 0; ci < cg; ci++) {
            for (let u = 0; u < g.kh; u++) {
              for (let v = 0; v < g.kw; v++) {
                const row = i * g.sh + u * g.dh - g.ph;
                const col = j * g.sw + v * g.dw - g.pw;
                if (row < 0 || row >= g.h || col < 0 || col >= g.w) continue; // zero padding
                const xv = x[((n * g.c + grp * cg + ci) * g.h + row) * g.w + col]!;
                const wv = wt[((o * cg + ci) * g.kh + u) * g.kw + v]!;
                s += xv * wv;
                a += Math.abs(xv * wv);
              }
            }
          }
          y.push(s);
          abs.push(a);
        }
      }
    }
  }
  return { y, abs, oh, ow };
}

/**
 * The float64 input and weight gradients of sum(conv2d(x, w) * dy), by scattering each output's terms; with the
 * sums of |terms| and the term counts of every gradient element (for float32 error bounds).
 */
function conv2dGradRef(x: number[], wt: number[], dy: number[], g: ConvCase, oh: number, ow: number) {
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const dx = new Array<number>(x.length).fill(0);
  const dw = new Array<number>(wt.length).fill(0);
  const dxAbs = new Array<number>(x.length).fill(0);
  const dwAbs = new Array<number>(wt.length).fill(0);
  const dxTerms = new Array<number>(x.length).fill(0);
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const d = dy[((n * g.o + o) * oh + i) * ow + j]!;
          const grp = Math.floor(o / og);
          for (let ci = 0; ci < cg; ci++)
            for (let u = 0; u < g.kh; u++)
              for (let v = 0; v < g.kw; v++) {
                const row = i * g.sh + u * g.dh - g.ph;
                const col = j * g.sw + v * g.dw - g.pw;
                if (row < 0 || row >= g.h || col < 0 || col >= g.w) continue;
                const xi = ((n * g.c + grp * cg + ci) * g.h + row) * g.w + col;
                const wi = ((o * cg + ci) * g.kh + u) * g.kw + v;
                dx[xi] += wt[wi]! * d;
                dw[wi] += x[xi]! * d;
                dxAbs[xi] += Math.abs(wt[wi]! * d);
                dwAbs[wi] += Math.abs(x[xi]! * d);
                dxTerms[xi]++;
              }
        }
  return { dx, dw, dxAbs, dwAbs, dxTerms };
}

const optsOf = (g: ConvCase) => ({ stride: [g.sh, g.sw] as const, padding: [g.ph, g.pw] as const, dilation: [g.dh, g.dw] as const, groups: g.groups });
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

describe('conv2d forward', () => {
  it('matches the naive float64 convolution (stride, padding, dilation, groups, bias; any layout)', () => {
    fc.assert(
      fc.property(convCaseArb, fc.nat(), layoutArb(4), layoutArb(4), fc.constantFrom<DType>('float32', 'float64'), fc.boolean(), (g, seed, lx, lw, dtype, withBias) => {
        const xs = [g.n, g.c, g.h, g.w];
        const ws = [g.o, g.c / g.groups, g.kh, g.kw];
        const xv = randomValues(sizeOf(xs), seed, dtype);
        const wv = randomValues(sizeOf(ws), seed + 1, dtype);
        const bv = randomValues(g.o, seed + 2, dtype);
        const y = conv2d(makeTensor(xv, xs, dtype, lx), makeTensor(wv, ws, dtype, lw), withBias ? tensor(bv, dtype) : null, optsOf(g));
        const ref = conv2dRef(xv, wv, g);
        const terms = (g.c / g.groups) * g.kh * g.kw + 1; // + 1: the bias add
        const eps = dtype === 'float32' ? (terms + 1) * 2 ** -24 : 1e-14;
        expect(y.dtype).toBe(dtype);
        expect([...y.shape]).toEqual([g.n, g.o, ref.oh, ref.ow]);
        const got = y.toTypedArray();
        ref.y.forEach((want, i) => {
          const b = withBias ? bv[Math.floor(i / (ref.oh * ref.ow)) % g.o]! : 0;
          if (!(Math.abs(got[i]! - (want + b)) <= eps * (ref.abs[i]! + Math.abs(b)))) throw new Error(`y[${i}] = ${got[i]}, expected ${want + b}`);
        });
      }),
      FC,
    );
  });

  it('a 1x1 kernel is a matmul over channels, and an identity kernel copies', () => {
    const x = makeTensor(randomValues(2 * 3 * 4 * 5, 1, 'float64'), [2, 3, 4, 5], 'float64');
    const w = tensor([[[[1]], [[0]], [[0]]], [[[0]], [[0]], [[1]]]], 'float64'); // picks channels 0 and 2
    const y = conv2d(x, w);
    expect(y.toArray()).toEqual(x.toArray().map((img: number[][][]) => [img[0], img[2]]));
  });
});

describe('conv2d gradient kernels', () => {
  it('match the float64 scatter reference (float32 and float64, any layout) and satisfy the adjoint identities', () => {
    fc.assert(
      fc.property(convCaseArb, fc.nat(), layoutArb(4), layoutArb(4), fc.constantFrom<DType>('float32', 'float64'), (g, seed, ldy, lx, dtype) => {
        const xs = [g.n, g.c, g.h, g.w];
        const ws = [g.o, g.c / g.groups, g.kh, g.kw];
        const geo: ConvGeometry = convGeometry('test', xs, ws, optsOf(g));
        const xv = randomValues(sizeOf(xs), seed, dtype);
        const wv = randomValues(sizeOf(ws), seed + 1, dtype);
        const dyv = randomValues(g.n * g.o * geo.oh * geo.ow, seed + 2, dtype);
        const x = makeTensor(xv, xs, dtype, lx);
        const w = makeTensor(wv, ws, dtype);
        const dy = makeTensor(dyv, [g.n, g.o, geo.oh, geo.ow], dtype, ldy);
        const dx = conv2dBackwardInput(dy, w, geo);
        const dw = conv2dBackwardWeight(x, dy, geo);
        expect([dx.dtype, dw.dtype]).toEqual([dtype, dtype]);
        const ref = conv2dGradRef(xv, wv, dyv, g, geo.oh, geo.ow);
        // float32: gamma bound of a float32 sum of T terms, (T + 1) 2^-24 sum|terms| (see the top of the file).
        const within = (got: ArrayLike<number>, want: number[], abs: number[], terms: (i: number) => number, what: string) =>
          want.forEach((v, i) => {
            const bound = dtype === 'float64' ? 1e-12 * (1 + abs[i]!) : (terms(i) + 1) * 2 ** -24 * abs[i]!;
            if (!(Math.abs(got[i]! - v) <= bound)) throw new Error(`${what}[${i}] = ${got[i]}, expected ${v} (bound ${bound})`);
          });
        within(dx.toTypedArray(), ref.dx, ref.dxAbs, (i) => ref.dxTerms[i]!, 'dx');
        within(dw.toTypedArray(), ref.dw, ref.dwAbs, () => g.n * geo.oh * geo.ow, 'dw');
        expect([...dx.shape, ...dw.shape]).toEqual([...xs, ...ws]);
        if (dtype === 'float32') return; // the adjoint identities below are checked in float64
        // Adjoint identities, independent of any reference loop.
        const y = conv2d(x, w, null, optsOf(g)).toTypedArray();
        const lhs = dot(y, dyv);
        expect(Math.abs(lhs - dot(xv, dx.toTypedArray()))).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
        expect(Math.abs(lhs - dot(wv, dw.toTypedArray()))).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(lhs)));
      }),
      FC,
    );
  });
});

describe('conv2d against tfjs', () => {
  let tf: Awaited<ReturnType<typeof loadTf>>;
  beforeAll(async () => {
    tf = await loadTf();
  });

  it('forward, input gradient and weight gradient match tfjs (NHWC / HWIO, one conv per group)', () => {
    fc.assert(
      fc.property(convCaseArb, fc.nat(), (g, seed) => {
        // tfjs refuses strides > 1 together with dilations > 1.
        if ((g.sh > 1 || g.sw > 1) && (g.dh > 1 || g.dw > 1)) return;
        const cg = g.c / g.groups;
        const og = g.o / g.groups;
        const xs = [g.n, g.c, g.h, g.w];
        const ws = [g.o, cg, g.kh, g.kw];
        const geo = convGeometry('test', xs, ws, optsOf(g));
        const xv = randomValues(sizeOf(xs), seed, 'float32');
        const wv = randomValues(sizeOf(ws), seed + 1, 'float32');
        const dyv = randomValues(g.n * g.o * geo.oh * geo.ow, seed + 2, 'float32');
        const x = tensor(xv).reshape(xs);
        const w = tensor(wv).reshape(ws);
        const dy = tensor(dyv).reshape([g.n, g.o, geo.oh, geo.ow]);
        const ours = {
          y: conv2d(x, w, null, optsOf(g)),
          dx: conv2dBackwardInput(dy, w, geo),
          dw: conv2dBackwardWeight(x, dy, geo),
        };
        tf.engine().startScope(); // frees every tfjs tensor made below at endScope
        const theirs = (() => {
          const xN = tf.transpose(tf.tensor4d(xv, xs as [number, number, number, number]), [0, 2, 3, 1]); // NHWC
          const wH = tf.transpose(tf.tensor4d(wv, ws as [number, number, number, number]), [2, 3, 1, 0]); // HWIO
          const dyN = tf.transpose(tf.tensor4d(dyv, [g.n, g.o, geo.oh, geo.ow]), [0, 2, 3, 1]);
          const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [g.ph, g.ph], [g.pw, g.pw], [0, 0]];
          const conv = (xx: import('@tensorflow/tfjs').Tensor4D, ww: import('@tensorflow/tfjs').Tensor4D) => {
            const outs = [];
            for (let k = 0; k < g.groups; k++) {
              const xg = tf.slice(xx, [0, 0, 0, k * cg], [-1, -1, -1, cg]);
              const wg = tf.slice(ww, [0, 0, 0, k * og], [-1, -1, -1, og]);
              outs.push(tf.conv2d(xg as import('@tensorflow/tfjs').Tensor4D, wg as import('@tensorflow/tfjs').Tensor4D, [g.sh, g.sw], pad, 'NHWC', [g.dh, g.dw]));
            }
            return outs.length === 1 ? outs[0]! : tf.concat(outs, 3);
          };
          const y = tf.transpose(conv(xN, wH), [0, 3, 1, 2]).dataSync();
          // tfjs has no conv gradient for dilation > 1 (the float64 references above cover it).
          if (g.dh > 1 || g.dw > 1) return { y, dx: null, dw: null };
          const [gx, gw] = tf.grads((a, b) => tf.sum(tf.mul(conv(a as never, b as never), dyN)))([xN, wH]);
          return {
            y,
            dx: tf.transpose(gx!, [0, 3, 1, 2]).dataSync(),
            dw: tf.transpose(gw!, [3, 2, 0, 1]).dataSync(),
          };
        })();
        tf.engine().endScope();
        const tol = { rtol: 1e-5, atol: 1e-5 * 9 * g.kh * g.kw * Math.max(cg, g.n * geo.oh * geo.ow) };
        expectClose(ours.y, theirs.y, [g.n, g.o, geo.oh, geo.ow], tol);
        if (theirs.dx && theirs.dw) {
          expectClose(ours.dx, theirs.dx, xs, tol);
          expectClose(ours.dw, theirs.dw, ws, tol);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('conv2d errors name the op, the shapes and what was expected', () => {
  it('rejects mismatched shapes and bad options', () => {
    const x = zeros([1, 4, 5, 5]);
    expectOpError(() => conv2d(zeros([4, 5, 5]), ones([2, 4, 3, 3])), 'conv2d', '[4, 5, 5]', '[N, C, H, W]');
    expectOpError(() => conv2d(x, ones([2, 3, 3, 3])), 'conv2d', '[2, 3, 3, 3]', '[1, 4, 5, 5]');
    expectOpError(() => conv2d(x, ones([3, 2, 3, 3]), null, { groups: 2 }), 'conv2d', 'divisible by groups');
    expectOpError(() => conv2d(x, ones([2, 4, 7, 7])), 'conv2d', 'does not fit');
    expectOpError(() => conv2d(x, ones([2, 4, 3, 3]), null, { stride: 0 }), 'conv2d', 'stride');
    expectOpError(() => conv2d(x, ones([2, 4, 3, 3]), null, { padding: -1 }), 'conv2d', 'padding');
    expectOpError(() => conv2d(x, ones([2, 4, 3, 3]), null, { dilation: [1, 0] }), 'conv2d', 'dilation');
    expectOpError(() => conv2d(x, ones([2, 4, 3, 3]), ones([3])), 'conv2d', 'bias', '[2]', '[3]');
    expectOpError(() => conv2d(zeros([1, 4, 5, 5], 'int32'), ones([2, 4, 3, 3])), 'conv2d', 'int32');
    // An empty kernel would silently give zeros.
    expectOpError(() => conv2d(x, ones([2, 4, 0, 3])), 'conv2d', 'kernel');
  });

  it('gradient kernels reject tensors that do not match the geometry', () => {
    const geo = convGeometry('conv2d', [1, 2, 4, 4], [3, 2, 3, 3], {});
    expectOpError(() => conv2dBackwardInput(ones([1, 3, 3, 3]), ones([3, 2, 3, 3]), geo), 'conv2dBackwardInput', '[1, 3, 2, 2]', '[1, 3, 3, 3]');
    expectOpError(() => conv2dBackwardInput(ones([1, 3, 2, 2]), ones([3, 1, 3, 3]), geo), 'conv2dBackwardInput', 'weight', '[3, 2, 3, 3]', '[3, 1, 3, 3]');
    expectOpError(() => conv2dBackwardWeight(ones([1, 2, 3, 3]), ones([1, 3, 2, 2]), geo), 'conv2dBackwardWeight', 'input', '[1, 2, 4, 4]', '[1, 2, 3, 3]');
  });
});
