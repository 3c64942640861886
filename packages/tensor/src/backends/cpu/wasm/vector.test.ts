/**
 * The WebAssembly elementwise, sum, max/min and softmax kernels against the reference kernels (float64 arithmetic
 * on the same float32 inputs, rounded once), on random shapes, broadcasts and non-contiguous layouts.
 *
 * Tolerances (u = 2^-24, ulp(x) ~ 2u |x|):
 * - add/sub/mul/div/maximum/minimum, neg/abs/square/sqrt/relu: exactly equal. One IEEE operation on float32
 *   inputs rounds to the same float32 as the float64 result rounded once (float64 carries more than 2 x 24 + 2
 *   bits, so double rounding cannot differ).
 * - exp: within 1 ulp of 2^-23 |exp x| (measured 0.99 on 2^20 points over [-103, 88], with and without FMA); we
 *   allow 2 ulp. sigmoid/silu add a sum and a division (one rounding each): 4 ulp.
 * - max/min: exactly equal, signed zeros and NaN included (no arithmetic, and the same rule for ties).
 * - sum: both accumulate in float64; the orders differ, so the float64 sums differ by at most n 2^-53 sum|x|,
 *   and the float32 results by one rounding of that: 2u |ref| + n 2^-53 sum|x|.
 * - softmax: exp (<= 1 ulp) of an exactly carried x - max, a float32 product (0.5 ulp) with 1 / (float64 sum)
 *   rounded to float32 (0.5 ulp): 4 ulp. log-softmax is (x - max) - log(sum), two float32 subtractions: with
 *   y = (x - max) - log(sum) (x - max <= 0 <= log sum, so |x - max| + log sum = |y|), the roundings of x - max,
 *   of log(sum) and of the difference add at most 3u |y|, and exp's error moves log(sum) by at most 2u: we allow
 *   8u |ref| + 4u, whatever the magnitude of max (subtracting a rounded max + log(sum) lost log(sum) at 1e8).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { bitsOf, layoutArb, makeTensor, randomValues, shapeArb } from '../../../test-helpers.js';
import { MIN_ELEMENTS_PER_THREAD, smallOpLimits } from './vector.js';

// Small tensors normally go to the reference kernels (faster there); these tests want the WebAssembly ones.
const savedLimits = { ...smallOpLimits };
smallOpLimits.memoryBound = 0;
smallOpLimits.transcendental = 0;

const U = 2 ** -24;

function withReference<R>(fn: () => R): R {
  T.setCpuKernels('reference');
  try {
    return fn();
  } finally {
    T.setCpuKernels('fast');
  }
}

const dataOf = (t: T.Tensor) => T.contiguous(t).storage.data!;

function expectTol(got: T.Tensor, want: T.Tensor, tol: (ref: number, i: number) => number): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  const g = dataOf(got);
  const w = dataOf(want);
  for (let i = 0; i < g.length; i++) {
    const a = g[i]!;
    const b = w[i]!;
    if (Number.isNaN(b) || !Number.isFinite(b)) {
      if (!(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)))) throw new Error(`element ${i}: got ${a}, reference ${b}`);
      continue;
    }
    const t = tol(b, i);
    if (!(Math.abs(a - b) <= t)) throw new Error(`element ${i}: got ${a}, reference ${b}, tolerance ${t}`);
  }
}

/** Every element the same value as the reference's, signed zeros and NaN included. */
function expectSame(got: T.Tensor, want: T.Tensor): void {
  expect(got.shape).toEqual(want.shape);
  const g = dataOf(got);
  const w = dataOf(want);
  for (let i = 0; i < g.length; i++) {
    if (!(Object.is(g[i], w[i]) || (Number.isNaN(g[i]) && Number.isNaN(w[i])))) throw new Error(`element ${i}: got ${g[i]}, reference ${w[i]}`);
  }
}

const exact = () => 0;
const ulps = (k: number) => (ref: number) => k * 2 * U * Math.abs(ref) + 1e-38;

/** A pair of shapes that broadcast: b drops some leading axes of a and sets some of its axes to 1 (or vice versa). */
const broadcastPairArb = shapeArb({ minRank: 0, maxRank: 4, maxDim: 5 }).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    drop: fc.nat({ max: shape.length }),
    ones: fc.nat(),
    swap: fc.boolean(),
    seed: fc.nat(),
    la: layoutArb(shape.length),
  }),
);

afterAll(() => {
  T.cpuThreads(2);
  Object.assign(smallOpLimits, savedLimits);
});

describe('wasm binary ops', () => {
  const ops = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
  it('equal the reference exactly on broadcast pairs and strided layouts', () => {
    fc.assert(
      fc.property(broadcastPairArb, fc.constantFrom(...ops), ({ shape, drop, ones, swap, seed, la }, op) => {
        const small = shape.slice(drop).map((d, i) => ((ones >> i) & 1 ? 1 : d));
        const a = makeTensor(randomValues(T.sizeOf(shape), seed), shape, 'float32', la);
        const b = makeTensor(randomValues(T.sizeOf(small), seed + 1), small);
        const [x, y] = swap ? [b, a] : [a, b];
        expectTol(T[op](x, y), withReference(() => T[op](x, y)), exact);
      }),
      { numRuns: 60 },
    );
  });

  it('follow the reference on scalars and special values (NaN, infinities, signed zeros)', () => {
    const specials = [0, -0, 1, -1, Infinity, -Infinity, NaN, 3.5, -2.25];
    const a = T.tensor(specials.flatMap((x) => specials.map(() => x)));
    const b = T.tensor(specials.flatMap(() => specials));
    for (const op of ops) {
      expectSame(T[op](a, b), withReference(() => T[op](a, b)));
      expectTol(T[op](a, 2.5), withReference(() => T[op](a, 2.5)), exact);
    }
  });
});

describe('wasm unary ops', () => {
  const tols = { neg: exact, abs: exact, square: exact, sqrt: exact, relu: exact, exp: ulps(2), sigmoid: ulps(4), silu: ulps(4) } as const;
  it('match the reference on random tensors with strided layouts', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 3, maxDim: 9 }).chain((s) => fc.tuple(fc.constant(s), layoutArb(s.length), fc.nat())), fc.constantFrom(...(Object.keys(tols) as (keyof typeof tols)[])), ([shape, layout, seed], op) => {
        const values = randomValues(T.sizeOf(shape), seed).map((v) => v * 10); // about [-30, 30]
        const x = makeTensor(values, shape, 'float32', layout);
        const arg = op === 'sqrt' ? T.abs(x) : x;
        expectTol(T[op](arg), withReference(() => T[op](arg)), tols[op]);
      }),
      { numRuns: 60 },
    );
  });

  it('handle the ends of the float32 range like the reference', () => {
    const x = T.tensor([0, -0, 88, 88.7, 89, 100, -87, -100, -103, -110, Infinity, -Infinity, NaN, 1e-8, -1e-8]);
    for (const op of ['exp', 'sigmoid', 'relu'] as const) expectTol(T[op](x), withReference(() => T[op](x)), (ref) => 4 * 2 * U * Math.abs(ref) + 2 ** -149);
    // silu's result for x < -87 is subnormal (below 1e-36): absolute error within 1e-40 is all we claim there.
    expectTol(T.silu(x), withReference(() => T.silu(x)), (ref) => 8 * U * Math.abs(ref) + 1e-40);
  });
});

describe('wasm sum and softmax', () => {
  it('sum matches the reference over random axes and layouts', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 4, maxDim: 7 }).chain((s) => fc.tuple(fc.constant(s), layoutArb(s.length), fc.nat(), fc.subarray([...s.keys()]), fc.boolean())), ([shape, layout, seed, axes, keepdims]) => {
        const x = makeTensor(randomValues(T.sizeOf(shape), seed), shape, 'float32', layout);
        const absSum = withReference(() => T.sum(T.cast(T.abs(x), 'float64'), axes, keepdims));
        const bound = dataOf(absSum);
        const n = T.sizeOf(shape);
        expectTol(T.sum(x, axes, keepdims), withReference(() => T.sum(x, axes, keepdims)), (ref, i) => 2 * U * Math.abs(ref) + n * 2 ** -53 * bound[i]! + 1e-38);
      }),
      { numRuns: 50 },
    );
  });

  it('sum over [R1, K, R2] of a channel slice (a bias gradient of a concat branch) matches the reference', () => {
    const full = T.randn([4, 32, 5, 6], new T.Generator(7));
    for (const x of [full.narrow(1, 8, 16), full.narrow(0, 1, 2).narrow(1, 3, 5), full]) {
      const bound = dataOf(withReference(() => T.sum(T.cast(T.abs(x), 'float64'), [0, 2, 3])));
      expectTol(T.sum(x, [0, 2, 3]), withReference(() => T.sum(x, [0, 2, 3])), (ref, i) => 2 * U * Math.abs(ref) + x.size * 2 ** -53 * bound[i]!);
    }
  });

  it('sum over leading axes, kept axes innermost (a Linear bias gradient [N, T, C] -> C), is the reference bit for bit on 1 and 2 threads', () => {
    // Both add the elements of each column in float64, in the same row-major order of the reduced axes, and
    // round once: the same sums, so exactly the reference's result (no tolerance needed).
    const full = T.randn([6, 9, 40], new T.Generator(11));
    const saved = { ...MIN_ELEMENTS_PER_THREAD };
    MIN_ELEMENTS_PER_THREAD.memoryBound = 1 << 4;
    try {
      for (const [x, axes] of [[full, [0, 1]], [full.narrow(0, 1, 4), [0, 1]], [full.narrow(1, 2, 5), [0, 1]], [T.reshape(full, [54, 40]), [0]], [full, [0]]] as const) {
        const want = bitsOf(dataOf(withReference(() => T.sum(x, [...axes]))));
        T.cpuThreads(1);
        const one = bitsOf(dataOf(T.sum(x, [...axes])));
        T.cpuThreads(2);
        const two = bitsOf(dataOf(T.sum(x, [...axes])));
        expect(one.equals(want)).toBe(true);
        expect(two.equals(want)).toBe(true);
      }
    } finally {
      Object.assign(MIN_ELEMENTS_PER_THREAD, saved);
    }
  });

  it('sum of a long row (several fixed blocks) matches the reference', () => {
    const x = T.randn([3, 200001], new T.Generator(4));
    const bound = dataOf(withReference(() => T.sum(T.cast(T.abs(x), 'float64'), 1)));
    expectTol(T.sum(x, 1), withReference(() => T.sum(x, 1)), (ref, i) => 2 * U * Math.abs(ref) + 200001 * 2 ** -53 * bound[i]!);
  });

  it('softmax and log-softmax match the reference along any axis', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, maxDim: 11 }).chain((s) => fc.tuple(fc.constant(s), layoutArb(s.length), fc.nat(), fc.nat({ max: s.length - 1 }))), ([shape, layout, seed, axis]) => {
        const x = makeTensor(randomValues(T.sizeOf(shape), seed).map((v) => v * 5), shape, 'float32', layout);
        expectTol(T.softmax(x, axis), withReference(() => T.softmax(x, axis)), ulps(4));
        // Within 8u |y| + 4u of the result y whatever the rows' scale (see the top of the file).
        expectTol(T.logSoftmax(x, axis), withReference(() => T.logSoftmax(x, axis)), logSoftmaxTol);
      }),
      { numRuns: 50 },
    );
  });

  it('softmax of long rows finds the max wherever it is (unrolled max loop, its 4-wide rest and scalar tail)', () => {
    // Row lengths past 16 reach the four-accumulator loop of the row max; the special value lands anywhere.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity, 40, -0), (cols, seed, where, special) => {
        const values = randomValues(2 * cols, seed).map((v) => v * 5);
        values[where % values.length] = special;
        const x = T.reshape(T.tensor(values), [2, cols]);
        expectTol(T.softmax(x), withReference(() => T.softmax(x)), ulps(4));
      }),
      { numRuns: 50 },
    );
  });

  it('softmax shifts each row by its own max (rows far apart in scale, any length, one call or several)', () => {
    // A row's max is found during the previous row's pass: a max taken from the wrong row would overflow exp
    // (rows 500 above it) or underflow every element to 0 (rows 500 below it), giving NaN.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 37 }), fc.nat(), (rows, cols, seed) => {
        const noise = randomValues(rows * cols, seed);
        const values = noise.map((v, i) => v + (Math.floor(i / cols) % 3 === 1 ? 500 : Math.floor(i / cols) % 3 === 2 ? -500 : 0));
        const x = T.reshape(T.tensor(values), [rows, cols]);
        expectTol(T.softmax(x), withReference(() => T.softmax(x)), ulps(4));
      }),
      { numRuns: 60 },
    );
  });

  it('softmax of special rows follows the reference (all -inf, +inf, NaN)', () => {
    // The last rows have x - max far beyond float32's precision (its rounding error up to 2^103) or overflowing
    // to -inf: exp must still give exactly 0 there (attention masks put -1e9 or -3.4e38 next to small logits).
    const x = T.tensor([[-Infinity, -Infinity, -Infinity], [1, Infinity, 2], [0, NaN, 1], [1000, 1000, -Infinity], [1e22, -1e30, 1e21], [3, -3.4e38, -1e9], [3e38, -3e38, 2]]);
    expectTol(T.softmax(x), withReference(() => T.softmax(x)), (ref) => (ref === 0 ? 0 : 4 * 2 * U * Math.abs(ref)));
    expectTol(T.logSoftmax(x), withReference(() => T.logSoftmax(x)), logSoftmaxTol);
  });

  it('log-softmax of rows with two maxima at 1e6 and 1e8 is -log 2 (closed form), not the 0 or -0.6875 of a rounded max + log(sum)', () => {
    for (const m of [1e6, 1e8, 1e30, -1e8]) {
      const got = dataOf(T.logSoftmax(T.tensor([[m, m]])));
      for (const v of got) expect(Math.abs(v + Math.LN2), `rows at ${m}`).toBeLessThanOrEqual(8 * U * Math.LN2 + 4 * U);
      // Closed form: [m, m - d] gives [-log(1 + e^-d), -d - log(1 + e^-d)]; d = 2 ulp(m) in float32.
      const d = 2 * ulpOf(m);
      const row = dataOf(T.logSoftmax(T.tensor([[m, m - d, m]])));
      const ls = Math.log(2 + Math.exp(-d));
      [-ls, -d - ls, -ls].forEach((want, i) => expect(Math.abs(row[i]! - want), `rows at ${m}, element ${i}`).toBeLessThanOrEqual(8 * U * Math.abs(want) + 4 * U));
    }
  });
});

/** The spacing of float32 values at |x| (a normal float32). */
function ulpOf(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);
}

/** See the top of the file: log-softmax within 8u of the result plus 4u, independent of the rows' magnitude. */
const logSoftmaxTol = (ref: number) => 8 * U * Math.abs(ref) + 4 * U;

describe('every reduction kernel on rows of large magnitude (1e6, 1e8, 1e30, mixed signs, ties at the max)', () => {
  // Rows around a magnitude m: all equal (ties), m plus a few float32 steps of m (differences of ordinary size,
  // where log-softmax's log(sum) must survive next to m), m with random signs (cancelling sums), or spread over
  // [-m, m]. The oracle is the reference kernels (float64 arithmetic on the same float32 inputs, rounded once).
  const kinds = ['ties', 'steps', 'mixed', 'spread'] as const;
  const caseArb = fc.record({
    m: fc.constantFrom(1e6, 1e8, 1e30, -1e6, -1e8, -1e30, 3e38),
    kind: fc.constantFrom(...kinds),
    rows: fc.integer({ min: 1, max: 5 }),
    cols: fc.integer({ min: 1, max: 70 }),
    seed: fc.nat(),
    axis: fc.nat({ max: 1 }),
  });
  const rowsOf = ({ m, kind, rows, cols, seed }: { m: number; kind: (typeof kinds)[number]; rows: number; cols: number; seed: number }) => {
    const r = randomValues(rows * cols, seed).map((v) => v / 3); // [-1, 1]
    const step = ulpOf(m);
    const values = r.map((v) => {
      switch (kind) {
        case 'ties':
          return v < 0 ? m : m - step * Math.round(v * 4); // half of each row at m exactly: ties at the max
        case 'steps':
          return m + step * Math.round(v * 20);
        case 'mixed':
          return (v < 0 ? -1 : 1) * m * (1 + Math.abs(v) * 1e-3);
        case 'spread':
          return m * v;
      }
    });
    return T.tensor(Float32Array.from(values)).reshape(rows, cols);
  };

  it('sum, max and min match the reference (sums within their float64 bound, extrema bit for bit)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const x = rowsOf(c);
        const n = x.shape[c.axis]!;
        const bound = dataOf(withReference(() => T.sum(T.cast(T.abs(x), 'float64'), c.axis)));
        expectTol(T.sum(x, c.axis), withReference(() => T.sum(x, c.axis)), (ref, i) => 2 * U * Math.abs(ref) + n * 2 ** -53 * bound[i]! + 1e-38);
        for (const op of ['max', 'min'] as const) expectSame(T[op](x, c.axis), withReference(() => T[op](x, c.axis)));
      }),
      { numRuns: 120 },
    );
  });

  it('softmax and log-softmax match the reference (log-softmax within 8u |y| + 4u at every magnitude)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const x = rowsOf(c);
        expectTol(T.softmax(x, c.axis), withReference(() => T.softmax(x, c.axis)), (ref) => 4 * 2 * U * Math.abs(ref) + 2 ** -147);
        expectTol(T.logSoftmax(x, c.axis), withReference(() => T.logSoftmax(x, c.axis)), logSoftmaxTol);
      }),
      { numRuns: 120 },
    );
  });
});

describe('wasm max and min', () => {
  it('equal the reference bit for bit over any axes and layouts, with NaN, infinities and signed zeros anywhere', () => {
    // Values of one sign make a zero the max (or min) of many rows: the reference then gives the row's first zero.
    const caseArb = shapeArb({ minRank: 1, maxRank: 4, maxDim: 23 }).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        layout: layoutArb(shape.length),
        seed: fc.nat(),
        axes: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
        specials: fc.array(fc.tuple(fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0)), { maxLength: 6 }),
        sign: fc.constantFrom(0, 1, -1),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ shape, layout, seed, axes, specials, sign }) => {
        const values = randomValues(T.sizeOf(shape), seed).map((v) => (sign === 0 ? v : sign * Math.abs(v)));
        for (const [where, v] of specials) values[where % values.length] = v;
        const x = makeTensor(values, shape, 'float32', layout);
        for (const op of ['max', 'min'] as const) {
          expectSame(T[op](x, axes), withReference(() => T[op](x, axes)));
          expectSame(T[op](x, axes, true), withReference(() => T[op](x, axes, true)));
        }
      }),
      { numRuns: 80 },
    );
  });

  it('combine the blocks of long rows in order (the first zero, NaN in any block), on two threads', () => {
    const cols = 200001;
    const values = new Float32Array(3 * cols).map((_, i) => -1 - (i % 977));
    values[70000] = -0; // row 0: -0 in block 1, +0 in block 2: the max is -0
    values[140000] = 0;
    values[cols + 199999] = NaN; // row 1: NaN in the last block
    values[2 * cols + 5] = -5000; // row 2: an ordinary min
    const x = T.reshape(T.tensor(values), [3, cols]);
    for (const op of ['max', 'min'] as const) expectSame(T[op](x, 1), withReference(() => T[op](x, 1)));
    expect(Object.is(dataOf(T.max(x, 1))[0], -0)).toBe(true);
  });
});

describe('wasm vector kernels: threads and dtypes', () => {
  it('give bitwise the same results on 1 and 2 threads', () => {
    const g = new T.Generator(9);
    const a = T.randn([700, 301], g);
    const row = T.randn([301], g);
    // Low thresholds make every op below really split between two threads.
    const saved = { ...MIN_ELEMENTS_PER_THREAD };
    MIN_ELEMENTS_PER_THREAD.memoryBound = 1 << 12;
    MIN_ELEMENTS_PER_THREAD.transcendental = 1 << 12;
    const run = () => [T.add(a, row), T.mul(a, 3), T.exp(a), T.silu(a), T.sum(a), T.sum(a, 1), T.sum(T.reshape(a, [-1])), T.softmax(a), T.logSoftmax(a, 0)].map((t) => bitsOf(dataOf(t)));
    T.cpuThreads(1);
    const one = run();
    T.cpuThreads(2);
    const two = run();
    Object.assign(MIN_ELEMENTS_PER_THREAD, saved);
    one.forEach((o, i) => expect(two[i]!.equals(o)).toBe(true));
  });

  it('leave float64 and int32 to the reference kernels (exactly their results)', () => {
    const g = new T.Generator(2);
    const a = T.randn([5, 7], g, 'float64');
    const i = T.tensor([[1, 2, 3], [4, 5, 6]], 'int32');
    const cases = [() => T.add(a, a), () => T.exp(a), () => T.sum(a, 1), () => T.softmax(a), () => T.mul(i, i), () => T.sum(i)];
    for (const c of cases) expect(Array.from(dataOf(c()))).toEqual(Array.from(dataOf(withReference(c))));
  });
});

describe('wasm strided copy', () => {
  it('makes any float32 view in the kernels\' memory row-major, bit for bit (contiguous, clone, reshape)', () => {
    const specials = [NaN, Infinity, -Infinity, -0, 1e-45, 3.4e38];
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 4, maxDim: 9 }).chain((s) => fc.tuple(fc.constant(s), layoutArb(s.length), fc.nat())), ([shape, layout, seed]) => {
        const values = Float32Array.from(randomValues(T.sizeOf(shape), seed), (v, i) => (i % 7 === 3 ? specials[i % specials.length]! : v));
        // The base storage is a result of a fast kernel (so it lies in their memory); the view is taken over it.
        const x = makeTensor(values, shape, 'float32', layout, (b) => T.mul(b, 1));
        // (A reshape copies where the view cannot be reshaped in place, else stays a view: hence contiguous.)
        for (const out of [T.contiguous(x), T.clone(x), T.contiguous(T.reshape(x, [-1]))]) {
          // The oracle is the logical contents themselves, compared as bits (NaN, -0 and all). A view that already
          // was row-major comes back as itself, at its offset.
          expect(T.isContiguous(out.shape, out.strides)).toBe(true);
          expect(bitsOf((out.storage.data as Float32Array).subarray(out.offset, out.offset + values.length)).equals(bitsOf(values))).toBe(true);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('copies transposed views in strips of rows walked down their columns (whole strips and the rows after)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.boolean(), fc.nat(), (n, h, w, flip, seed) => {
        const values = randomValues(n * h * w, seed);
        const x = T.mul(T.tensor(values).reshape(n, h, w), 1);
        const view = flip ? T.flip(T.transpose(x, 1, 2), [1]) : T.transpose(x, 1, 2);
        const got = dataOf(T.contiguous(view));
        // Oracle: element (m, j, i) of the copy is (m, i, j) of x, j counted from the end where flipped.
        for (let m = 0; m < n; m++) for (let j = 0; j < w; j++) for (let i = 0; i < h; i++) {
          expect(got[(m * w + j) * h + i]).toBe(Math.fround(values[(m * h + i) * w + (flip ? w - 1 - j : j)]!));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('copies expanded views too (nearest upsampling, its gradient\'s block sums), like the plain-array path', () => {
    fc.assert(
      fc.property(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })), fc.integer({ min: 1, max: 3 }), fc.nat(), ([n, c, h, w], scale, seed) => {
        const values = randomValues(n * c * h * w, seed);
        const plain = T.tensor(values).reshape(n, c, h, w);
        const inHeap = T.mul(plain, 1);
        const up = T.upsampleNearest2d(inHeap, scale);
        // Oracle: element (i, j) of the upsampled image is (i / scale, j / scale) of the input.
        const got = dataOf(up);
        for (let k = 0; k < got.length; k++) {
          const j = k % (w * scale), i = Math.floor(k / (w * scale)) % (h * scale), nc = Math.floor(k / (w * scale * h * scale));
          expect(got[k]).toBe(Math.fround(values[(nc * h + Math.floor(i / scale)) * w + Math.floor(j / scale)]!));
        }
        // The gradient's block sums: the axes of each block moved last, from the kernels' memory and from a plain array.
        const blocks = (x: T.Tensor) => T.sum(T.reshape(x, [n, c, h, scale, w, scale]), [3, 5]);
        expect(bitsOf(dataOf(blocks(up))).equals(bitsOf(dataOf(blocks(T.tensor(Array.from(got)).reshape(up.shape)))))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('feeds sum, softmax and binary ops the same operands from a view in the kernels\' memory as from a plain array (bitwise)', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 2, maxRank: 4, maxDim: 7 }).chain((s) => fc.tuple(fc.constant(s), layoutArb(s.length), fc.nat(), fc.nat({ max: s.length - 1 }))), ([shape, layout, seed, axis]) => {
        const values = randomValues(T.sizeOf(shape), seed);
        const plain = makeTensor(values, shape, 'float32', layout);
        const inHeap = makeTensor(values, shape, 'float32', layout, (b) => T.mul(b, 1));
        const axes = [axis, ...(axis > 0 ? [0] : [])];
        const fs = [(x: T.Tensor) => T.sum(x, axes), (x: T.Tensor) => T.softmax(x, axis), (x: T.Tensor) => T.logSoftmax(x, axis), (x: T.Tensor) => T.mul(x, x), (x: T.Tensor) => T.sub(x, T.sum(x, [axis], true))];
        for (const f of fs) {
          expect(bitsOf(dataOf(f(inHeap))).equals(bitsOf(dataOf(f(plain))))).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('wasm exp polynomial with and without relaxed-SIMD multiply-add', () => {
  it('keeps exp within 2 ulp on a dense grid, and sigmoid, silu and softmax within their bounds, either way', () => {
    const wasRelaxed = T.cpuKernelsInfo().includes('relaxed');
    // 2^16 points across the whole normal range of exp's results, plus random rows for softmax.
    const grid = T.tensor(Float32Array.from({ length: 1 << 16 }, (_, i) => -103 + (191 * i) / (1 << 16)));
    const g = new T.Generator(4);
    const rows = T.mul(T.randn([40, 301], g), 6);
    try {
      for (const relaxedSimd of [false, true]) {
        T.setCpuKernels('fast', { relaxedSimd });
        expectTol(T.exp(grid), withReference(() => T.exp(grid)), (ref) => 2 * 2 * U * Math.abs(ref) + 2 ** -149);
        for (const op of ['sigmoid', 'silu'] as const) expectTol(T[op](rows), withReference(() => T[op](rows)), (ref) => 4 * 2 * U * Math.abs(ref) + 1e-40);
        expectTol(T.softmax(rows), withReference(() => T.softmax(rows)), ulps(4));
      }
    } finally {
      T.setCpuKernels('fast', { relaxedSimd: wasRelaxed });
    }
  });
});
