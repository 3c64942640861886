/**
 * concat / stack / split / pad. Oracle: where each output element comes from, computed by index arithmetic
 * over plain arrays (which piece and which offset along the joined axis; padding = outside the copied box).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat, pad, sizeOf, split, stack, tensor, zeros, type DType } from '../index.js';
import { expectClose, expectOpError, FC, layoutArb, makeTensor, randomValues, ravel, shapeArb, unravel, valuesOf } from '../test-helpers.js';

const joinCaseArb = shapeArb({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 3 }).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    axis: fc.nat({ max: shape.length - 1 }),
    sizes: fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 4 }),
    dtypes: fc.array(fc.constantFrom<DType>('float32', 'float64', 'int32', 'bool'), { minLength: 4, maxLength: 4 }),
    layouts: fc.array(layoutArb(shape.length), { minLength: 4, maxLength: 4 }),
    seed: fc.nat(),
  }),
);

describe('concat', () => {
  it('places piece p at its running offset along the axis; promotes dtypes; reads any layout', () => {
    fc.assert(
      fc.property(joinCaseArb, (c) => {
        const shapes = c.sizes.map((s) => c.shape.map((d, i) => (i === c.axis ? s : d)));
        const vals = shapes.map((s, p) => randomValues(sizeOf(s), c.seed + p, c.dtypes[p]!));
        const parts = shapes.map((s, p) => makeTensor(vals[p]!, s, c.dtypes[p]!, c.layouts[p]!));
        const out = concat(parts, c.axis - (c.seed % 2) * c.shape.length);
        const order: DType[] = ['bool', 'int32', 'float32', 'float64'];
        const dt = c.sizes.length === 1 ? c.dtypes[0]! : order[Math.max(...c.dtypes.slice(0, c.sizes.length).map((d) => order.indexOf(d)))]!;
        expect(out.dtype).toBe(dt);
        const outShape = c.shape.map((d, i) => (i === c.axis ? c.sizes.reduce((a, b) => a + b, 0) : d));
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => {
          const idx = unravel(i, outShape);
          let k = idx[c.axis]!;
          let p = 0;
          while (k >= c.sizes[p]!) k -= c.sizes[p++]!;
          idx[c.axis] = k;
          return vals[p]![ravel(idx, shapes[p]!)]!;
        });
        expectClose(out, expected, outShape);
      }),
      FC,
    );
  });

  it('rejects empty lists, rank or shape mismatches, 0-d tensors and bad axes', () => {
    expectOpError(() => concat([]), 'concat', 'non-empty');
    expectOpError(() => concat([zeros([2, 3]), zeros([2, 4])], 0), 'concat', '[2, 3]', '[2, 4]', 'axis 0');
    expectOpError(() => concat([zeros([2, 3]), zeros([3])], 0), 'concat', '[2, 3]', '[3]');
    expectOpError(() => concat([zeros([]), zeros([])]), 'concat', 'rank 0');
    expectOpError(() => concat([zeros([2]), zeros([2])], 1), 'concat', 'axis 1');
    expectOpError(() => concat([zeros([2]), [1] as never]), 'concat', 'Tensor');
  });
});

describe('stack', () => {
  it('inserts a new axis: out[.., p, ..] = tensors[p]', () => {
    fc.assert(
      fc.property(joinCaseArb, fc.nat(), (c, k) => {
        const n = c.sizes.length;
        const axis = k % (c.shape.length + 1);
        const vals = c.sizes.map((_, p) => randomValues(sizeOf(c.shape), c.seed + p, 'float32'));
        const out = stack(vals.map((v, p) => makeTensor(v, c.shape, 'float32', c.layouts[p]!)), axis);
        const outShape = [...c.shape.slice(0, axis), n, ...c.shape.slice(axis)];
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => {
          const idx = unravel(i, outShape);
          const [p] = idx.splice(axis, 1);
          return vals[p!]![ravel(idx, c.shape)]!;
        });
        expectClose(out, expected, outShape);
      }),
      FC,
    );
    expectOpError(() => stack([zeros([2]), zeros([3])]), 'stack', '[2]', '[3]');
    expectOpError(() => stack([zeros([2])], 2), 'stack', 'axis 2');
    expectOpError(() => stack([]), 'stack', 'non-empty');
  });
});

describe('split', () => {
  it('cuts views of the given sizes (or equal chunks, the last smaller) that concat back to the input', () => {
    fc.assert(
      fc.property(joinCaseArb, fc.integer({ min: 1, max: 4 }), (c, chunk) => {
        const shape = c.shape.map((d, i) => (i === c.axis ? c.sizes.reduce((a, b) => a + b, 0) : d));
        const values = randomValues(sizeOf(shape), c.seed, 'float32');
        const t = makeTensor(values, shape, 'float32', c.layouts[0]!);
        const pieces = split(t, c.sizes, c.axis);
        expect(pieces.map((p) => p.shape[c.axis])).toEqual(c.sizes);
        for (const p of pieces) expect(p.storage).toBe(t.storage);
        if (pieces.length > 1) expect(valuesOf(concat(pieces, c.axis))).toEqual(values);
        const dim = shape[c.axis]!;
        const equal = split(t, chunk, c.axis);
        const wantSizes: number[] = [];
        for (let s = 0; s < dim; s += chunk) wantSizes.push(Math.min(chunk, dim - s));
        expect(equal.map((p) => p.shape[c.axis])).toEqual(wantSizes);
      }),
      FC,
    );
  });

  it('rejects sizes that do not add up and bad chunk sizes', () => {
    expectOpError(() => split(zeros([5]), [2, 2]), 'split', '[2, 2]', '5');
    expectOpError(() => split(zeros([5]), 0), 'split', 'positive');
    expectOpError(() => split(zeros([5]), [6, -1]), 'split');
    expectOpError(() => split(zeros([]), 1), 'split', 'rank 0');
  });
});

describe('pad', () => {
  it('surrounds the input with a constant, pairs listed from the last axis (like torch.nn.functional.pad)', () => {
    fc.assert(
      fc.property(joinCaseArb, fc.array(fc.nat({ max: 2 }), { maxLength: 6 }), fc.integer({ min: -5, max: 5 }), (c, rawPads, value) => {
        const pads = rawPads.slice(0, 2 * Math.floor(Math.min(rawPads.length, 2 * c.shape.length) / 2));
        const dt = c.dtypes[0]!;
        const values = randomValues(sizeOf(c.shape), c.seed, dt);
        const out = pad(makeTensor(values, c.shape, dt, c.layouts[0]!), pads, value);
        const r = c.shape.length;
        const before = c.shape.map((_, i) => pads[2 * (r - 1 - i)] ?? 0);
        const after = c.shape.map((_, i) => pads[2 * (r - 1 - i) + 1] ?? 0);
        const outShape = c.shape.map((d, i) => d + before[i]! + after[i]!);
        const fill = dt === 'bool' ? +(value !== 0) : value;
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => {
          const idx = unravel(i, outShape).map((x, k) => x - before[k]!);
          return idx.every((x, k) => x >= 0 && x < c.shape[k]!) ? values[ravel(idx, c.shape)]! : fill;
        });
        expect(out.dtype).toBe(dt);
        expectClose(out, expected, outShape);
      }),
      FC,
    );
  });

  it('rejects odd, negative or too many pads', () => {
    expectOpError(() => pad(zeros([2]), [1]), 'pad', '[1]');
    expectOpError(() => pad(zeros([2]), [1, 1, 1, 1]), 'pad', 'at most 1 axes');
    expectOpError(() => pad(zeros([2]), [-1, 0]), 'pad', 'non-negative');
    expect(pad(tensor([1, 2]), [1, 0], 9).toArray()).toEqual([9, 1, 2]);
  });
});
