/**
 * Interop with the real `ndarray` package (same storage model: data, shape, stride, offset) and host access.
 * Oracle: ndarray's own `.get(...)` indexing, and the logical values of the test tensors.
 */
import fc from 'fast-check';
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import { arange, dispose, fromNdarray, mul, setCpuKernels, sizeOf, tensor, tidy, toNdarray, transpose, type TypedArray } from './index.js';
import { isHeapArray } from './backends/cpu/wasm/heap.js';
import { expectOpError, FC, fromCase, shapeArb, tensorCaseArb, unravel, valuesOf } from './test-helpers.js';

const caseArb = tensorCaseArb(shapeArb({ minRank: 1, maxRank: 4, maxDim: 4 }));
const ndarrayOf = (data: TypedArray, shape: number[], stride: number[], offset: number) => ndarray(data, shape, stride, offset);

describe('toNdarray', () => {
  it('is a view over the same memory whose get() gives the tensor values (any layout, negative strides)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t, values } = fromCase(c);
        const nd = toNdarray(t, ndarrayOf);
        expect(nd.data).toBe(t.storage.data);
        expect(nd.shape).toEqual([...t.shape]);
        values.forEach((v, i) => expect(nd.get(...unravel(i, c.shape))).toBe(v));
      }),
      FC,
    );
  });
});

describe('toNdarray of a result in the fast kernels\' memory', () => {
  const values = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i));
  const expected = Array.from(values, (v) => Math.fround(v * 3));

  it('keeps its values after the tensor is disposed and its memory reused (by dispose or by a tidy)', () => {
    setCpuKernels('fast');
    const x = tensor(values);
    for (const release of ['dispose', 'tidy'] as const) {
      let nd: ReturnType<typeof ndarrayOf> | null = null;
      if (release === 'dispose') {
        const y = mul(x, 3);
        expect(isHeapArray(y.storage.data!)).toBe(true); // (where the problem was: the result lies in that memory)
        nd = toNdarray(y, ndarrayOf);
        dispose(y);
      } else {
        tidy(() => {
          const y = transpose(mul(x, 3).reshape(50, 100)).reshape(100, 50);
          nd = toNdarray(transpose(y), ndarrayOf);
        });
      }
      // Results of the same size now take the freed block (the allocator reuses it first).
      const others = Array.from({ length: 4 }, () => mul(x, -7));
      const got = Array.from({ length: 5000 }, (_, i) => nd!.get(...(release === 'dispose' ? [i] : [Math.floor(i / 100), i % 100])));
      expect(got).toEqual(expected);
      expect(isHeapArray(nd!.data as Float32Array)).toBe(false);
      dispose(...others);
    }
  });

  it('still shares memory with the tensor (writes through the ndarray are seen by it)', () => {
    const y = mul(tensor(values), 3);
    const nd = toNdarray(y, ndarrayOf);
    nd.set(7, 42);
    expect(y.toTypedArray()[7]).toBe(42);
    expect(nd.data).toBe(y.storage.data);
  });
});

describe('fromNdarray', () => {
  it('shares the ndarray memory and reads its views (transpose, lo/hi, negative step, pick)', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 2, maxRank: 3, minDim: 2, maxDim: 4 }), fc.nat(), (shape, seed) => {
        const data = Float64Array.from({ length: sizeOf(shape) }, (_, i) => i * 1.5 + seed);
        const base = ndarray(data, shape);
        const views = [
          base,
          base.transpose(...[...shape.keys()].reverse()),
          base.lo(1).hi(shape[0]! - 1),
          base.step(-1),
          base.step(...shape.map((_, i) => (i === shape.length - 1 ? -2 : 1))),
          base.pick(1),
        ];
        for (const v of views) {
          const t = fromNdarray(v);
          expect(t.storage.data).toBe(data);
          expect([...t.shape]).toEqual(v.shape);
          const got = valuesOf(t);
          got.forEach((x, i) => expect(x).toBe(v.get(...unravel(i, v.shape))));
        }
      }),
      { numRuns: 25 },
    );
  });

  it('round-trips through toNdarray without copying', () => {
    const t = transpose(arange(12, undefined, 1, 'float32').reshape(3, 4));
    const back = fromNdarray(toNdarray(t, ndarrayOf));
    expect(back.storage.data).toBe(t.storage.data);
    expect(back.toArray()).toEqual(t.toArray());
  });

  it('rejects non-typed-array data and layouts that address outside the array', () => {
    expectOpError(() => fromNdarray(ndarray([1, 2, 3], [3]) as never), 'fromNdarray', 'Float32Array');
    expectOpError(() => fromNdarray(ndarray(new Float32Array(4), [3, 3])), 'fromNdarray', '[3, 3]');
    expectOpError(() => fromNdarray(ndarray(new Float32Array(4), [2], [-1], 0)), 'fromNdarray');
  });
});

describe('host access', () => {
  it('toTypedArray copies in row-major order; dataSync shares a contiguous tensor\'s memory', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t, values } = fromCase(c);
        const flat = t.toTypedArray();
        expect(Array.from(flat)).toEqual(values);
        expect(flat.buffer).not.toBe(t.storage.data!.buffer);
        if (t.isContiguous) {
          const view = t.dataSync();
          expect(view.buffer).toBe(t.storage.data!.buffer);
          expect(Array.from(view)).toEqual(values);
        } else {
          expect(() => t.dataSync()).toThrow(/dataSync.*contiguous/);
        }
      }),
      FC,
    );
  });

  it('toArray nests and maps bools to booleans; 0-d gives a number', () => {
    expect(tensor([[true, false]]).toArray()).toEqual([[true, false]]);
    expect(tensor(2.5).toArray()).toBe(2.5);
    expect(tensor([[1, 2], [3, 4]], 'int32').T.toArray()).toEqual([[1, 3], [2, 4]]);
  });
});
