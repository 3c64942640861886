/**
 * Bad input never yields a silently wrong tensor: fast-check generates invalid calls (bad shapes, bad axes,
 * out-of-range indices, dtype mismatches) across the API, and each must throw a TensorError whose `.op` names
 * the op and whose message names the offending shape / axis / value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from './index.js';
import { expectOpError, FC, shapeArb } from './test-helpers.js';

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

describe('invalid axes', () => {
  it('every axis-taking op rejects axes outside [-rank, rank) and names the op and the rank', () => {
    const ops: [string, (t: T.Tensor, a: number) => unknown][] = [
      ['sum', (t, a) => T.sum(t, a)],
      ['mean', (t, a) => T.mean(t, [a])],
      ['max', (t, a) => T.max(t, a, true)],
      ['min', (t, a) => T.min(t, a)],
      ['argmax', (t, a) => T.argmax(t, a)],
      ['argmin', (t, a) => T.argmin(t, a)],
      ['var', (t, a) => T.variance(t, a)],
      ['logsumexp', (t, a) => T.logsumexp(t, a)],
      ['softmax', (t, a) => T.softmax(t, a)],
      ['logSoftmax', (t, a) => T.logSoftmax(t, a)],
      ['flip', (t, a) => T.flip(t, a)],
      ['squeeze', (t, a) => T.squeeze(t, a)],
      ['narrow', (t, a) => T.narrow(t, a, 0, 0)],
      ['concat', (t, a) => T.concat([t, t], a)],
      ['split', (t, a) => T.split(t, 1, a)],
      ['indexSelect', (t, a) => T.indexSelect(t, a, [0])],
      ['gather', (t, a) => T.gather(t, a, T.zeros(t.shape, 'int32'))],
      ['scatterAdd', (t, a) => T.scatterAdd(t, a, T.zeros(t.shape, 'int32'), t)],
    ];
    fc.assert(
      fc.property(shapeArb({ minRank: 0, maxRank: 3, minDim: 1 }), fc.nat({ max: 3 }), fc.boolean(), fc.nat({ max: ops.length - 1 }), (shape, extra, negative, k) => {
        const rank = shape.length;
        const axis = negative ? -rank - 1 - extra : rank + extra;
        const [name, call] = ops[k]!;
        expectOpError(() => call(T.zeros(shape), axis), name, `axis ${axis}`, `rank ${rank}`);
      }),
      { numRuns: 60 },
    );
  });

  it('unsqueeze and stack accept rank + 1 positions only; permute/transpose name bad axes', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 0, maxRank: 3 }), fc.nat({ max: 2 }), (shape, extra) => {
        const t = T.zeros(shape);
        expectOpError(() => T.unsqueeze(t, shape.length + 1 + extra), 'unsqueeze', `axis ${shape.length + 1 + extra}`);
        expectOpError(() => T.stack([t, t], -shape.length - 2 - extra), 'stack', `axis ${-shape.length - 2 - extra}`);
        expectOpError(() => T.permute(t, [...shape.keys(), 0]), 'permute', fmt(shape));
        if (shape.length >= 2) expectOpError(() => T.transpose(t, 0, shape.length + extra), 'transpose', `axis ${shape.length + extra}`);
      }),
      FC,
    );
  });
});

describe('invalid shapes', () => {
  it('reshape / view / expand name both shapes', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, minDim: 2 }), fc.integer({ min: 1, max: 5 }), (shape, extra) => {
        const t = T.zeros(shape);
        const bad = [t.size + extra];
        expectOpError(() => T.reshape(t, bad), 'reshape', fmt(shape), fmt(bad));
        expectOpError(() => T.view(t, bad), 'view', fmt(shape), fmt(bad));
        const wider = shape.map((d, i) => (i === 0 ? d + extra : d));
        expectOpError(() => T.expand(t, wider), 'expand', fmt(shape), fmt(wider));
      }),
      FC,
    );
  });

  it('matmul, conv2d, concat, stack, where name the shapes that disagree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (m, k, d) => {
        const a = T.zeros([m, k]);
        const b = T.zeros([k + d, m]);
        expectOpError(() => T.matmul(a, b), 'matmul', fmt([m, k]), fmt([k + d, m]));
        expectOpError(() => T.conv2d(T.zeros([1, k, 3, 3]), T.zeros([m, k + d, 1, 1])), 'conv2d', fmt([m, k + d, 1, 1]), fmt([1, k, 3, 3]));
        expectOpError(() => T.concat([a, T.zeros([m + d, k + d])], 0), 'concat', fmt([m, k]), fmt([m + d, k + d]));
        expectOpError(() => T.stack([a, T.zeros([m, k + d])]), 'stack', fmt([m, k]), fmt([m, k + d]));
        // Both sides >= 2 so that neither is a broadcastable 1.
        expectOpError(() => T.where(T.zeros([m + 1, k + 2], 'bool'), T.zeros([m + 1, k + 1]), 0), 'where', fmt([m + 1, k + 2]), fmt([m + 1, k + 1]));
      }),
      FC,
    );
  });

  it('creation functions reject negative or fractional dimensions', () => {
    fc.assert(
      fc.property(fc.constantFrom(-1, -3, 1.5, NaN), fc.constantFrom('zeros', 'ones', 'full', 'randn', 'rand', 'randint'), (bad, name) => {
        const g = new T.Generator(0);
        const shape = [2, bad];
        const call = {
          zeros: () => T.zeros(shape),
          ones: () => T.ones(shape),
          full: () => T.full(shape, 1),
          randn: () => T.randn(shape, g),
          rand: () => T.rand(shape, g),
          randint: () => T.randint(0, 3, shape, g),
        }[name]!;
        // ones delegates to full: either name is acceptable only if it is the op the user called or its builder.
        const op = name === 'ones' ? 'full' : name;
        expectOpError(call, op, String(bad));
      }),
      { numRuns: 30 },
    );
  });
});

describe('out-of-range indices', () => {
  it('slice, narrow, gather, indexSelect and scatterAdd name the index and the axis size', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, minDim: 1 }), fc.nat(), fc.nat({ max: 3 }), (shape, k, extra) => {
        const axis = k % shape.length;
        const dim = shape[axis]!;
        const t = T.zeros(shape);
        const specs: T.SliceSpec[] = shape.map(() => null);
        specs[axis] = dim + extra;
        expectOpError(() => T.slice(t, specs), 'slice', `index ${dim + extra}`, `size ${dim}`);
        expectOpError(() => T.narrow(t, axis, dim - 1 + extra, 2), 'narrow', `size ${dim}`);
        expectOpError(() => T.indexSelect(t, axis, [0, dim + extra]), 'indexSelect', `index ${dim + extra}`, `size ${dim}`);
        const idxShape = shape.map((d, i) => (i === axis ? 1 : d));
        const idx = T.full(idxShape, -dim - 1 - extra, 'int32');
        expectOpError(() => T.gather(t, axis, idx), 'gather', `index ${-dim - 1 - extra}`, `size ${dim}`);
        expectOpError(() => T.scatterAdd(t, axis, idx, T.zeros(idxShape)), 'scatterAdd', `index ${-dim - 1 - extra}`, `size ${dim}`);
      }),
      FC,
    );
  });
});

describe('dtype mismatches', () => {
  it('ops that need floats or int32 indices say which dtype they got', () => {
    fc.assert(
      fc.property(fc.constantFrom<T.DType>('int32', 'bool'), (dt) => {
        const x = T.zeros([1, 1, 3, 3], dt);
        expectOpError(() => T.conv2d(x, T.zeros([1, 1, 1, 1])), 'conv2d', dt);
        expectOpError(() => T.conv2d(T.zeros([1, 1, 3, 3]), T.zeros([1, 1, 1, 1], dt)), 'conv2d', dt);
        expectOpError(() => T.maxPool2d(x, { kernel: 1 }), 'maxPool2d', dt);
        expectOpError(() => T.avgPool2d(x, { kernel: 1 }), 'avgPool2d', dt);
        expectOpError(() => T.randn([1], new T.Generator(0), dt), 'randn', dt);
        expectOpError(() => T.zeros([2], dt).requiresGrad_(), 'requiresGrad_', dt);
      }),
      { numRuns: 4 },
    );
    expectOpError(() => T.gather(T.zeros([3]), 0, T.zeros([1])), 'gather', 'float32');
    expectOpError(() => T.indexSelect(T.zeros([3]), 0, T.zeros([1], 'bool')), 'indexSelect', 'bool');
    expectOpError(() => T.cast(T.zeros([1]), 'uint8' as T.DType), 'cast', 'uint8');
    expectOpError(() => T.exp(3 as never), 'exp', 'Tensor');
  });

  it('host access errors are TensorErrors too', () => {
    expectOpError(() => T.zeros([2]).item(), 'item', '2 elements');
    expectOpError(() => T.zeros([2, 3]).T.dataSync(), 'dataSync', 'contiguous');
    expect(() => T.zeros([1]).backward()).toThrow(/backward/);
  });
});
