/**
 * Reductions and softmax. Oracles: float64 reductions over groups built by index arithmetic here, and
 * @tensorflow/tfjs (cpu backend) on random shapes and axes.
 *
 * Tolerances: the cpu kernels accumulate in float64 and round once, so a float32 sum is within one float32 ulp
 * of the float64 sum, plus the rounding of its inputs: |err| <= 2^-23 * sum|x| (atol 1e-6 * sum|x| below).
 * Composite ops (mean, var, logsumexp) chain a few float32 roundings: rtol 1e-5. tfjs accumulates in float32,
 * so against it we allow 1e-5 * sum|x| plus 1e-5 relative.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { argmax, argmin, logSoftmax, logsumexp, max, mean, min, sizeOf, softmax, std, sum, tensor, variance, zeros, type DType, type Tensor } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, loadTf, makeTensor, randomValues, ravel, shapeArb, unravel, valuesOf } from '../test-helpers.js';

/** Groups the elements of a row-major array by their kept-axes index (each group in row-major order). */
function groups(values: number[], shape: number[], axes: number[]): { groups: number[][]; outShape: number[]; keptShape: number[] } {
  const keptShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out: number[][] = Array.from({ length: sizeOf(keptShape) }, () => []);
  values.forEach((v, i) => {
    const idx = unravel(i, shape).map((x, k) => (axes.includes(k) ? 0 : x));
    out[ravel(idx, keptShape)]!.push(v);
  });
  return { groups: out, outShape: shape.filter((_, i) => !axes.includes(i)), keptShape };
}

const f64sum = (g: number[]) => g.reduce((a, b) => a + b, 0);
const f64mean = (g: number[]) => f64sum(g) / g.length;
const f64var = (g: number[], correction: number) => {
  const m = f64mean(g);
  return g.reduce((a, x) => a + (x - m) * (x - m), 0) / (g.length - correction);
};
const f64max = (g: number[]) => (g.some(Number.isNaN) ? NaN : Math.max(...g));
const f64min = (g: number[]) => (g.some(Number.isNaN) ? NaN : Math.min(...g));
const f64lse = (g: number[]) => {
  const m = Math.max(...g);
  return m + Math.log(g.reduce((a, x) => a + Math.exp(x - m), 0));
};

/** A shape, a subset of its axes (as a list with possibly negative entries, or undefined = all), and a layout. */
const reduceCaseArb = shapeArb({ minRank: 1, maxRank: 4, maxDim: 4 }).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    axes: fc.option(fc.subarray([...shape.keys()], { minLength: 1 }), { nil: undefined }),
    negate: fc.boolean(),
    keepdims: fc.boolean(),
    layout: layoutArb(shape.length),
    seed: fc.nat(),
    dtype: fc.constantFrom<DType>('float32', 'float64', 'int32'),
  }),
);

function axesOf(c: { shape: number[]; axes?: number[] }): number[] {
  return c.axes ?? [...c.shape.keys()];
}
function argAxes(c: { shape: number[]; axes?: number[]; negate: boolean }): number[] | undefined {
  return c.axes && (c.negate ? c.axes.map((a) => a - c.shape.length) : c.axes);
}

describe('sum / mean / max / min / var / std / logsumexp against float64 references', () => {
  const run = (name: string, op: (t: Tensor, axes: number[] | undefined, keepdims: boolean) => Tensor, ref: (g: number[]) => number, outDtype: (dt: DType) => DType, tol: (g: number[], dt: DType) => { rtol: number; atol: number }) => {
    it(name, () => {
      fc.assert(
        fc.property(reduceCaseArb, (c) => {
          const values = randomValues(sizeOf(c.shape), c.seed, c.dtype);
          const t = makeTensor(values, c.shape, c.dtype, c.layout);
          const out = op(t, argAxes(c), c.keepdims);
          const g = groups(values, c.shape, axesOf(c));
          expect(out.dtype).toBe(outDtype(c.dtype));
          const got = valuesOf(out);
          expect([...out.shape]).toEqual(c.keepdims ? g.keptShape : g.outShape);
          g.groups.forEach((grp, i) => {
            const want = ref(grp);
            const { rtol, atol } = tol(grp, c.dtype);
            if (!(Math.abs(got[i]! - want) <= atol + rtol * Math.abs(want))) throw new Error(`${name}: group ${i} got ${got[i]}, expected ${want}`);
          });
        }),
        FC,
      );
    });
  };
  const absSum = (g: number[]) => g.reduce((a, x) => a + Math.abs(x), 0);
  const floatOut = (dt: DType): DType => (dt === 'float64' ? 'float64' : 'float32');
  const sumTol = (g: number[], dt: DType) => (dt === 'float64' ? { rtol: 1e-14, atol: 1e-14 * absSum(g) } : { rtol: 0, atol: 1e-6 * absSum(g) });
  const compTol = (g: number[], dt: DType) => (dt === 'float64' ? { rtol: 1e-12, atol: 1e-12 * (1 + absSum(g)) } : { rtol: 1e-5, atol: 1e-5 * (1 + absSum(g) / g.length) });

  run('sum', (t, a, k) => sum(t, a, k), f64sum, (dt) => (dt === 'float64' ? 'float64' : dt === 'float32' ? 'float32' : 'int32'), sumTol);
  run('mean', (t, a, k) => mean(t, a, k), f64mean, floatOut, compTol);
  run('max', (t, a, k) => max(t, a, k), f64max, (dt) => dt, () => ({ rtol: 0, atol: 0 }));
  run('min', (t, a, k) => min(t, a, k), f64min, (dt) => dt, () => ({ rtol: 0, atol: 0 }));
  run('logsumexp', (t, a, k) => logsumexp(t, a, k), f64lse, floatOut, compTol);
  // var/std need more than one element per group (correction 1): groups of one element give a clear error below.
  run('var (correction 0)', (t, a, k) => variance(t, a, { correction: 0, keepdims: k }), (g) => f64var(g, 0), floatOut, compTol);
  run('std (correction 0)', (t, a, k) => std(t, a, { correction: 0, keepdims: k }), (g) => Math.sqrt(f64var(g, 0)), floatOut, (g, dt) => ({ rtol: 0, atol: Math.sqrt(compTol(g, dt).atol) })); // |sqrt(a) - sqrt(b)| <= sqrt(|a - b|)

  it('var uses Bessel correction by default and rejects too few elements', () => {
    const x = tensor([[1, 2, 4], [0, 0, 3]], 'float64');
    expectClose(variance(x, 1), [f64var([1, 2, 4], 1), f64var([0, 0, 3], 1)], [2], { rtol: 1e-15 });
    expectClose(std(x, 0, { keepdims: true }), [0, 1, 2].map((j) => Math.sqrt(f64var([[1, 2, 4][j]!, [0, 0, 3][j]!], 1))), [1, 3], { rtol: 1e-15 });
    expectOpError(() => variance(tensor([1, 2]), 0, { correction: 2 }), 'var', 'more than 2');
    expectOpError(() => variance(tensor([[1], [2]]), 1), 'var');
  });
});

describe('argmax / argmin', () => {
  it('give the first index of the extremum along an axis (ties broken by order), int32', () => {
    fc.assert(
      fc.property(reduceCaseArb, fc.nat(), (c, k) => {
        const axis = k % c.shape.length;
        const values = randomValues(sizeOf(c.shape), c.seed, c.dtype);
        const t = makeTensor(values, c.shape, c.dtype, c.layout);
        const g = groups(values, c.shape, [axis]);
        for (const [op, pick] of [[argmax, Math.max], [argmin, Math.min]] as const) {
          const out = op(t, c.negate ? axis - c.shape.length : axis, c.keepdims);
          expect(out.dtype).toBe('int32');
          expectClose(out, g.groups.map((grp) => grp.indexOf(pick(...grp))), c.keepdims ? g.keptShape : g.outShape);
        }
        // No axis: the flat row-major index.
        const flat = argmax(t);
        expect(flat.shape).toEqual([]);
        expect(flat.item()).toBe(values.indexOf(Math.max(...values)));
      }),
      FC,
    );
  });

  it('treat NaN as the extremum (first NaN wins)', () => {
    const x = tensor([[1, NaN, 3, NaN], [2, 5, 5, 1]], 'float32');
    expect(argmax(x, 1).toArray()).toEqual([1, 1]);
    expect(argmin(x, 1).toArray()).toEqual([1, 3]);
    expect(argmax(x, 1, true).shape).toEqual([2, 1]);
    expect(argmax(x, undefined, true).shape).toEqual([1, 1]);
  });
});

describe('special values and empty reductions', () => {
  it('max / min propagate NaN; sum of an empty axis is 0; max of an empty axis is an error', () => {
    expectClose(max(tensor([[1, NaN], [2, 3]]), 1), [NaN, 3], [2]);
    expectClose(min(tensor([[NaN, 1], [2, 3]]), 1), [NaN, 2], [2]);
    expectClose(sum(zeros([2, 0]), 1), [0, 0], [2]);
    expectOpError(() => max(zeros([2, 0]), 1), 'max', 'size 0');
    expectOpError(() => min(zeros([0])), 'min', 'size 0');
    expectOpError(() => mean(zeros([0])), 'mean', 'zero elements');
    expectOpError(() => argmax(zeros([3, 0]), 1), 'argmax', 'size 0');
    expectOpError(() => argmax(zeros([0])), 'argmax', 'empty');
  });

  it('logsumexp handles infinities like log(sum(exp(x)))', () => {
    expectClose(logsumexp(tensor([-Infinity, -Infinity], 'float64')), [-Infinity], []);
    expectClose(logsumexp(tensor([Infinity, 1], 'float64')), [Infinity], []);
    expectClose(logsumexp(tensor([-Infinity, 0], 'float64')), [0], []);
    // Large values do not overflow (the max is subtracted first).
    expectClose(logsumexp(tensor([1000, 1000], 'float64')), [1000 + Math.LN2], [], { rtol: 1e-15 });
    expectClose(logsumexp(tensor([1000, 1000], 'float32')), [1000 + Math.LN2], [], { rtol: 1e-7 });
    expectClose(logsumexp(tensor([[Infinity, 1], [-Infinity, -Infinity]], 'float32'), 1), [Infinity, -Infinity], [2]);
  });

  it('sums of int32 and bool give int32; float32 accumulates in float64', () => {
    expect(sum(tensor([true, true, false])).dtype).toBe('int32');
    expect(sum(tensor([true, true, false])).item()).toBe(2);
    expect(sum(tensor([1, 2], 'int32')).dtype).toBe('int32');
    // 2^24 + 1 + 1 - 2^24 is 2 in float64 accumulation but 0 with a float32 accumulator.
    expect(sum(tensor([16777216, 1, 1, -16777216], 'float32')).item()).toBe(2);
    expect(mean(tensor([1, 2], 'int32')).dtype).toBe('float32');
  });

  it('rejects bad axes naming the op', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 0, maxRank: 3 }), fc.integer({ min: 0, max: 3 }), (shape, extra) => {
        const t = zeros(shape);
        const bad = shape.length + extra;
        for (const [name, f] of [
          ['sum', () => sum(t, bad)],
          ['max', () => max(t, [-bad - 1])],
          ['mean', () => mean(t, bad)],
          ['argmax', () => argmax(t, bad)],
          ['softmax', () => softmax(t, bad)],
          ['logsumexp', () => logsumexp(t, bad)],
        ] as const) {
          expectOpError(f, name, `axis`, `rank ${shape.length}`);
        }
        if (shape.length >= 1) expectOpError(() => sum(t, [0, -shape.length]), 'sum', 'repeated axis');
      }),
      { numRuns: 25 },
    );
  });
});

describe('softmax / logSoftmax', () => {
  it('match the float64 formula along any axis of any layout', () => {
    fc.assert(
      fc.property(reduceCaseArb, fc.nat(), (c, k) => {
        const axis = k % c.shape.length;
        const dtype = c.dtype === 'int32' ? 'float32' : c.dtype;
        const values = randomValues(sizeOf(c.shape), c.seed, dtype).map((v) => v * 3);
        const t = makeTensor(values.map((v) => v), c.shape, dtype, c.layout);
        const exact = valuesOf(makeTensor(values, c.shape, dtype)); // the values as stored
        const sm = softmax(t, axis);
        const lsm = logSoftmax(t, c.negate ? axis - c.shape.length : axis);
        expect(sm.dtype).toBe(dtype);
        const expSm: number[] = new Array(exact.length);
        const expLsm: number[] = new Array(exact.length);
        exact.forEach((_, i) => {
          const idx = unravel(i, c.shape);
          const row = Array.from({ length: c.shape[axis]! }, (_, j) => exact[ravel(idx.map((x, d) => (d === axis ? j : x)), c.shape)]!);
          const lse = f64lse(row);
          expLsm[i] = exact[i]! - lse;
          expSm[i] = Math.exp(expLsm[i]!);
        });
        const tol = dtype === 'float64' ? { rtol: 1e-12, atol: 1e-15 } : { rtol: 1e-6, atol: 1e-7 };
        expectClose(sm, expSm, c.shape, tol);
        expectClose(lsm, expLsm, c.shape, dtype === 'float64' ? tol : { rtol: 1e-6, atol: 1e-5 });
      }),
      FC,
    );
  });

  it('are stable for large inputs and give 0 probability to -Infinity', () => {
    expectClose(softmax(tensor([1000, 1000, -Infinity], 'float64')), [0.5, 0.5, 0], [3]);
    expectClose(logSoftmax(tensor([1000, 1000, -Infinity], 'float64')), [-Math.LN2, -Math.LN2, -Infinity], [3], { rtol: 1e-15 });
    expectClose(softmax(tensor([[1000, 1000, -Infinity], [-1000, -1000, -1000]], 'float32'), 1), [0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3], [2, 3], { rtol: 1e-6 });
    // float32: the fast kernel subtracts one float32-rounded shift (max + log sum), so its error can reach half an
    // ulp of |max| (3e-5 at 1000); the reference kernel computes (x - max) - log(sum) and is within 1e-7 here.
    expectClose(logSoftmax(tensor([1000, 1000, -Infinity], 'float32')), [-Math.LN2, -Math.LN2, -Infinity], [3], { rtol: 1e-6, atol: 2 ** -24 * 1001 });
    expect(softmax(tensor([1, 2], 'int32')).dtype).toBe('float32');
  });
});

describe('against tfjs (cpu backend) on random shapes', () => {
  let tf: Awaited<ReturnType<typeof loadTf>>;
  beforeAll(async () => {
    tf = await loadTf();
  });

  it('sum, mean, max, min, logSumExp, moments (variance), argMax, softmax', () => {
    fc.assert(
      fc.property(reduceCaseArb, fc.nat(), (c, k) => {
        const values = randomValues(sizeOf(c.shape), c.seed, 'float32');
        const t = makeTensor(values, c.shape, 'float32', c.layout);
        const x = tf.tensor(values, c.shape, 'float32');
        const axes = axesOf(c);
        const absSum = values.reduce((a, v) => a + Math.abs(v), 1);
        const tol = { rtol: 1e-5, atol: 1e-5 * absSum };
        const cmp = (ours: Tensor, theirs: import('@tensorflow/tfjs').Tensor) => {
          expectClose(ours, theirs.dataSync() as Float32Array, theirs.shape, tol);
          theirs.dispose();
        };
        cmp(sum(t, axes, c.keepdims), tf.sum(x, axes, c.keepdims));
        cmp(mean(t, axes, c.keepdims), tf.mean(x, axes, c.keepdims));
        cmp(max(t, axes, c.keepdims), tf.max(x, axes, c.keepdims));
        cmp(min(t, axes, c.keepdims), tf.min(x, axes, c.keepdims));
        cmp(logsumexp(t, axes, c.keepdims), tf.logSumExp(x, axes, c.keepdims));
        cmp(variance(t, axes, { correction: 0, keepdims: c.keepdims }), tf.moments(x, axes, c.keepdims).variance);
        const axis = k % c.shape.length;
        cmp(argmax(t, axis), tf.argMax(x, axis));
        // tfjs softmax works on the last axis: move ours there.
        const perm = [...c.shape.keys()].filter((d) => d !== axis).concat(axis);
        cmp(softmax(t, axis).permute(perm), tf.softmax(tf.transpose(x, perm)));
        x.dispose();
      }),
      { numRuns: 30 },
    );
  });
});
