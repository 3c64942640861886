/**
 * The emitter and the WebAssembly GEMM / matmul kernel. Oracle: the reference matmul kernel (float64
 * accumulation over the same float32 inputs, rounded once), reached with setCpuKernels('reference').
 *
 * Tolerance: the fast kernel sums k float32 products in float32 (with KC-blocked partial sums). The standard
 * bound for recursive summation is |error| <= gamma_k * sum_p |a_ip b_pj| with gamma_k ~ k u, u = 2^-24; we
 * allow (k + 2) u times that sum (computed in float64), which a wrong element exceeds by orders of magnitude.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { bitsOf, layoutArb, makeTensor, randomValues } from '../../../test-helpers.js';
import { ModuleBuilder, sleb, uleb } from './emitter.js';
import { gemmThreading } from './gemm.js';

const U = 2 ** -24;

function referenceOf<R>(fn: () => R): R {
  T.setCpuKernels('reference');
  try {
    return fn();
  } finally {
    T.setCpuKernels('fast');
  }
}

/** Elementwise float64 |A| |B| for the error bound. */
function absProductSum(a: T.Tensor, b: T.Tensor): Float64Array {
  return referenceOf(() => T.matmul(T.cast(T.abs(a), 'float64'), T.cast(T.abs(b), 'float64')).storage.data as Float64Array);
}

function expectWithinSummationBound(got: T.Tensor, want: T.Tensor, bound: ArrayLike<number>, k: number): void {
  expect(got.shape).toEqual(want.shape);
  const g = T.contiguous(got).storage.data!;
  const w = T.contiguous(want).storage.data!;
  for (let i = 0; i < g.length; i++) {
    const tol = (k + 2) * U * bound[i]! + 1e-30;
    if (!(Math.abs(g[i]! - w[i]!) <= tol)) throw new Error(`element ${i}: got ${g[i]}, reference ${w[i]}, tolerance ${tol}`);
  }
}

afterAll(() => {
  T.cpuThreads(2);
});

describe('emitter', () => {
  it('encodes LEB128 like the WebAssembly spec examples', () => {
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0)).toEqual([0]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
  });

  it('builds a module that validates and runs (i32 and SIMD)', () => {
    const m = new ModuleBuilder();
    const f = m.func('addmul', ['i32', 'i32'], ['i32']);
    f.get(f.param(0)).get(f.param(1)).op('i32.add').i32(3).op('i32.mul');
    m.export(f);
    const g = m.func('lane2', ['f32'], ['f32']);
    g.get(g.param(0)).op('f32x4.splat').f32x4(2).op('f32x4.mul').lane('f32x4.extract_lane', 2);
    m.export(g);
    const bytes = m.encode();
    expect(WebAssembly.validate(bytes)).toBe(true);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    expect((inst.exports.addmul as (a: number, b: number) => number)(4, 5)).toBe(27);
    expect((inst.exports.lane2 as (a: number) => number)(1.5)).toBe(3);
  });

  it('rejects unknown instructions by name', () => {
    const m = new ModuleBuilder();
    expect(() => m.func('x', []).op('f32x4.frobnicate')).toThrow(/unknown instruction 'f32x4.frobnicate'/);
  });
});

describe('wasm matmul', () => {
  it('reports what runs', () => {
    // CI also runs this suite with OCLT_CPU=reference, where the backend must say so instead.
    const expected = process.env.OCLT_CPU === 'reference' ? /^cpu:reference/ : /^cpu:wasm-simd(\(relaxed\))? x\d+ threads?$/;
    expect(T.getBackend('cpu').info()).toMatch(expected);
  });

  it('matches the reference on random shapes, strided layouts and broadcast batches', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 300 }),
        fc.constantFrom([], [2], [3, 1]), fc.constantFrom([], [1], [3, 2]), fc.nat(), layoutArb(2), layoutArb(2),
        (m, n, k, batchA, batchB, seed, la, lb) => {
          const a2 = makeTensor(randomValues(m * k, seed), [m, k], 'float32', la);
          const b2 = makeTensor(randomValues(k * n, seed + 1), [k, n], 'float32', lb);
          const a = batchA.length ? T.expand(a2, [...batchA, m, k]) : a2;
          const b = batchB.length ? T.expand(b2, [...batchB, k, n]) : b2;
          const got = T.matmul(a, b);
          const want = referenceOf(() => T.matmul(a, b));
          expectWithinSummationBound(got, want, absProductSum(a, b), k);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gives bitwise the same result on 1 and 2 threads', () => {
    const g = new T.Generator(7);
    // A low threshold makes two threads really split each product (rows, rows, columns).
    const saved = gemmThreading.minFlopsPerThread;
    gemmThreading.minFlopsPerThread = 1e6;
    for (const [m, n, k] of [[130, 150, 170], [301, 20, 400], [21, 1001, 120]] as const) {
      const a = T.randn([m, k], g);
      const b = T.randn([k, n], g);
      T.cpuThreads(1);
      const one = T.matmul(a, b).storage.data!;
      T.cpuThreads(2);
      const two = T.matmul(a, b).storage.data!;
      expect(bitsOf(two).equals(bitsOf(one))).toBe(true);
    }
    gemmThreading.minFlopsPerThread = saved;
  });

  it('matches the reference when two threads share one packing of B (several ragged blocks, B transposed or not)', () => {
    const g = new T.Generator(11);
    const saved = gemmThreading.minFlopsPerThread;
    gemmThreading.minFlopsPerThread = 1e6;
    try {
      // Cut along rows (n / 8 < m / 4); n spans two column blocks (NC = 256) and k three depth blocks (KC = 256),
      // neither a multiple of the block or of 8.
      const a = T.randn([301, 530], g);
      for (const b of [T.randn([530, 300], g), T.transpose(T.randn([300, 530], g), 0, 1)]) {
        const want = referenceOf(() => T.matmul(a, b));
        T.cpuThreads(2);
        expectWithinSummationBound(T.matmul(a, b), want, absProductSum(a, b), 530);
      }
    } finally {
      gemmThreading.minFlopsPerThread = saved;
    }
  });

  it('with relaxed SIMD (FMA) stays within the bound and thread-invariant, and says so in info()', () => {
    const g = new T.Generator(8);
    const a = T.randn([133, 170], g);
    const b = T.randn([170, 150], g);
    const want = referenceOf(() => T.matmul(a, b));
    T.setCpuKernels('fast', { relaxedSimd: 'auto' });
    const auto = T.getBackend('cpu').info();
    T.setCpuKernels('fast', { relaxedSimd: true });
    try {
      // Where the engine cannot do relaxed SIMD even with V8's flag, the plain path runs and info() says so.
      expect(T.getBackend('cpu').info()).toMatch(/^cpu:wasm-simd(\(relaxed\))? x\d+ threads?$/);
      const saved = gemmThreading.minFlopsPerThread;
      gemmThreading.minFlopsPerThread = 1e6;
      T.cpuThreads(1);
      const one = T.matmul(a, b);
      T.cpuThreads(2);
      const two = T.matmul(a, b);
      gemmThreading.minFlopsPerThread = saved;
      expect(bitsOf(two.storage.data!).equals(bitsOf(one.storage.data!))).toBe(true);
      // A fused multiply-add rounds once instead of twice: the same summation bound holds.
      expectWithinSummationBound(two, want, absProductSum(a, b), 170);
    } finally {
      T.setCpuKernels('fast', { relaxedSimd: false });
    }
    expect(T.getBackend('cpu').info()).not.toMatch(/relaxed/);
    // 'auto', the default, follows the engine as it was before any flag was set (switch.test checks which that is
    // in a fresh process): turning FMA on and off again leaves it as it was.
    T.setCpuKernels('fast', { relaxedSimd: 'auto' });
    expect(T.getBackend('cpu').info()).toBe(auto);
    expect(() => T.setCpuKernels('fast', { relaxedSimd: 'yes' as never })).toThrow(/relaxedSimd must be true, false or 'auto', got "yes"/);
  });

  it('leaves float64 to the reference kernel (exactly its result)', () => {
    const g = new T.Generator(3);
    const a = T.randn([9, 13], g, 'float64');
    const b = T.randn([13, 5], g, 'float64');
    const got = T.matmul(a, b).storage.data!;
    const want = referenceOf(() => T.matmul(a, b)).storage.data!;
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});

describe('packB', () => {
  it('lays out row-major, column-major and strided panels alike (kc rows of 8 floats per panel, zeros past nc)', async () => {
    const { emitGemmFunctions } = await import('./gemm-emit.js');
    const mb = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initialPages: 4, maximumPages: 4, shared: false });
    emitGemmFunctions(mb, false);
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 4 });
    const fn = new WebAssembly.Instance(new WebAssembly.Module(mb.encode()), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
    const f32 = new Float32Array(memory.buffer);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 29 }), fc.constantFrom('row', 'col', 'strided'), fc.nat(), (kc, nc, layout, seed) => {
        // B is kc x nc at float 0 with strides (rs, cs); the packing goes to float 8192.
        const [rs, cs] = layout === 'row' ? [nc, 1] : layout === 'col' ? [1, kc] : [2 * nc + 1, 2];
        const values = randomValues((kc - 1) * rs + (nc - 1) * cs + 1, seed);
        f32.set(values, 0);
        const panels = Math.ceil(nc / 8);
        f32.fill(NaN, 8192, 8192 + panels * kc * 8);
        fn.packB!(kc, nc, 0, rs, cs, 8192 * 4);
        const want = new Float32Array(panels * kc * 8);
        for (let j = 0; j < nc; j++) for (let k = 0; k < kc; k++) want[(j >> 3) * kc * 8 + k * 8 + (j & 7)] = values[k * rs + j * cs]!;
        expect(bitsOf(f32.subarray(8192, 8192 + want.length)).equals(bitsOf(want))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
