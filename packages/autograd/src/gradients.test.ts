/**
 * A gradient check for every entry of the gradient table: the engine's gradients against float64 central
 * differences (src/gradcheck.ts explains the error budget behind its default tolerances), on small random
 * shapes from fast-check, with broadcasting, reduced axes, keepdims, and inputs laid out as non-contiguous views
 * (permuted, strided with an offset, flipped). The loss is sum(op(...) * W) with a random W, so every output
 * element's gradient is checked with its own weight.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abs, add, avgPool2d, avgPool2dBackward, cast, clamp, clone, concat, conv2d, conv2dBackwardInput, conv2dBackwardWeight,
  convGeometry, cos, div, erf, exp, expand, expm1, flip, fromTypedArray, gather, gelu, Generator, log, log1p, logSoftmax,
  matmul, max, maximum, maxPool2d, min, minimum, mul, neg, noGrad, pad, permute, poolGeometry, pow, randn, reciprocal,
  relu, reshape, rsqrt, scatterAdd, sigmoid, silu, sin, slice, softmax, sqrt, square, sub, sum, tanh, where,
  type SliceSpec, type Tensor,
} from '@oclt/tensor';
import {
  contiguous, indexSelect, leakyRelu, logsumexp, mean, split, stack, std, transpose, upsampleNearest2d, variance,
} from '@oclt/tensor';
import { analyticalGradients, checkGradients, LAYOUTS, type CheckInput, type Layout } from './gradcheck.js';
import { gradientTable } from './gradients/index.js';

const NUM_RUNS = 15;
/** Slices have many cases (steps of both signs, empty results, single indices): more runs, each is cheap. */
const RUNS_FOR: Record<string, number> = { slice: 60 };

interface Case {
  inputs: CheckInput[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Looser tolerances for ops whose forward pass is not float64 (see the spec that sets it). */
  tol?: { h: number; atol: number; rtol: number };
}

// ---- arbitraries --------------------------------------------------------------------------------------------

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom(...LAYOUTS);
const shapeArb = (minRank: number, maxRank: number, maxDim = 4) => fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

function normals(shape: readonly number[], seed: number, transform: (x: number) => number = (x) => x): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = randn([n], new Generator(seed), 'float64').toTypedArray() as Float64Array;
  return t.map(transform);
}

const positive = (x: number) => Math.abs(x) + 0.5;
const awayFromZero = (x: number) => Math.sign(x || 1) * (Math.abs(x) + 0.5);

/** One input of `shape` with random values and a random memory layout. */
const inputArb = (shape: readonly number[], transform?: (x: number) => number): fc.Arbitrary<CheckInput> =>
  fc.tuple(seedArb, layoutArb).map(([seed, layout]) => ({ values: normals(shape, seed, transform), shape, layout }));

/** A shape that broadcasts to `out`: some leading axes dropped, some axes set to 1. */
const broadcastOf = (out: readonly number[]) =>
  fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(([drop, ones]) =>
    out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
  );

const unaryCase = (f: (x: Tensor) => Tensor, transform?: (x: number) => number): fc.Arbitrary<Case> =>
  shapeArb(0, 3).chain((shape) => inputArb(shape, transform)).map((x) => ({ inputs: [x], fn: f }));

const binaryCase = (f: (a: Tensor, b: Tensor) => Tensor, ta?: (x: number) => number, tb?: (x: number) => number): fc.Arbitrary<Case> =>
  shapeArb(0, 3)
    .chain((out) => fc.tuple(broadcastOf(out), broadcastOf(out)))
    .chain(([sa, sb]) => fc.tuple(inputArb(sa, ta), inputArb(sb, tb)))
    .map(([a, b]) => ({ inputs: [a, b], fn: f }));

/** A subset of axes (undefined = all) and keepdims, for reductions over `shape`. */
const reductionCase = (f: (x: Tensor, axes: number[] | undefined, keepdims: boolean) => Tensor, minDim = 1): fc.Arbitrary<Case> =>
  fc.array(fc.integer({ min: minDim, max: 4 }), { minLength: 1, maxLength: 3 })
    .chain((shape) => fc.tuple(inputArb(shape), fc.option(fc.subarray([...shape.keys()], { minLength: 1 }), { nil: undefined }), fc.boolean()))
    .map(([x, axes, keepdims]) => ({ inputs: [x], fn: (t: Tensor) => f(t, axes, keepdims) }));

const axisCase = (f: (x: Tensor, axis: number) => Tensor): fc.Arbitrary<Case> =>
  shapeArb(1, 3)
    .chain((shape) => fc.tuple(inputArb(shape), fc.integer({ min: -shape.length, max: shape.length - 1 })))
    .map(([x, axis]) => ({ inputs: [x], fn: (t: Tensor) => f(t, axis) }));

const int32 = (values: number[], shape: readonly number[]) => fromTypedArray(Int32Array.from(values), shape);

interface ConvSetup {
  xShape: number[];
  wShape: number[];
  opts: { stride: number; padding: number; dilation: number; groups: number };
  bias: boolean;
}

const convArb: fc.Arbitrary<ConvSetup> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 2 }),
    cPer: fc.integer({ min: 1, max: 2 }),
    oPer: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 3, max: 6 }),
    w: fc.integer({ min: 3, max: 6 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 2 }),
    padding: fc.integer({ min: 0, max: 1 }),
    dilation: fc.integer({ min: 1, max: 2 }),
    bias: fc.boolean(),
  })
  .filter((p) => p.h + 2 * p.padding >= p.dilation * (p.kh - 1) + 1 && p.w + 2 * p.padding >= p.dilation * (p.kw - 1) + 1)
  .map((p) => ({
    xShape: [p.n, p.groups * p.cPer, p.h, p.w],
    wShape: [p.groups * p.oPer, p.cPer, p.kh, p.kw],
    opts: { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups },
    bias: p.bias,
  }));

const poolArb = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 2, max: 6 }),
    w: fc.integer({ min: 2, max: 6 }),
    k: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 3 }),
    padFrac: fc.boolean(),
  })
  .map((p) => ({ ...p, padding: p.padFrac ? Math.floor(p.k / 2) : 0 }))
  .filter((p) => p.h + 2 * p.padding >= p.k && p.w + 2 * p.padding >= p.k)
  .map((p) => ({ shape: [p.n, p.c, p.h, p.w], opts: { kernel: p.k, stride: p.stride, padding: p.padding } }));

// ---- one spec per gradient-table entry ----------------------------------------------------------------------

const specs: Record<string, fc.Arbitrary<Case>> = {
  neg: unaryCase(neg),
  // abs, relu: kinks at 0; a float64 normal lands within h = 1e-6 of 0 with probability ~1e-6.
  abs: unaryCase(abs),
  square: unaryCase(square),
  relu: unaryCase(relu),
  exp: unaryCase(exp),
  log: unaryCase(log, positive),
  sqrt: unaryCase(sqrt, positive),
  rsqrt: unaryCase(rsqrt, positive),
  reciprocal: unaryCase(reciprocal, awayFromZero),
  sin: unaryCase(sin),
  cos: unaryCase(cos),
  tanh: unaryCase(tanh),
  sigmoid: unaryCase(sigmoid),
  silu: unaryCase(silu),
  gelu: unaryCase(gelu),
  log1p: unaryCase(log1p, positive),
  expm1: unaryCase(expm1),
  erf: unaryCase(erf),

  add: binaryCase(add),
  sub: binaryCase(sub),
  mul: binaryCase(mul),
  div: binaryCase(div, undefined, awayFromZero),
  // A positive base, so that both the base and the exponent gradients are real.
  pow: binaryCase(pow, positive),
  maximum: binaryCase(maximum),
  minimum: binaryCase(minimum),

  clamp: fc
    .tuple(shapeArb(0, 3), fc.constantFrom(null, -0.5), fc.constantFrom(null, 0.7))
    .chain(([shape, lo, hi]) => inputArb(shape).map((x) => ({ inputs: [x], fn: (t: Tensor) => clamp(t, lo, hi) }))),
  where: shapeArb(0, 3)
    .chain((out) => fc.tuple(broadcastOf(out), broadcastOf(out), broadcastOf(out), seedArb))
    .chain(([sc, sa, sb, seed]) => fc.tuple(fc.constant(sc), inputArb(sa), inputArb(sb), fc.constant(seed)))
    .map(([sc, a, b, seed]) => {
      const cond = noGrad(() => randn(sc, new Generator(seed), 'float64').gt(0));
      return { inputs: [a, b], fn: (x: Tensor, y: Tensor) => where(cond, x, y) };
    }),
  // float64 -> float32 -> float64: the forward rounds to float32 (relative 6e-8), so the differences use h = 1e-2
  // (rounding error ~ 6e-8 |x| / 1e-2 ~ 1e-5 per weight) and a 1e-3 tolerance; a missing or wrong cast still fails.
  cast: unaryCase((x) => cast(cast(x, 'float32'), 'float64')).map((c) => ({ ...c, tol: { h: 1e-2, atol: 1e-3, rtol: 1e-3 } })),

  sum: reductionCase((x, axes, keepdims) => sum(x, axes, keepdims)),
  // Random normals have no ties, so max/min are differentiable at the sampled points.
  max: reductionCase((x, axes, keepdims) => max(x, axes, keepdims)),
  min: reductionCase((x, axes, keepdims) => min(x, axes, keepdims)),
  softmax: axisCase(softmax),
  logSoftmax: axisCase(logSoftmax),

  matmul: fc
    .record({
      m: fc.integer({ min: 1, max: 3 }),
      k: fc.integer({ min: 1, max: 3 }),
      n: fc.integer({ min: 1, max: 3 }),
      batch: shapeArb(0, 2, 3),
      aVector: fc.boolean(),
      bVector: fc.boolean(),
    })
    .chain((p) => fc.tuple(fc.constant(p), broadcastOf(p.batch), broadcastOf(p.batch)))
    .chain(([p, ba, bb]) =>
      fc.tuple(inputArb(p.aVector ? [p.k] : [...ba, p.m, p.k]), inputArb(p.bVector ? [p.k] : [...bb, p.k, p.n])),
    )
    .map(([a, b]) => ({ inputs: [a, b], fn: matmul })),

  conv2d: convArb.chain((s) =>
    fc.tuple(inputArb(s.xShape), inputArb(s.wShape), inputArb([s.wShape[0]!])).map(([x, w, b]) => ({
      inputs: s.bias ? [x, w, b] : [x, w],
      fn: (xt: Tensor, wt: Tensor, bt?: Tensor) => conv2d(xt, wt, bt ?? null, s.opts),
    })),
  ),
  conv2dBackwardInput: convArb.chain((s) => {
    const geo = convGeometry('test', s.xShape, s.wShape, s.opts);
    return fc.tuple(inputArb([geo.n, geo.o, geo.oh, geo.ow]), inputArb(s.wShape)).map(([dy, w]) => ({
      inputs: [dy, w],
      fn: (d: Tensor, wt: Tensor) => conv2dBackwardInput(d, wt, geo),
    }));
  }),
  conv2dBackwardWeight: convArb.chain((s) => {
    const geo = convGeometry('test', s.xShape, s.wShape, s.opts);
    return fc.tuple(inputArb(s.xShape), inputArb([geo.n, geo.o, geo.oh, geo.ow])).map(([x, dy]) => ({
      inputs: [x, dy],
      fn: (xt: Tensor, d: Tensor) => conv2dBackwardWeight(xt, d, geo),
    }));
  }),
  maxPool2d: poolArb.chain((p) => inputArb(p.shape).map((x) => ({ inputs: [x], fn: (t: Tensor) => maxPool2d(t, p.opts) }))),
  avgPool2d: poolArb.chain((p) => inputArb(p.shape).map((x) => ({ inputs: [x], fn: (t: Tensor) => avgPool2d(t, p.opts) }))),
  avgPool2dBackward: poolArb.chain((p) => {
    const geo = poolGeometry('test', p.shape, p.opts);
    return inputArb([geo.n, geo.c, geo.oh, geo.ow]).map((dy) => ({ inputs: [dy], fn: (d: Tensor) => avgPool2dBackward(d, geo) }));
  }),

  reshape: shapeArb(0, 3)
    .chain((shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return fc.tuple(inputArb(shape), fc.constantFrom([size], [1, size], [...shape].reverse(), [...shape, 1]));
    })
    .map(([x, target]) => ({ inputs: [x], fn: (t: Tensor) => reshape(t, target) })),
  permute: shapeArb(1, 4, 3)
    .chain((shape) => fc.tuple(inputArb(shape), fc.shuffledSubarray([...shape.keys()], { minLength: shape.length, maxLength: shape.length })))
    .map(([x, axes]) => ({ inputs: [x], fn: (t: Tensor) => permute(t, axes) })),
  expand: shapeArb(0, 3)
    .chain((out) => fc.tuple(fc.constant(out), broadcastOf(out)))
    .chain(([out, small]) => fc.tuple(fc.constant(out), inputArb(small)))
    .map(([out, x]) => ({ inputs: [x], fn: (t: Tensor) => expand(t, out) })),
  slice: shapeArb(1, 3, 5)
    .chain((shape) =>
      fc.tuple(
        inputArb(shape),
        fc.tuple(
          ...shape.map((d) =>
            fc.oneof(
              fc.constant(null),
              fc.integer({ min: -d, max: d - 1 }),
              fc.tuple(fc.integer({ min: -d - 1, max: d + 1 }), fc.integer({ min: -d - 1, max: d + 1 }), fc.constantFrom(-3, -2, -1, 1, 2, 3)),
              // Random bounds rarely give a long backward slice: also run from a start down to the beginning.
              fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.constant(null), fc.constantFrom(-1, -2)),
            ),
          ),
        ),
      ),
    )
    .map(([x, specs]) => ({ inputs: [x], fn: (t: Tensor) => slice(t, specs as SliceSpec[]) })),
  flip: shapeArb(1, 3)
    .chain((shape) => fc.tuple(inputArb(shape), fc.subarray([...shape.keys()], { minLength: 1 })))
    .map(([x, axes]) => ({ inputs: [x], fn: (t: Tensor) => flip(t, axes) })),
  clone: unaryCase(clone),
  concat: fc
    .tuple(shapeArb(1, 3, 3), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.nat())
    .chain(([shape, sizes, axisSeed]) => {
      const axis = axisSeed % shape.length;
      return fc.tuple(fc.constant(axis), fc.tuple(...sizes.map((s) => inputArb(shape.map((d, i) => (i === axis ? s : d))))));
    })
    .map(([axis, xs]) => ({ inputs: xs, fn: (...ts: Tensor[]) => concat(ts, axis) })),
  pad: shapeArb(1, 3)
    .chain((shape) => fc.tuple(inputArb(shape), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 0, maxLength: shape.length }).map((p) => p.flatMap((v) => [v, (v + 1) % 3]))))
    .map(([x, pads]) => ({ inputs: [x], fn: (t: Tensor) => pad(t, pads, 0.25) })),
  gather: shapeArb(1, 3)
    .chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 })))
    .chain(([shape, axis]) =>
      fc.tuple(
        inputArb(shape),
        fc.constant(axis),
        fc.tuple(...shape.map((d, i) => fc.integer({ min: 1, max: i === axis ? 4 : d }))).chain((ish) =>
          fc.array(fc.integer({ min: 0, max: shape[axis]! - 1 }), { minLength: ish.reduce((a, b) => a * b, 1), maxLength: ish.reduce((a, b) => a * b, 1) }).map((v) => int32(v, ish)),
        ),
      ),
    )
    .map(([x, axis, index]) => ({ inputs: [x], fn: (t: Tensor) => gather(t, axis, index) })),
  scatterAdd: shapeArb(1, 3)
    .chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 })))
    .chain(([shape, axis]) =>
      fc.tuple(fc.constant(shape), fc.constant(axis), fc.tuple(...shape.map((d, i) => fc.integer({ min: 1, max: i === axis ? 4 : d }))), fc.array(fc.nat(1), { minLength: shape.length, maxLength: shape.length })),
    )
    .chain(([shape, axis, ish, extra]) => {
      const srcShape = ish.map((d, i) => d + extra[i]!);
      const count = ish.reduce((a, b) => a * b, 1);
      return fc.tuple(
        inputArb(shape),
        inputArb(srcShape),
        fc.constant(axis),
        fc.array(fc.integer({ min: 0, max: shape[axis]! - 1 }), { minLength: count, maxLength: count }).map((v) => int32(v, ish)),
      );
    })
    .map(([x, src, axis, index]) => ({ inputs: [x, src], fn: (t: Tensor, s: Tensor) => scatterAdd(t, axis, index, s) })),
};

/** sum(op(...) * W) with a fixed random W of the output's shape. */
function weightedLoss(c: Case, seed: number): (...xs: Tensor[]) => Tensor {
  const shape = noGrad(() => c.fn(...c.inputs.map((inp) => fromTypedArray(Float64Array.from(inp.values), inp.shape))).shape);
  const weights = randn(shape, new Generator(seed), 'float64');
  return (...xs) => sum(mul(c.fn(...xs), weights));
}

describe('gradient check against float64 central differences', () => {
  for (const [op, arb] of Object.entries(specs)) {
    it(op, () => {
      fc.assert(
        fc.property(arb, seedArb, (c, seed) => {
          const result = checkGradients(weightedLoss(c, seed), c.inputs, c.tol);
          if (!result.ok) {
            throw new Error(`${op}: worst element ${JSON.stringify(result.worst)} for inputs ${c.inputs.map((i) => `[${i.shape}] ${i.layout}`).join(', ')}`);
          }
        }),
        { numRuns: RUNS_FOR[op] ?? NUM_RUNS },
      );
    });
  }

  it('covers every entry of the gradient table and nothing else', () => {
    expect(Object.keys(specs).sort()).toEqual(Object.keys(gradientTable).sort());
  });
});

/**
 * Ops the tensor core builds from recorded primitives (no table entry of their own): their gradients come from
 * the chain rule through the table, so they are checked the same way, as end-to-end compositions.
 */
const composites: Record<string, fc.Arbitrary<Case>> = {
  mean: reductionCase((x, axes, keepdims) => mean(x, axes, keepdims)),
  variance: reductionCase((x, axes, keepdims) => variance(x, axes, { keepdims, correction: 0 })),
  // sqrt has no derivative at a zero variance (one element per reduction): every axis has at least 2 elements.
  std: reductionCase((x, axes, keepdims) => std(x, axes, { keepdims, correction: 0 }), 2),
  logsumexp: reductionCase((x, axes, keepdims) => logsumexp(x, axes, keepdims)),
  leakyRelu: unaryCase((x) => leakyRelu(x, 0.1)),
  transpose: unaryCase((x) => (x.ndim >= 2 ? transpose(x, 0, -1) : x)),
  contiguous: unaryCase(contiguous),
  upsampleNearest2d: poolArb.chain((p) => inputArb(p.shape).map((x) => ({ inputs: [x], fn: (t: Tensor) => upsampleNearest2d(t, [2, 3]) }))),
  stackSplit: shapeArb(1, 3, 3)
    .chain((shape) => fc.tuple(inputArb(shape), inputArb(shape), fc.integer({ min: 0, max: shape.length })))
    .map(([a, b, axis]) => ({ inputs: [a, b], fn: (x: Tensor, y: Tensor) => split(stack([x, y, x], axis), [1, 2], axis)[1]!.mul(split(stack([y, x, x], axis), [2, 1], axis)[0]!) })),
  indexSelect: shapeArb(1, 3)
    .chain((shape) => fc.tuple(inputArb(shape), fc.integer({ min: 0, max: shape.length - 1 }), fc.array(fc.nat(), { minLength: 1, maxLength: 5 })))
    .map(([x, axis, picks]) => ({ inputs: [x], fn: (t: Tensor) => indexSelect(t, axis, picks.map((v) => v % x.shape[axis]!)) })),
  // A layer-norm-like expression: one input used many times through broadcasting, reductions and division.
  normalize: shapeArb(2, 3)
    .chain((shape) => fc.tuple(inputArb(shape), inputArb([shape[shape.length - 1]!])))
    .map(([x, g]) => ({
      inputs: [x, g],
      fn: (t: Tensor, gain: Tensor) => {
        const centered = sub(t, mean(t, -1, true));
        return div(centered, sqrt(add(variance(t, -1, { keepdims: true, correction: 0 }), 1e-3))).mul(gain);
      },
    })),
};

describe('gradient check of composite ops (chain rule through the table)', () => {
  for (const [name, arb] of Object.entries(composites)) {
    it(name, () => {
      fc.assert(
        fc.property(arb, seedArb, (c, seed) => {
          const result = checkGradients(weightedLoss(c, seed), c.inputs, c.tol);
          if (!result.ok) throw new Error(`${name}: worst element ${JSON.stringify(result.worst)}`);
        }),
        { numRuns: 10 },
      );
    });
  }
});

/**
 * Training runs in float32: the same formulas evaluated on float32 leaves must agree with the float64
 * gradients (which the checks above validated) and come back as float32. Tolerance: inputs are rounded to
 * float32 (relative 6e-8) and every op rounds again; over the few ops of a gradient, with O(1) values, the
 * differences stay near 1e-6, so 1e-4 (1 + |g|) is loose yet catches a float32-only bug.
 */
describe('float32 gradients agree with float64 ones', () => {
  for (const [op, arb] of Object.entries(specs)) {
    it(op, () => {
      fc.assert(
        fc.property(arb, seedArb, (c, seed) => {
          const loss = weightedLoss(c, seed);
          const g64 = analyticalGradients(loss, c.inputs, 'float64');
          const g32 = analyticalGradients(loss, c.inputs, 'float32');
          g64.forEach((g, i) =>
            g.forEach((v, k) => {
              const w = g32[i]![k]!;
              if (!(Math.abs(w - v) <= 1e-4 * (1 + Math.abs(v)))) throw new Error(`${op}: input ${i} element ${k}: float32 ${w}, float64 ${v}`);
            }),
          );
        }),
        { numRuns: 5 },
      );
    });
  }
});
