/**
 * toString: NumPy/PyTorch-like output. The expected strings are written by hand from that convention
 * (right-aligned columns, one row per line, a blank line between 2-D blocks, 3 edge items around '...'
 * above 1000 elements, 4 decimals, exponent form below 1e-4 or from 1e6).
 */
import { describe, expect, it } from 'vitest';
import { arange, flip, ones, tensor, zeros } from './index.js';

describe('toString', () => {
  it('aligns columns and names dtype and shape', () => {
    expect(tensor([[1, 2.5], [-3, 4]]).toString()).toBe('tensor([[  1, 2.5],\n        [ -3,   4]], dtype=float32, shape=[2, 2])');
    expect(tensor([true, false]).toString()).toBe('tensor([ true, false], dtype=bool, shape=[2])');
    expect(tensor(3.14159265).toString()).toBe('tensor(3.1416, dtype=float32, shape=[])');
    expect(zeros([0, 3]).toString()).toBe('tensor([], dtype=float32, shape=[0, 3])');
  });

  it('separates 2-D blocks of a 3-D tensor by a blank line', () => {
    const s = arange(8).reshape(2, 2, 2).toString();
    expect(s).toBe('tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], dtype=int32, shape=[2, 2, 2])');
  });

  it('prints the logical order of non-contiguous views', () => {
    expect(flip(arange(6).reshape(2, 3), 1).T.toString()).toBe('tensor([[2, 5],\n        [1, 4],\n        [0, 3]], dtype=int32, shape=[3, 2])');
  });

  it('uses exponent form for tiny and huge values and prints NaN / Infinity', () => {
    expect(tensor([1e-5, 2e7, NaN, -Infinity], 'float64').toString()).toBe('tensor([1.0000e-5, 2.0000e+7,       NaN, -Infinity], dtype=float64, shape=[4])');
  });

  it('elides the middle of large tensors, keeping 3 items at each edge', () => {
    const s = arange(2000).reshape(40, 50).toString();
    const lines = s.split('\n');
    expect(lines.length).toBe(7); // 3 rows, '...', 3 rows
    expect(lines[0]).toBe('tensor([[   0,    1,    2, ...,   47,   48,   49],');
    expect(lines[3]!.trim()).toBe('...,');
    expect(lines[6]).toBe('        [1950, 1951, 1952, ..., 1997, 1998, 1999]], dtype=int32, shape=[40, 50])');
    expect(s.length).toBeLessThan(500);
  });

  it('formats a million elements without formatting (or spreading) all of them', () => {
    const s = ones([1000, 1000]).toString();
    expect(s.split('\n').length).toBe(7);
    expect(s).toContain('[1, 1, 1, ..., 1, 1, 1]');
  });

  it('marks tensors that require gradients', () => {
    expect(tensor([1, 2]).requiresGrad_().toString()).toBe('tensor([1, 2], dtype=float32, shape=[2], requiresGrad=true)');
  });
});
