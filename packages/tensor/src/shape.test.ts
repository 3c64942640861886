/**
 * Shape bookkeeping and the kernel registry. Oracles: NumPy's broadcasting rule applied dimension by
 * dimension, the closed form of row-major strides, and "contiguous = the addressed positions are offset,
 * offset + 1, ..." checked by enumerating positions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add, broadcastShapes, contiguousStrides, copyInto, findKernel, fromTypedArray, getBackend, isContiguous, listBackends, referenceKernels, registerBackend, registerKernel, setBackend, sizeOf, slice, sum, tensor, zeros, type Backend, type KernelFn, type TypedArray,
} from './index.js';
import { expectClose, expectOpError, FC, fromCase, shapeArb, tensorCaseArb, unravel } from './test-helpers.js';

describe('broadcastShapes', () => {
  it('aligns trailing dims; each pair must be equal or contain a 1', () => {
    fc.assert(
      fc.property(fc.array(shapeArb({ maxRank: 4, minDim: 1, maxDim: 3 }), { minLength: 1, maxLength: 3 }), (shapes) => {
        const rank = Math.max(...shapes.map((s) => s.length));
        const padded = shapes.map((s) => [...new Array(rank - s.length).fill(1), ...s]);
        let ok = true;
        const want = Array.from({ length: rank }, (_, i) => {
          const dims = new Set(padded.map((s) => s[i]!).filter((d) => d !== 1));
          if (dims.size > 1) ok = false;
          return dims.size === 0 ? 1 : [...dims][0]!;
        });
        if (ok) expect(broadcastShapes('op', ...shapes)).toEqual(want);
        else expectOpError(() => broadcastShapes('myOp', ...shapes), 'myOp', 'cannot be broadcast');
      }),
      { numRuns: 50 },
    );
  });
});

describe('strides', () => {
  it('contiguousStrides is the row-major closed form and isContiguous matches enumerated positions', () => {
    fc.assert(
      fc.property(tensorCaseArb(shapeArb({ maxRank: 4, minDim: 1, maxDim: 4 })), (c) => {
        const strides = contiguousStrides(c.shape);
        c.shape.forEach((_, i) => expect(strides[i]).toBe(sizeOf(c.shape.slice(i + 1))));
        const { t } = fromCase(c);
        const positions = Array.from({ length: t.size }, (_, i) => unravel(i, t.shape).reduce((s, x, k) => s + x * t.strides[k]!, t.offset));
        expect(isContiguous(t.shape, t.strides)).toBe(positions.every((p, i) => p === t.offset + i));
      }),
      FC,
    );
  });

  it('copyInto writes (broadcast) values through a strided view', () => {
    const dst = zeros([3, 4]);
    copyInto(slice(dst, [[null, null, 2], [null, null, -2]]), tensor([[1, 2]]));
    expect(dst.toArray()).toEqual([
      [0, 2, 0, 1],
      [0, 0, 0, 0],
      [0, 2, 0, 1],
    ]);
  });
});

describe('kernel registry', () => {
  it('registerKernel overrides a cpu kernel; reference kernels stay available', () => {
    const original = getBackend('cpu').kernels.sum!;
    const calls: number[] = [];
    const spy: KernelFn = (inputs, attrs) => {
      calls.push(inputs.length);
      return referenceKernels.sum!(inputs, attrs);
    };
    try {
      registerKernel('cpu', 'sum', spy);
      // The table holds the spy behind the registry's wrapper (which names the op in allocation failures).
      expect(findKernel('sum', [zeros([1])]).fn).not.toBe(original);
      expect(sum(tensor([1, 2, 3])).item()).toBe(6);
      expect(calls).toEqual([1]);
    } finally {
      registerKernel('cpu', 'sum', original);
    }
    expect(findKernel('sum', [zeros([1])]).fn).toBe(original);
  });

  it('a backend without a kernel falls back to cpu; mixing backends is an error', () => {
    const fake: Backend = {
      name: 'fake-host',
      kernels: {},
      fromHost: (data: TypedArray) => ({ backend: 'fake-host', dtype: getBackend('cpu').fromHost(data).dtype, length: data.length, data }),
      toHost: (s) => s.data!,
      info: () => 'fake-host: test backend with no kernels',
    };
    registerBackend(fake);
    expect(listBackends()).toContain('fake-host');
    setBackend('fake-host');
    let a;
    try {
      a = fromTypedArray(new Float32Array([1, 2]), [2]);
    } finally {
      setBackend('cpu');
    }
    expect(a.backend).toBe('fake-host');
    expect(findKernel('add', [a]).backend.name).toBe('cpu');
    expectClose(add(a, a), [2, 4], [2]);
    expect(() => add(a, tensor([1, 1]))).toThrow(/add.*different backends/);
    expect(() => setBackend('nope')).toThrow(/nope.*not registered/);
  });
});
