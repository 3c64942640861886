/**
 * Winograd F(2x2, 3x3) conv2d forward and input gradient (winograd.ts) against the float64 reference kernels.
 *
 * Tolerance, and why it is not the direct path's: Winograd computes each output as
 * Y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A, whose intermediate values cancel in exact arithmetic, so its
 * rounding error is bounded not by the direct sum of |x| |w| over the 3x3 receptive field but by the same formula
 * evaluated with the absolute values of every matrix and operand,
 *   Babs = |A^T| [ sum_c (|G| |g_c| |G^T|) . (|B^T| |d_c| |B|) ] |A|,
 * which also takes in the 4x4 tile's inputs outside the output's receptive field (up to ~7x the direct bound for
 * uniform magnitudes: 64/9). Rounding steps along one output's path: the input transform (2 adds), the weight
 * transform (made in float64, rounded once), the product, the GEMM's sum over Cin channels (Cin - 1 adds), the
 * output transform (2 levels of 2 adds): |error| <= (Cin + 7) u Babs to first order (u = 2^-24); the test allows
 * (Cin + 10) u Babs. The measured errors are much smaller (bench/results/train-step-winograd.md: the max error over
 * the direct bound is within ~2x of im2col + GEMM's).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { bitsOf, makeTensor, randomValues } from '../../../test-helpers.js';
import { winogradApplies, winogradPaths } from './winograd.js';

const U = 2 ** -24;

function withReference<R>(fn: () => R): R {
  T.setCpuKernels('reference');
  try {
    return fn();
  } finally {
    T.setCpuKernels('fast');
  }
}

/** Babs above, for a pad-1 3x3 conv of inp [n, cin, H, W] with kernels tap(o, c, i, j) (float64). */
function winogradAbsBound(inp: Float32Array, n: number, cin: number, cout: number, H: number, W: number, tap: (o: number, c: number, i: number, j: number) => number): Float64Array {
  const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]];
  const B = [[1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1]]; // |B|: B[j][k] = |B^T[k][j]|
  const A = [[1, 0], [1, 1], [1, 1], [0, 1]];
  const Uabs = new Float64Array(cout * cin * 16);
  for (let o = 0; o < cout; o++) {
    for (let c = 0; c < cin; c++) {
      for (let p = 0; p < 16; p++) {
        let s = 0;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += G[p >> 2]![i]! * Math.abs(tap(o, c, i, j)) * G[p & 3]![j]!;
        Uabs[(o * cin + c) * 16 + p] = s;
      }
    }
  }
  const out = new Float64Array(n * cout * H * W);
  const V = new Float64Array(cin * 16);
  const M = new Float64Array(16);
  for (let img = 0; img < n; img++) {
    for (let ty = 0; ty < Math.ceil(H / 2); ty++) {
      for (let tx = 0; tx < Math.ceil(W / 2); tx++) {
        for (let c = 0; c < cin; c++) {
          for (let p = 0; p < 16; p++) {
            let s = 0;
            for (let a = 0; a < 4; a++) {
              for (let b = 0; b < 4; b++) {
                const iy = 2 * ty + a - 1, ix = 2 * tx + b - 1;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += B[a]![p >> 2]! * Math.abs(inp[((img * cin + c) * H + iy) * W + ix]!) * B[b]![p & 3]!;
              }
            }
            V[c * 16 + p] = s;
          }
        }
        for (let o = 0; o < cout; o++) {
          M.fill(0);
          for (let c = 0; c < cin; c++) for (let p = 0; p < 16; p++) M[p]! += Uabs[(o * cin + c) * 16 + p]! * V[c * 16 + p]!;
          for (let i = 0; i < 2; i++) {
            for (let j = 0; j < 2; j++) {
              const oy = 2 * ty + i, ox = 2 * tx + j;
              if (oy >= H || ox >= W) continue;
              let s = 0;
              for (let p = 0; p < 16; p++) s += A[p >> 2]![i]! * M[p]! * A[p & 3]![j]!;
              out[((img * cout + o) * H + oy) * W + ox] = s;
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * The weight gradient's bound: |G^T| [ sum over tiles t of (|A| |dy_t| |A^T|) . (|B^T| |x_t| |B|) ] |G| for each
 * (o, c), float64; its rounding path adds the tile sum (n TH TW4 terms, zero tiles included) to the same few steps.
 */
function winogradWeightAbsBound(x: Float32Array, dy: Float32Array, n: number, C: number, O: number, H: number, W: number): Float64Array {
  const Bm = [[1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1]];
  const Am = [[1, 0], [1, 1], [1, 1], [0, 1]];
  const Gt = [[1, 0.5, 0.5, 0], [0, 0.5, 0.5, 0], [0, 0.5, 0.5, 1]];
  const dU = new Float64Array(O * C * 16);
  const V = new Float64Array(C * 16), D = new Float64Array(O * 16);
  for (let img = 0; img < n; img++) {
    for (let ty = 0; ty < Math.ceil(H / 2); ty++) {
      for (let tx = 0; tx < Math.ceil(W / 2); tx++) {
        V.fill(0);
        D.fill(0);
        for (let p = 0; p < 16; p++) {
          for (let a = 0; a < 4; a++) {
            for (let b = 0; b < 4; b++) {
              const iy = 2 * ty + a - 1, ix = 2 * tx + b - 1;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (let c = 0; c < C; c++) V[c * 16 + p]! += Bm[a]![p >> 2]! * Math.abs(x[((img * C + c) * H + iy) * W + ix]!) * Bm[b]![p & 3]!;
            }
          }
          for (let a = 0; a < 2; a++) {
            for (let b = 0; b < 2; b++) {
              const oy = 2 * ty + a, ox = 2 * tx + b;
              if (oy >= H || ox >= W) continue;
              for (let o = 0; o < O; o++) D[o * 16 + p]! += Am[p >> 2]![a]! * Math.abs(dy[((img * O + o) * H + oy) * W + ox]!) * Am[p & 3]![b]!;
            }
          }
        }
        for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let p = 0; p < 16; p++) dU[(o * C + c) * 16 + p]! += D[o * 16 + p]! * V[c * 16 + p]!;
      }
    }
  }
  const out = new Float64Array(O * C * 9);
  for (let oc = 0; oc < O * C; oc++) {
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        let v = 0;
        for (let p = 0; p < 16; p++) v += Gt[a]![p >> 2]! * dU[oc * 16 + p]! * Gt[b]![p & 3]!;
        out[oc * 9 + 3 * a + b] = v;
      }
    }
  }
  return out;
}

function expectWithin(got: T.Tensor, want: T.Tensor, bound: Float64Array, cin: number): void {
  const g = got.dataSync();
  const w = want.dataSync();
  expect(g.length).toBe(bound.length);
  for (let i = 0; i < g.length; i++) {
    const tol = (cin + 10) * U * bound[i]! + 1e-30;
    if (!(Math.abs(g[i]! - w[i]!) <= tol)) throw new Error(`element ${i}: got ${g[i]}, float64 reference ${w[i]}, tolerance ${tol}`);
  }
}

const shapeArb = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  c: fc.integer({ min: 1, max: 20 }),
  o: fc.integer({ min: 1, max: 20 }),
  h: fc.integer({ min: 1, max: 19 }),
  w: fc.integer({ min: 1, max: 19 }),
  scale: fc.constantFrom(1, 1e-20, 1e15),
  seed: fc.nat(),
});

const saved = { ...winogradPaths };
afterAll(() => {
  Object.assign(winogradPaths, saved);
  T.cpuThreads(2);
});

function operands({ n, c, o, h, w, scale, seed }: { n: number; c: number; o: number; h: number; w: number; scale: number; seed: number }) {
  const x = makeTensor(randomValues(n * c * h * w, seed).map((v) => v * scale), [n, c, h, w]);
  const wt = makeTensor(randomValues(o * c * 9, seed + 1).map((v) => v * scale), [o, c, 3, 3]);
  const dy = makeTensor(randomValues(n * o * h * w, seed + 2).map((v) => v * scale), [n, o, h, w]);
  return { x, wt, dy, geo: T.convGeometry('conv2d', x.shape, wt.shape, { padding: 1 }) };
}

describe('Winograd F(2x2, 3x3) conv2d', () => {
  it('forward, input and weight gradients stay within (terms + 10) u Babs of the float64 reference (odd sizes, batch 1, C = 1, large and small magnitudes)', () => {
    winogradPaths.minChannels = 1;
    fc.assert(
      fc.property(shapeArb, (s) => {
        const { x, wt, dy, geo } = operands(s);
        expect(winogradApplies(geo)).toBe(true);
        const y = T.conv2d(x, wt, null, { padding: 1 });
        const dx = T.conv2dBackwardInput(dy, wt, geo);
        const dw = T.conv2dBackwardWeight(x, dy, geo);
        const W = wt.dataSync() as Float32Array;
        const tapF = (o: number, c: number, i: number, j: number) => W[((o * s.c + c) * 3 + i) * 3 + j]!;
        const tapB = (c: number, o: number, i: number, j: number) => W[((o * s.c + c) * 3 + 2 - i) * 3 + 2 - j]!;
        withReference(() => {
          const [x64, w64, dy64] = [T.cast(x, 'float64'), T.cast(wt, 'float64'), T.cast(dy, 'float64')];
          expectWithin(y, T.conv2d(x64, w64, null, { padding: 1 }), winogradAbsBound(x.dataSync() as Float32Array, s.n, s.c, s.o, s.h, s.w, tapF), s.c);
          expectWithin(dx, T.conv2dBackwardInput(dy64, w64, geo), winogradAbsBound(dy.dataSync() as Float32Array, s.n, s.o, s.c, s.h, s.w, tapB), s.o);
          const tiles = s.n * Math.ceil(s.h / 2) * Math.ceil(Math.ceil(s.w / 2) / 4) * 4;
          expectWithin(dw, T.conv2dBackwardWeight(x64, dy64, geo), winogradWeightAbsBound(x.dataSync() as Float32Array, dy.dataSync() as Float32Array, s.n, s.c, s.o, s.h, s.w), tiles);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('gives the same bits on 1 and 2 threads (runs of images; the weight gradient splits positions, never tiles)', () => {
    winogradPaths.minChannels = 1;
    fc.assert(
      fc.property(shapeArb, (s) => {
        const { x, wt, dy, geo } = operands({ ...s, n: s.n + 4 });
        const run = (threads: number) => {
          T.cpuThreads(threads);
          return [bitsOf(T.conv2d(x, wt, null, { padding: 1 }).dataSync()), bitsOf(T.conv2dBackwardInput(dy, wt, geo).dataSync()), bitsOf(T.conv2dBackwardWeight(x, dy, geo).dataSync())];
        };
        const [one, two] = [run(1), run(2)];
        expect(two[0]!.equals(one[0]!)).toBe(true);
        expect(two[1]!.equals(one[1]!)).toBe(true);
        expect(two[2]!.equals(one[2]!)).toBe(true);
      }),
      { numRuns: 15 },
    );
    T.cpuThreads(2);
  });

  it('is used only for 3x3 stride-1 pad-1 undilated ungrouped convs with enough channels, and the switch turns it off', () => {
    Object.assign(winogradPaths, saved);
    const geo = (c: number, o: number, opts: T.Conv2dOptions, k = 3) => T.convGeometry('conv2d', [2, c, 8, 8], [o, c / (opts.groups ?? 1), k, k], opts);
    expect(winogradApplies(geo(16, 16, { padding: 1 }))).toBe(true);
    expect(winogradApplies(geo(16, 16, { padding: 1, stride: 2 }))).toBe(false);
    expect(winogradApplies(geo(16, 16, { padding: 0 }))).toBe(false);
    expect(winogradApplies(geo(16, 16, { padding: 2, dilation: 2 }))).toBe(false);
    expect(winogradApplies(geo(16, 16, { padding: 1, groups: 2 }))).toBe(false);
    expect(winogradApplies(geo(16, 16, { padding: 0 }, 1))).toBe(false);
    expect(winogradApplies(geo(1, 16, { padding: 1 }))).toBe(false);
    winogradPaths.enabled = false;
    expect(winogradApplies(geo(16, 16, { padding: 1 }))).toBe(false);
    // Off, the result is im2col + GEMM's; on, it differs in rounding only.
    const { x, wt } = operands({ n: 2, c: 16, o: 16, h: 8, w: 8, scale: 1, seed: 7 });
    const direct = T.conv2d(x, wt, null, { padding: 1 }).dataSync();
    winogradPaths.enabled = true;
    const wino = T.conv2d(x, wt, null, { padding: 1 }).dataSync();
    let maxDiff = 0;
    for (let i = 0; i < direct.length; i++) maxDiff = Math.max(maxDiff, Math.abs(direct[i]! - wino[i]!));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('classifies every output as NaN, +Inf, -Inf or finite like im2col + GEMM and the reference (specials in x, w, dy; overflow near the float32 limit)', () => {
    winogradPaths.minChannels = 1;
    const kind = (v: number) => (Number.isNaN(v) ? 'nan' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : 'finite');
    const specialsArb = fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 3 });
    const withSpecials = (t: T.Tensor, specials: [number, number][]) => {
      const v = Array.from(t.dataSync());
      for (const [where, s] of specials) v[where % v.length] = s;
      return makeTensor(v, t.shape);
    };
    fc.assert(
      fc.property(shapeArb, specialsArb, specialsArb, specialsArb, fc.constantFrom(1, 4e18), (s, sx, sw, sdy, big) => {
        const { x: x0, wt: w0, dy: dy0, geo } = operands({ ...s, scale: big });
        const [x, wt, dy] = [withSpecials(x0, sx), withSpecials(w0, sw), withSpecials(dy0, sdy)];
        // Only one operand of each product carries specials, so that the classes do not hang on Inf - Inf orders.
        const cases = [() => T.conv2d(x, w0, null, { padding: 1 }), () => T.conv2d(x0, wt, null, { padding: 1 }), () => T.conv2dBackwardInput(dy, w0, geo), () => T.conv2dBackwardWeight(x0, dy, geo), () => T.conv2dBackwardWeight(x, dy0, geo)];
        const direct = (f: () => T.Tensor) => {
          winogradPaths.enabled = false;
          try {
            return f();
          } finally {
            winogradPaths.enabled = true;
          }
        };
        for (const f of cases) {
          const got = Array.from(f().dataSync(), kind);
          expect(got).toEqual(Array.from(direct(f).dataSync(), kind));
          // In range (no overflow of float32 sums), also the reference's (float64 sums) classes.
          if (big === 1) expect(got).toEqual(Array.from(withReference(f).dataSync(), kind));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('runs the weight gradient in batches of images (accumulated in order) with the same bits as in one batch', () => {
    winogradPaths.minChannels = 1;
    const { x, dy, geo } = operands({ n: 7, c: 5, o: 6, h: 9, w: 7, scale: 1, seed: 3 });
    const whole = bitsOf(T.conv2dBackwardWeight(x, dy, geo).dataSync());
    const perImage = 16 * 4 * 5 * 4 * (5 + 6);
    winogradPaths.weightGradientBytes = 3 * perImage;
    try {
      const batched = T.conv2dBackwardWeight(x, dy, geo);
      // Batches add partial sums in another association than one long GEMM over all tiles: close, maybe not equal.
      const a = new Float32Array(whole.buffer, whole.byteOffset, whole.length / 4), b = batched.dataSync();
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
    } finally {
      winogradPaths.weightGradientBytes = saved.weightGradientBytes;
    }
  });
});
