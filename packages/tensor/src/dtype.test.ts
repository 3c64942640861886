/**
 * The dtype promotion rules documented in src/dtype.ts, written out here as explicit tables and checked both on
 * the helper functions and end to end on ops (the dtype of real results).
 */
import { describe, expect, it } from 'vitest';
import {
  add, allocArray, arithmeticDType, coerce, div, DTYPES, dtypeOfArray, eq, floatDType, isDType, isFloating, itemSize, logicalAnd, mul, promoteTypes, scalarDType, sub, tensor, where, zeros, type DType,
} from './index.js';

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
