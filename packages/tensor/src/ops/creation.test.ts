/**
 * Creation. Oracles: closed forms (arange's count ceil((stop - start) / step) and values start + i * step,
 * linspace's endpoints and constant spacing, eye's Kronecker delta) and the input arrays themselves.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arange, eye, fromTypedArray, full, fullLike, linspace, ones, onesLike, scalar, sizeOf, Tensor, tensor, zeros, zerosLike, type DType } from '../index.js';
import { expectClose, expectOpError, shapeArb, valuesOf } from '../test-helpers.js';

describe('tensor()', () => {
  it('infers shape and dtype from nested arrays', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 4, minDim: 0, maxDim: 3 }), fc.nat(), (shape, seed) => {
        const n = sizeOf(shape);
        const flat = Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 11) - 5);
        // Nest the flat list by hand.
        const nest = (dim: number, start: number): unknown => {
          if (dim === shape.length) return flat[start];
          const step = sizeOf(shape.slice(dim + 1));
          return Array.from({ length: shape[dim]! }, (_, i) => nest(dim + 1, start + i * step));
        };
        const nested = nest(0, 0) as number[];
        const t = tensor(nested);
        // A nested array with a zero-length axis hides the axes below it.
        const zeroAt = shape.indexOf(0);
        const inferred = zeroAt < 0 ? shape : shape.slice(0, zeroAt + 1);
        expect([...t.shape]).toEqual(inferred);
        expect(t.dtype).toBe('float32');
        expect(valuesOf(t)).toEqual(zeroAt < 0 ? flat : []);
        expect(t.toArray()).toEqual(nested);
      }),
      { numRuns: 30 },
    );
  });

  it('uses bool for booleans, the array\'s dtype for typed arrays, and coerces to an explicit dtype', () => {
    expect(tensor([true, false]).dtype).toBe('bool');
    expect(tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tensor(new Float64Array([1.5])).dtype).toBe('float64');
    expect(tensor([1.7, -1.7], 'int32').toArray()).toEqual([1, -1]);
    expect(tensor([0.1], 'float64').toArray()).toEqual([0.1]);
    expect(tensor([0.1]).toArray()).toEqual([Math.fround(0.1)]);
    expect(tensor([2, 0], 'bool').toArray()).toEqual([true, false]);
    expect(tensor(3).shape).toEqual([]);
    expect(scalar(true).toArray()).toBe(true);
  });

  it('copies typed arrays and tensors, while fromTypedArray wraps without copying', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const copied = tensor(data);
    data[0] = 9;
    expect(copied.toArray()).toEqual([1, 2, 3, 4]);
    const wrapped = fromTypedArray(data, [2, 2]);
    expect(wrapped.storage.data).toBe(data);
    expect(wrapped.toArray()).toEqual([[9, 2], [3, 4]]);
    const again = tensor(wrapped);
    expect(again.storage).not.toBe(wrapped.storage);
    expect(tensor(wrapped, 'int32').toArray()).toEqual([[9, 2], [3, 4]]);
    expectOpError(() => fromTypedArray(data, [3]), 'fromTypedArray', '[3]', '4');
  });

  it('rejects ragged arrays, non-numbers and unknown dtypes, saying where', () => {
    expectOpError(() => tensor([[1, 2], [3]]), 'tensor', 'ragged', '[1]', 'expected length 2');
    expectOpError(() => tensor([[1, 2], 3] as never), 'tensor', 'ragged');
    expectOpError(() => tensor([1, [2]] as never), 'tensor', 'ragged');
    expectOpError(() => tensor(['a'] as never), 'tensor', 'string');
    expectOpError(() => tensor([1], 'float16' as DType), 'tensor', 'float16');
  });
});

describe('constants', () => {
  it('zeros / ones / full / *Like fill every element and keep the dtype', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 3, minDim: 0 }), fc.constantFrom<DType>('float32', 'float64', 'int32', 'bool'), fc.double({ min: -5, max: 5, noNaN: true }), (shape, dtype, v) => {
        const n = sizeOf(shape);
        const z = zeros(shape, dtype);
        const o = ones(shape, dtype);
        const f = full(shape, v, dtype);
        for (const t of [z, o, f]) {
          expect(t.dtype).toBe(dtype);
          expect([...t.shape]).toEqual(shape);
        }
        const stored = dtype === 'int32' ? Math.trunc(v) : dtype === 'bool' ? +(v !== 0) : dtype === 'float32' ? Math.fround(v) : v;
        expect(valuesOf(z)).toEqual(new Array(n).fill(0));
        expect(valuesOf(o)).toEqual(new Array(n).fill(1));
        expectClose(f, new Array(n).fill(stored), shape);
        expect(valuesOf(zerosLike(f))).toEqual(new Array(n).fill(0));
        expect(onesLike(f, 'float64').dtype).toBe('float64');
        expect(fullLike(z, 2).dtype).toBe(dtype);
      }),
      { numRuns: 30 },
    );
    expect(full([2], true).dtype).toBe('bool');
    expectOpError(() => zeros([2, -1]), 'zeros', '-1');
    expectOpError(() => full([1.5], 0), 'full', '1.5');
  });
});

describe('ranges', () => {
  it('arange has ceil((stop - start) / step) values start + i * step (NumPy)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0), (start, stop, step) => {
        const t = arange(start, stop, step);
        const want: number[] = [];
        for (let v = start; step > 0 ? v < stop : v > stop; v += step) want.push(v);
        expect(t.dtype).toBe('int32');
        expect(t.toArray()).toEqual(want);
      }),
      { numRuns: 50 },
    );
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expectClose(arange(0, 1, 0.25), [0, 0.25, 0.5, 0.75], [4]);
    expect(arange(0, 1, 0.25).dtype).toBe('float32');
    expect(arange(0, 3, 1, 'float64').dtype).toBe('float64');
    expectOpError(() => arange(0, 3, 0), 'arange', 'step');
    expectOpError(() => arange(0, NaN), 'arange');
  });

  it('linspace includes both endpoints with equal spacing', () => {
    fc.assert(
      fc.property(fc.double({ min: -10, max: 10, noNaN: true }), fc.double({ min: -10, max: 10, noNaN: true }), fc.integer({ min: 0, max: 20 }), (a, b, num) => {
        const t = linspace(a, b, num, 'float64');
        const v = valuesOf(t);
        expect(v.length).toBe(num);
        // === rather than toBe: the sign of a zero endpoint is not part of the contract (-0 + 0 * step is +0).
        if (num >= 1) expect(v[0] === a).toBe(true);
        if (num >= 2) {
          expect(v[num - 1] === b).toBe(true);
          const h = (b - a) / (num - 1);
          v.forEach((x, i) => expect(Math.abs(x - (a + i * h))).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(a) + Math.abs(b))));
        }
      }),
      { numRuns: 40 },
    );
    expectOpError(() => linspace(0, 1, -1), 'linspace', '-1');
    expectOpError(() => linspace(0, 1, 2.5), 'linspace', '2.5');
  });

  it('eye is the Kronecker delta (rectangular too)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), (n, m) => {
        const t = eye(n, m);
        expect(t.shape).toEqual([n, m]);
        expect(t.toArray()).toEqual(Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (i === j ? 1 : 0))));
      }),
      { numRuns: 20 },
    );
    expect(eye(2, undefined, 'int32').dtype).toBe('int32');
    expectOpError(() => eye(-1), 'eye', '-1');
  });
});

describe('Tensor basics', () => {
  it('reports dtype, shape, size, ndim and item', () => {
    const t = tensor([[1, 2, 3]], 'int32');
    expect([t.dtype, t.shape, t.size, t.ndim, t.isContiguous]).toEqual(['int32', [1, 3], 3, 2, true]);
    expect(tensor([5]).item()).toBe(5);
    expect(() => t.item()).toThrow(/item.*3 elements/);
    expect(t).toBeInstanceOf(Tensor);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });
});
