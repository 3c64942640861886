/**
 * The dtype promotion rules documented in src/dtype.ts, written out here as explicit tables and checked both on
 * the helper functions and end to end on ops (the dtype of real results).
 */
import { describe, expect, it } from 'vitest';
import {
  add, allocArray, arithmeticDType, coerce, div, DTYPES, dtypeOfArray, eq, floatDType, isDType, isFloating, itemSize, logicalAnd, mul, promoteTypes, scalarDType, sub, tensor, where, zeros, type DType,
} from './index.js';
import * as T from './index.js';

const D: DType[] = ['bool', 'int32', 'float32', 'float64'];

/** promoteTypes as a table: row = a, column = b. */
const PROMOTE: Record<DType, Record<DType, DType>> = {
  bool: { bool: 'bool', int32: 'int32', float32: 'float32', float64: 'float64' },
  int32: { bool: 'int32', int32: 'int32', float32: 'float32', float64: 'float64' },
  float32: { bool: 'float32', int32: 'float32', float32: 'float32', float64: 'float64' },
  float64: { bool: 'float64', int32: 'float64', float32: 'float64', float64: 'float64' },
};

describe('promotion table (src/dtype.ts)', () => {
  it('promoteTypes takes the higher kind: bool < int32 < float32 < float64', () => {
    for (const a of D) for (const b of D) expect(promoteTypes(a, b), `${a} + ${b}`).toBe(PROMOTE[a][b]);
  });

  it('tensor arithmetic results follow the table (bool arithmetic computes in int32)', () => {
    for (const a of D) {
      for (const b of D) {
        const want = PROMOTE[a][b] === 'bool' ? 'int32' : PROMOTE[a][b];
        expect(add(zeros([1], a), zeros([1], b)).dtype, `add ${a} ${b}`).toBe(want);
        expect(mul(zeros([1], a), zeros([1], b)).dtype, `mul ${a} ${b}`).toBe(want);
        expect(div(zeros([1], a), zeros([1], b)).dtype, `div ${a} ${b}`).toBe(PROMOTE[a][b] === 'float64' ? 'float64' : 'float32');
        expect(eq(zeros([1], a), zeros([1], b)).dtype).toBe('bool');
        expect(logicalAnd(zeros([1], a), zeros([1], b)).dtype).toBe('bool');
        expect(where(tensor([true]), zeros([1], a), zeros([1], b)).dtype).toBe(PROMOTE[a][b]);
      }
    }
  });

  it('a JavaScript number is a weak scalar', () => {
    // [tensor dtype, scalar, expected scalar dtype]
    const cases: [DType, number | boolean, DType][] = [
      ['float32', 0.5, 'float32'],
      ['float32', 3, 'float32'],
      ['float64', 0.5, 'float64'],
      ['int32', 3, 'int32'],
      ['int32', 0.5, 'float32'],
      ['bool', 3, 'int32'],
      ['bool', 0.5, 'float32'],
      ['bool', true, 'bool'],
      ['int32', true, 'int32'],
    ];
    for (const [dt, v, want] of cases) expect(scalarDType(v, dt), `${dt} with ${v}`).toBe(want);
    expect(mul(zeros([1], 'float32'), 0.5).dtype).toBe('float32');
    expect(mul(zeros([1], 'float64'), 3).dtype).toBe('float64');
    expect(add(zeros([1], 'int32'), 2).dtype).toBe('int32');
    expect(add(zeros([1], 'int32'), 2.5).dtype).toBe('float32');
    expect(sub(zeros([1], 'bool'), 1).dtype).toBe('int32');
    expect(add(tensor([true]), tensor([true])).toArray()).toEqual([2]);
  });

  it('helper functions', () => {
    expect(DTYPES).toEqual(D);
    expect(D.map(arithmeticDType)).toEqual(['int32', 'int32', 'float32', 'float64']);
    expect(D.map(floatDType)).toEqual(['float32', 'float32', 'float32', 'float64']);
    expect(D.map(isFloating)).toEqual([false, false, true, true]);
    expect(D.map(itemSize)).toEqual([1, 4, 4, 8]);
    expect(D.map((d) => allocArray(d, 2).BYTES_PER_ELEMENT)).toEqual([1, 4, 4, 8]);
    expect(D.map((d) => dtypeOfArray(allocArray(d, 0)))).toEqual(D);
    expect(isDType('float16')).toBe(false);
    expect(isDType('int32')).toBe(true);
    expect(() => dtypeOfArray(new Int16Array(1) as never)).toThrow(/Int16Array/);
  });

  it('coerce stores like a C cast: int32 truncates toward zero and wraps, bool tests != 0, float32 rounds', () => {
    expect([2.9, -2.9, 2 ** 31, -(2 ** 31) - 1].map((v) => coerce(v, 'int32'))).toEqual([2, -2, -(2 ** 31), 2 ** 31 - 1]);
    expect([0, -0, 0.1, -3].map((v) => coerce(v, 'bool'))).toEqual([0, 0, 1, 1]);
    expect(coerce(0.1, 'float32')).toBe(Math.fround(0.1));
    expect(coerce(0.1, 'float64')).toBe(0.1);
  });
});

describe('conversion rule (src/dtype.ts): what int32 cannot hold is refused, never wrapped', () => {
  const bad = [NaN, Infinity, -Infinity, 2 ** 31, 3e9, -(2 ** 31) - 1, 1e300, -1e20];
  const kept: [number, number][] = [[2.9, 2], [-2.9, -2], [2 ** 31 - 0.5, 2 ** 31 - 1], [-(2 ** 31) - 0.5, -(2 ** 31)], [-0, 0], [1e-300, 0]];

  it('cast / astype of float32 and float64 tensors to int32 throws a CastRangeError naming cast, int32, the value and its element', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      // float32 rounds -2^31 - 1 to -2^31, which int32 holds: only values out of range as float32 too are tried there.
      const tried = dtype === 'float32' ? bad.filter((v) => !(Math.fround(v) > -2147483649 && Math.fround(v) < 2147483648)) : bad;
      expect(tried.length).toBeGreaterThanOrEqual(bad.length - 1);
      for (const v of tried) {
        const x = T.tensor([1, 2, v], dtype);
        const stored = x.toArray()[2] as number;
        let err: unknown = null;
        try {
          x.astype('int32');
        } catch (e) {
          err = e;
        }
        expect(err, `${dtype} ${v}`).toBeInstanceOf(RangeError);
        expect(err).toBeInstanceOf(T.CastRangeError);
        expect((err as T.CastRangeError).op).toBe('cast');
        expect((err as T.CastRangeError).index).toBe(2);
        expect((err as Error).message).toBe(`cast: cannot convert ${stored} (element 2) to int32: NaN, infinities and values outside [-2147483648, 2147483647] after truncation toward zero have no int32 value`);
      }
      // A view: the element counted in the view's row-major order.
      const view = T.tensor([[0, NaN], [1, 2]], dtype).transpose(0, 1);
      expect(() => T.cast(view, 'int32')).toThrow(/cast: cannot convert NaN \(element 2\) to int32/);
    }
  });

  it('truncates toward zero everything int32 holds, up to the ends of its range (oracle: Math.trunc)', () => {
    const x = T.tensor(kept.map(([v]) => v), 'float64');
    expect(Array.from(x.astype('int32').toTypedArray())).toEqual(kept.map(([, w]) => w));
    expect(Array.from(T.tensor([-(2 ** 31), 2 ** 31 - 1], 'float64').astype('int32').toTypedArray())).toEqual([-(2 ** 31), 2 ** 31 - 1]);
  });

  it('bool and float casts of the same values follow their own rules (NaN is true; float64 beyond float32 is an infinity)', () => {
    const x = T.tensor([NaN, Infinity, 0, 1e300, -1e300], 'float64');
    expect(x.astype('bool').toArray()).toEqual([true, true, false, true, true]);
    expect(x.astype('float32').toArray()).toEqual([NaN, Infinity, 0, Infinity, -Infinity]);
    expect(T.tensor([1, 0, 1], 'bool').astype('int32').toArray()).toEqual([1, 0, 1]);
  });

  it('creation with dtype int32 follows the same rule (tensor, full, arange, linspace), naming the op', () => {
    expect(() => T.tensor([1, NaN], 'int32')).toThrow(/^tensor: cannot convert NaN \(element 1\) to int32/);
    expect(() => T.tensor(new Float64Array([3e9]), 'int32')).toThrow(/^tensor: cannot convert 3000000000 \(element 0\) to int32/);
    expect(() => T.full([2], Infinity, 'int32')).toThrow(/^full: cannot convert Infinity to int32/);
    expect(() => T.arange(2 ** 31 - 2, 2 ** 31 + 1, 1, 'int32')).toThrow(/^arange: cannot convert 2147483648 \(element 2\) to int32/);
    expect(() => T.linspace(0, 3e9, 3, 'int32')).toThrow(/^linspace: cannot convert 1500000000 |^linspace: cannot convert 3000000000 \(element 2\)/);
    expect(T.tensor([2.9, -2.9], 'int32').toArray()).toEqual([2, -2]);
  });

  it('int32 arithmetic still wraps modulo 2^32, as in NumPy and PyTorch (coerce)', () => {
    const big = T.tensor([2 ** 30], 'int32');
    expect(T.mul(big, T.tensor([4], 'int32')).toArray()).toEqual([0]);
    expect(T.add(T.tensor([2 ** 31 - 1], 'int32'), T.tensor([1], 'int32')).toArray()).toEqual([-(2 ** 31)]);
  });

  it('isDType knows only the four dtypes (not Object.prototype names)', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect(isDType(name)).toBe(false);
      expect(() => T.cast(T.zeros([1]), name as DType)).toThrow(/^cast: unknown dtype/);
      expect(() => T.zeros([1], name as DType)).toThrow();
    }
  });
});

describe('storage bound (src/dtype.ts)', () => {
  it('refuses more than 2^32 elements on every engine (newer V8s would try, and the process died when memory ran out)', async () => {
    const { allocArray, AllocationError, MAX_STORAGE_ELEMENTS } = await import('./dtype.js');
    expect(MAX_STORAGE_ELEMENTS).toBe(2 ** 32);
    expect(() => allocArray('float32', 2 ** 33)).toThrow(AllocationError);
    expect(() => allocArray('float64', 2 ** 32 + 1)).toThrow(/more than 4294967296 \(2\^32\) elements/);
    expect(() => T.zeros([2 ** 33])).toThrow(/zeros: .*\[8589934592\]/);
    expect(allocArray('float32', 16).length).toBe(16);
  });
});
