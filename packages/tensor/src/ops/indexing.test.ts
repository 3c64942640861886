/**
 * gather / indexSelect / scatterAdd. Oracle: PyTorch's defining formulas written as loops over plain arrays
 * (out[i][j][k] = x[i][index[i][j][k]][k] for axis 1, and the += form for scatterAdd).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gather, indexSelect, scatterAdd, sizeOf, tensor, zeros } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, makeTensor, randomValues, ravel, shapeArb, testRng, unravel } from '../test-helpers.js';

/** x's shape, an axis, an index shape (each non-axis dim at most x's), index values in [-dim, dim). */
const gatherCaseArb = shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }).chain((xShape) =>
  fc.record({
    xShape: fc.constant(xShape),
    axis: fc.nat({ max: xShape.length - 1 }),
    shrink: fc.array(fc.nat({ max: 3 }), { minLength: xShape.length, maxLength: xShape.length }),
    axisLen: fc.integer({ min: 1, max: 5 }),
    seed: fc.nat(),
    lx: layoutArb(xShape.length),
    li: layoutArb(xShape.length),
    negative: fc.boolean(),
  }),
);

function indexValues(n: number, dim: number, seed: number, negative: boolean): number[] {
  const r = testRng(seed);
  return Array.from({ length: n }, () => {
    const k = Math.floor(r() * dim);
    return negative && r() < 0.5 ? k - dim : k;
  });
}

describe('gather', () => {
  it('out[..., j, ...] = x[..., index[..., j, ...], ...] on any layouts (negative indices count from the end)', () => {
    fc.assert(
      fc.property(gatherCaseArb, (c) => {
        const iShape = c.xShape.map((d, i) => (i === c.axis ? c.axisLen : Math.max(1, d - c.shrink[i]!)));
        const xv = randomValues(sizeOf(c.xShape), c.seed, 'float32');
        const iv = indexValues(sizeOf(iShape), c.xShape[c.axis]!, c.seed + 1, c.negative);
        const out = gather(makeTensor(xv, c.xShape, 'float32', c.lx), c.axis, makeTensor(iv, iShape, 'int32', c.li));
        const expected = iv.map((k, i) => {
          const idx = unravel(i, iShape);
          idx[c.axis] = k < 0 ? k + c.xShape[c.axis]! : k;
          return xv[ravel(idx, c.xShape)]!;
        });
        expect(out.dtype).toBe('float32');
        expectClose(out, expected, iShape);
      }),
      FC,
    );
  });

  it('rejects out-of-range indices, wrong dtypes and ranks, naming the op', () => {
    fc.assert(
      fc.property(gatherCaseArb, fc.integer({ min: 0, max: 3 }), fc.boolean(), (c, over, below) => {
        const dim = c.xShape[c.axis]!;
        const bad = below ? -dim - 1 - over : dim + over;
        const iShape = c.xShape.map((d, i) => (i === c.axis ? 1 : d));
        const iv = new Array<number>(sizeOf(iShape)).fill(0);
        iv[iv.length - 1] = bad;
        expectOpError(() => gather(zeros(c.xShape), c.axis, makeTensor(iv, iShape, 'int32')), 'gather', `index ${bad}`, `size ${dim}`);
      }),
      { numRuns: 25 },
    );
    expectOpError(() => gather(zeros([2, 3]), 1, tensor([[0]])), 'gather', 'int32', 'float32');
    expectOpError(() => gather(zeros([2, 3]), 1, tensor([0], 'int32')), 'gather', 'rank');
    expectOpError(() => gather(zeros([2, 3]), 2, tensor([[0]], 'int32')), 'gather', 'axis 2');
    expectOpError(() => gather(zeros([2, 3]), 1, zeros([3, 1], 'int32')), 'gather', '[3, 1]', '[2, 3]');
  });
});

describe('indexSelect', () => {
  it('selects whole slices along an axis in index order (repeats allowed)', () => {
    fc.assert(
      fc.property(gatherCaseArb, (c) => {
        const dim = c.xShape[c.axis]!;
        const iv = indexValues(c.axisLen, dim, c.seed + 1, false);
        const xv = randomValues(sizeOf(c.xShape), c.seed, 'int32');
        const x = makeTensor(xv, c.xShape, 'int32', c.lx);
        const outShape = c.xShape.map((d, i) => (i === c.axis ? iv.length : d));
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => {
          const idx = unravel(i, outShape);
          idx[c.axis] = iv[idx[c.axis]!]!;
          return xv[ravel(idx, c.xShape)]!;
        });
        expectClose(indexSelect(x, c.axis, iv), expected, outShape);
        expectClose(indexSelect(x, c.axis - c.xShape.length, tensor(iv, 'int32')), expected, outShape);
      }),
      FC,
    );
  });

  it('rejects bad indices naming indexSelect', () => {
    expectOpError(() => indexSelect(zeros([3]), 0, [5]), 'indexSelect', 'index 5', 'size 3');
    expectOpError(() => indexSelect(zeros([3]), 0, tensor([[0]], 'int32')), 'indexSelect', '1-D');
    expectOpError(() => indexSelect(zeros([3]), 1, [0]), 'indexSelect', 'axis 1');
  });
});

describe('scatterAdd', () => {
  it('adds src into a copy of x at the indexed positions (duplicates accumulate); x is not modified', () => {
    fc.assert(
      fc.property(gatherCaseArb, (c) => {
        const iShape = c.xShape.map((d, i) => (i === c.axis ? c.axisLen : Math.max(1, d - c.shrink[i]!)));
        const sShape = iShape.map((d, i) => d + (c.shrink[i]! % 2)); // src may be larger than index
        const xv = randomValues(sizeOf(c.xShape), c.seed, 'float64');
        const sv = randomValues(sizeOf(sShape), c.seed + 2, 'float64');
        const iv = indexValues(sizeOf(iShape), c.xShape[c.axis]!, c.seed + 1, c.negative);
        const x = makeTensor(xv, c.xShape, 'float64', c.lx);
        const out = scatterAdd(x, c.axis, makeTensor(iv, iShape, 'int32', c.li), makeTensor(sv, sShape, 'float64'));
        const expected = [...xv];
        iv.forEach((k, i) => {
          const idx = unravel(i, iShape);
          const srcVal = sv[ravel(idx, sShape)]!;
          idx[c.axis] = k < 0 ? k + c.xShape[c.axis]! : k;
          expected[ravel(idx, c.xShape)] += srcVal;
        });
        expectClose(out, expected, c.xShape, { rtol: 1e-14, atol: 1e-14 });
        expectClose(x, xv, c.xShape);
      }),
      FC,
    );
  });

  it('promotes dtypes; bool counts add up as int32', () => {
    expect(scatterAdd(zeros([2], 'int32'), 0, tensor([1, 1], 'int32'), tensor([0.5, 0.25])).toArray()).toEqual([0, 0.75]);
    const counts = scatterAdd(tensor([false, false]), 0, tensor([0, 0, 1], 'int32'), tensor([true, true, true]));
    expect(counts.dtype).toBe('int32');
    expect(counts.toArray()).toEqual([2, 1]);
  });

  it('rejects mismatched ranks, oversize index and out-of-range values', () => {
    expectOpError(() => scatterAdd(zeros([3]), 0, tensor([[0]], 'int32'), zeros([1, 1])), 'scatterAdd', 'same rank');
    expectOpError(() => scatterAdd(zeros([3, 2]), 0, zeros([1, 3], 'int32'), zeros([1, 3])), 'scatterAdd', '[1, 3]', '[3, 2]');
    expectOpError(() => scatterAdd(zeros([3]), 0, tensor([3], 'int32'), zeros([1])), 'scatterAdd', 'index 3');
    expectOpError(() => scatterAdd(zeros([3]), 0, tensor([0]), zeros([1])), 'scatterAdd', 'int32');
  });
});
