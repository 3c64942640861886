/**
 * Batched broadcasting matmul. Oracles: a float64 triple loop over plain arrays (with NumPy's batch
 * broadcasting and 1-D promotion rules done by hand) and tfjs matMul on the broadcast batches.
 *
 * These tests run whatever kernels the cpu backend has installed: the fast WebAssembly GEMM for float32 by
 * default, the reference loops with OCLT_CPU=reference (both pass). Tolerance: a float32 dot product of k terms
 * accumulated in float32 is within (k + 1) * 2^-24 * sum_k |a_ik b_kj| of the exact value (the standard
 * gamma_k bound plus the input rounding already in a and b); the reference kernel (float64 accumulation, one
 * rounding) is well inside it. float64 results: 1e-15 relative to the same sum.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { matmul, sizeOf, tensor, zeros, type DType } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, loadTf, makeTensor, randomValues, ravel, unravel } from '../test-helpers.js';

/** Operand shapes: batch parts that broadcast, and sometimes 1-D operands. */
const matmulCaseArb = fc
  .record({
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    dropA: fc.nat({ max: 2 }),
    dropB: fc.nat({ max: 2 }),
    onesA: fc.nat(),
    onesB: fc.nat(),
    m: fc.integer({ min: 1, max: 5 }),
    k: fc.integer({ min: 1, max: 6 }),
    n: fc.integer({ min: 1, max: 5 }),
    vecA: fc.boolean(),
    vecB: fc.boolean(),
  })
  .chain((r) => {
    const part = (drop: number, ones: number) => r.batch.slice(Math.min(drop, r.batch.length)).map((d, i) => ((ones >> i) & 1 ? 1 : d));
    const vecA = r.vecA && r.dropA >= 2; // 1-D operands have no batch
    const vecB = r.vecB && r.dropB >= 2;
    const aShape = vecA ? [r.k] : [...part(r.dropA, r.onesA), r.m, r.k];
    const bShape = vecB ? [r.k] : [...part(r.dropB, r.onesB), r.k, r.n];
    return fc.record({
      r: fc.constant(r),
      aShape: fc.constant(aShape),
      bShape: fc.constant(bShape),
      la: layoutArb(aShape.length),
      lb: layoutArb(bShape.length),
      seed: fc.nat(),
      dtype: fc.constantFrom<DType>('float32', 'float64', 'int32'),
    });
  });

/** NumPy matmul in float64 on plain arrays. */
function matmulRef(a: number[], aShape: number[], b: number[], bShape: number[]): { out: number[]; shape: number[]; absOut: number[] } {
  const A = aShape.length === 1 ? [1, aShape[0]!] : aShape;
  const B = bShape.length === 1 ? [bShape[0]!, 1] : bShape;
  const [m, k] = A.slice(-2) as [number, number];
  const n = B[B.length - 1]!;
  const ba = A.slice(0, -2);
  const bb = B.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const batch = Array.from({ length: rank }, (_, i) => Math.max(ba[i - (rank - ba.length)] ?? 1, bb[i - (rank - bb.length)] ?? 1));
  const out: number[] = [];
  const absOut: number[] = [];
  for (let bi = 0; bi < sizeOf(batch); bi++) {
    const idx = unravel(bi, batch);
    const pick = (part: number[]) => ravel(part.map((d, i) => (d === 1 ? 0 : idx[i + rank - part.length]!)), part);
    const ao = pick(ba) * m * k;
    const bo = pick(bb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let sa = 0;
        for (let p = 0; p < k; p++) {
          s += a[ao + i * k + p]! * b[bo + p * n + j]!;
          sa += Math.abs(a[ao + i * k + p]! * b[bo + p * n + j]!);
        }
        out.push(s);
        absOut.push(sa);
      }
    }
  }
  let shape = [...batch, m, n];
  if (aShape.length === 1 && bShape.length === 1) shape = [];
  else if (aShape.length === 1) shape = [...batch, n];
  else if (bShape.length === 1) shape = [...batch, m];
  return { out, shape, absOut };
}

describe('matmul', () => {
  it('matches a float64 triple loop with broadcasting batches, 1-D operands and any layouts', () => {
    fc.assert(
      fc.property(matmulCaseArb, ({ aShape, bShape, la, lb, seed, dtype }) => {
        const va = randomValues(sizeOf(aShape), seed, dtype);
        const vb = randomValues(sizeOf(bShape), seed + 1, dtype);
        const out = matmul(makeTensor(va, aShape, dtype, la), makeTensor(vb, bShape, dtype, lb));
        const ref = matmulRef(va, aShape, vb, bShape);
        expect(out.dtype).toBe(dtype);
        const kDim = aShape[aShape.length - 1]!;
        const eps = dtype === 'float64' ? 1e-15 : dtype === 'float32' ? (kDim + 1) * 2 ** -24 : 0;
        expect([...out.shape]).toEqual(ref.shape);
        const got = out.toTypedArray();
        ref.out.forEach((want, i) => {
          if (!(Math.abs(got[i]! - want) <= eps * ref.absOut[i]!)) throw new Error(`element ${i}: got ${got[i]}, expected ${want}`);
        });
      }),
      FC,
    );
  });

  it('promotes mixed dtypes and bool', () => {
    const a = tensor([[1, 2]], 'int32');
    const b = tensor([[0.5], [0.25]], 'float64');
    expect(matmul(a, b).dtype).toBe('float64');
    expect(matmul(a, b).toArray()).toEqual([[1]]);
    const c = matmul(tensor([[true, true]]), tensor([[true], [true]]));
    expect(c.dtype).toBe('int32');
    expect(c.toArray()).toEqual([[2]]);
  });

  it('rejects mismatched shapes naming the op and both shapes', () => {
    expectOpError(() => matmul(zeros([2, 3]), zeros([4, 2])), 'matmul', '[2, 3]', '[4, 2]', '3 != 4');
    expectOpError(() => matmul(zeros([]), zeros([2])), 'matmul', 'at least one axis');
    expectOpError(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 1])), 'matmul', 'cannot be broadcast');
    expectOpError(() => matmul(zeros([3]), zeros([2])), 'matmul', '3 != 2');
    expectOpError(() => matmul([1] as never, zeros([1])), 'matmul', 'Tensors');
  });
});

describe('matmul against tfjs', () => {
  let tf: Awaited<ReturnType<typeof loadTf>>;
  beforeAll(async () => {
    tf = await loadTf();
  });

  it('matches tf.matMul on random broadcast batches (float32)', () => {
    fc.assert(
      fc.property(matmulCaseArb, ({ r, aShape, bShape, la, lb, seed }) => {
        if (aShape.length === 1 || bShape.length === 1) return;
        const va = randomValues(sizeOf(aShape), seed, 'float32');
        const vb = randomValues(sizeOf(bShape), seed + 1, 'float32');
        const ours = matmul(makeTensor(va, aShape, 'float32', la), makeTensor(vb, bShape, 'float32', lb));
        // Feed tfjs the batches already broadcast, as [batch, m, k] and [batch, k, n].
        const batch = ours.shape.slice(0, -2);
        const bcast = (v: number[], shape: number[]) => {
          const full = [...batch, ...shape.slice(-2)];
          const part = shape.slice(0, -2);
          return Float32Array.from({ length: sizeOf(full) }, (_, i) => {
            const idx = unravel(i, full);
            const src = [...part.map((d, j) => (d === 1 ? 0 : idx[j + batch.length - part.length]!)), ...idx.slice(-2)];
            return v[ravel(src, shape)]!;
          });
        };
        const nb = sizeOf(batch);
        const theirs = tf.matMul(tf.tensor3d(bcast(va, aShape), [nb, r.m, r.k]), tf.tensor3d(bcast(vb, bShape), [nb, r.k, r.n]));
        // float32 accumulation over k <= 6 terms of size <= 9: 1e-5 relative plus 1e-5 absolute.
        expectClose(ours.reshape(nb, r.m, r.n), theirs.dataSync() as Float32Array, [nb, r.m, r.n], { rtol: 1e-5, atol: 1e-5 });
        theirs.dispose();
      }),
      { numRuns: 30 },
    );
  });
});
