import { describe, expect, it } from 'vitest';
import { Generator, fromTypedArray, logicalAnd, logicalNot, logicalOr, tensor, where } from './index.js';

describe('truthiness follows NumPy and PyTorch', () => {
  it('treats NaN as true in casts, logical ops and where', () => {
    const x = tensor([NaN, 0, -0, 2], 'float32');
    expect(x.astype('bool').toArray()).toEqual([true, false, false, true]);
    expect(logicalNot(x).toArray()).toEqual([false, true, true, false]);
    expect(logicalAnd(x, tensor([1, 1, 1, 1])).toArray()).toEqual([true, false, false, true]);
    expect(logicalOr(x, tensor([0, 0, 0, 0])).toArray()).toEqual([true, false, false, true]);
    expect(where(x, 1, 0).toArray()).toEqual([1, 0, 0, 1]);
  });

  it('refuses a Uint8Array with values other than 0 and 1 as bool storage', () => {
    expect(fromTypedArray(new Uint8Array([0, 1, 1])).dtype).toBe('bool');
    expect(() => fromTypedArray(new Uint8Array([0, 2]))).toThrow(/fromTypedArray: .*only 0 and 1, found 2 at index 1/);
  });
});

describe('integer pow', () => {
  it('computes non-negative powers exactly and refuses negative ones', () => {
    expect(tensor([2, 3, -2], 'int32').pow(tensor([10, 3, 3], 'int32')).toArray()).toEqual([1024, 27, -8]);
    expect(() => tensor([2], 'int32').pow(tensor([-1], 'int32'))).toThrow(/pow: integers to negative integer powers/);
  });
});

describe('Generator seeds', () => {
  it('gives distinct streams for seeds that agree in their low 32 bits', () => {
    const a = new Generator(1).getState();
    const b = new Generator(1 + 2 ** 32).getState();
    expect(a.slice(0, 2)).toEqual(b.slice(0, 2)); // the low word seeds the first two words...
    expect(a.slice(2)).not.toEqual(b.slice(2)); // ...and the high word changes the rest
  });

  it('keeps the streams of seeds below 2^32 (SplitMix32 of the seed, four words)', () => {
    // Independent SplitMix32, written out here, gives the state of new Generator(7).
    let x = 7;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    expect(new Generator(7).getState()).toEqual([next(), next(), next(), next()]);
  });
});
