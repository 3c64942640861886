/**
 * Issue 20 item 4 (large tensors) and item 5 (a loop without tidy): ops that do not fit in the fast kernels'
 * memory run on the reference kernels with the right answer, failures to allocate name the op and the shapes,
 * impossible shapes are refused, and filling the memory with live results warns once with what to do.
 *
 * The kernels' memory is 2 GiB; `setKernelHeapCeilingForTests` lowers the span its heap may use so that a tensor of
 * a few hundred thousand elements "does not fit", which exercises the same code as a 1e9-element tensor at full
 * size (the check is on byte counts, never on the memory's actual length). Every test restores the ceiling.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as T from '../../../index.js';
import { isHeapArray } from './heap.js';
import { fallbackCounts, parseHeapMb, setKernelHeapCeilingForTests } from './index.js';
import { MAX_MEMORY_BYTES, rearmResultsFullWarning, resultsFullWarning } from './runtime.js';

const DEFAULT_LIMIT = 1024 * 2 ** 20;

/** Values in float64 whose float32 roundings we feed to the kernels. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 8 - 4;
  }
  return out;
}

/** Error bound of a float32 result of a float64 sum of `xs`, in any order: n * 2^-53 * sum|x| (float64 summation) + half a float32 ulp of the sum (the final rounding). */
function sumTolerance(xs: ArrayLike<number>, exact: number): number {
  let abs = 0;
  for (let i = 0; i < xs.length; i++) abs += Math.abs(xs[i]!);
  return xs.length * 2 ** -53 * abs + 2 ** -24 * Math.abs(exact) + Number.MIN_VALUE;
}

beforeEach(() => {
  T.setCpuKernels('fast');
  // Each test starts with no live results in the kernels' memory (each disposes what it made), so that what
  // fits under a lowered ceiling does not depend on when the garbage collector ran.
  expect(T.cpuMemoryInfo().resultBytes).toBe(0);
});
afterEach(() => {
  setKernelHeapCeilingForTests(null);
  T.cpuResultLimit(DEFAULT_LIMIT);
  vi.restoreAllMocks();
});

describe('an op that does not fit in the kernels memory', () => {
  // 300,000 float32 = 1.2 MB per operand: the op needs ~2.4 MB (operand copied in + result) against a 1 MiB ceiling.
  const n = 300_000;
  const ceiling = 2 ** 20;

  it('add(1) runs on the reference kernels (decided before copying) and gives the float32 rounding of the float64 sum', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return; // no fast kernels on this engine: nothing falls back
    const xs = values(n, 1);
    const x = T.tensor(xs); // in the kernels' memory (under the default ceiling)
    const before = { ...fallbackCounts };
    const memory = T.cpuMemoryInfo().memoryBytes;
    setKernelHeapCeilingForTests(ceiling);
    // x lies in the heap already (nothing to copy in), but its 1.2 MB result cannot fit under a 1 MiB ceiling.
    const y = x.add(1);
    expect(fallbackCounts.estimate - before.estimate).toBe(1);
    expect(fallbackCounts.backstop).toBe(before.backstop);
    expect(isHeapArray(y.storage.data!)).toBe(false);
    expect(T.cpuMemoryInfo().memoryBytes).toBe(memory); // the estimate came first: the memory did not grow for nothing
    const got = y.toTypedArray();
    expect(y.shape).toEqual([n]);
    // Exact: x + 1 in float64 is exact for |x| < 4 (no bits beyond 53), and rounding it to float32 is what a
    // correctly rounded float32 add gives.
    let wrong = 0;
    for (let i = 0; i < n; i++) if (got[i] !== Math.fround(xs[i]! + 1)) wrong++;
    expect(wrong).toBe(0);
    T.dispose(x, y);
  });

  it('add of two ordinary arrays (to be copied in) also falls back, with the same answer', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    setKernelHeapCeilingForTests(ceiling);
    const a = values(n, 2);
    const b = values(n, 3);
    const before = fallbackCounts.estimate;
    const got = T.fromTypedArray(a).add(T.fromTypedArray(b)).toTypedArray();
    expect(fallbackCounts.estimate - before).toBe(1);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (got[i] !== Math.fround(a[i]! + b[i]!)) wrong++;
    expect(wrong).toBe(0);
  });

  it('sum() runs on the reference kernels and agrees with a float64 sum', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    const xs = values(n, 4);
    setKernelHeapCeilingForTests(ceiling);
    const before = fallbackCounts.estimate;
    const s = T.fromTypedArray(xs).sum().item();
    expect(fallbackCounts.estimate - before).toBe(1);
    let exact = 0;
    for (let i = 0; i < n; i++) exact += xs[i]!;
    expect(Math.abs(s - exact)).toBeLessThanOrEqual(sumTolerance(xs, exact));
    // And a sum along an axis of a [rows, cols] view: one value per row.
    const rows = 600;
    const cols = n / rows;
    const bySum = T.fromTypedArray(xs, [rows, cols]).sum(1).toTypedArray();
    expect(fallbackCounts.estimate - before).toBe(2);
    for (let r = 0; r < rows; r++) {
      const row = xs.subarray(r * cols, (r + 1) * cols);
      let e = 0;
      for (const v of row) e += v;
      expect(Math.abs(bySum[r]! - e)).toBeLessThanOrEqual(sumTolerance(row, e));
    }
  });

  it('an op that passes the estimate but runs out during the op (KernelMemoryFull) releases its scratch and runs on the reference kernels', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    // An outer product [1024, 1] x [1, 1024]: the estimate counts the operands and a result the size of the largest
    // operand (12 KB), but the result is 1024 x 1024 float32 = 4 MiB, beyond the 1 MiB ceiling: the GEMM's `alloc`
    // of its output throws KernelMemoryFull, and the registry runs the reference matmul instead.
    const m = 1024;
    const a = values(m, 5);
    const b = values(m, 6);
    setKernelHeapCeilingForTests(ceiling);
    const before = { ...fallbackCounts };
    const resultBytes = T.cpuMemoryInfo().resultBytes;
    const c = T.matmul(T.fromTypedArray(a, [m, 1]), T.fromTypedArray(b, [1, m]));
    expect(fallbackCounts.backstop - before.backstop).toBe(1);
    expect(fallbackCounts.estimate).toBe(before.estimate);
    expect(c.shape).toEqual([m, m]);
    const got = c.toTypedArray();
    let wrong = 0;
    // One product per element: the float32 rounding of the exact (float64) product.
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) if (got[i * m + j] !== Math.fround(a[i]! * b[j]!)) wrong++;
    expect(wrong).toBe(0);
    expect(T.cpuMemoryInfo().resultBytes).toBe(resultBytes); // no result block left pending
    // The failed op's scratch (its copies of a and b) was released: a fast op that needs most of the ceiling still runs fast.
    const big = T.fromTypedArray(values(100_000, 7)); // 400 KB in, 400 KB out: fits in 1 MiB only if the heap is empty
    const f = { ...fallbackCounts };
    const z = big.mul(2);
    expect(fallbackCounts).toEqual(f);
    expect(isHeapArray(z.storage.data!)).toBe(true);
    T.dispose(z, c);
  });

  it('ops that fit still run on the fast kernels under a lowered ceiling (the check is not simply "always fall back")', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    setKernelHeapCeilingForTests(ceiling);
    const before = { ...fallbackCounts };
    const y = T.fromTypedArray(values(10_000, 8)).add(1);
    expect(fallbackCounts).toEqual(before);
    expect(isHeapArray(y.storage.data!)).toBe(true);
    T.dispose(y);
  });
});

describe('allocation failures name the op and the shapes', () => {
  it('a tensor beyond the largest typed array: zeros names itself and the shape', () => {
    // 2^33 float32 is past V8's largest typed array: refused at once, nothing allocated.
    expect(() => T.zeros([2 ** 33])).toThrow(/^zeros: cannot allocate a float32 tensor of shape \[8589934592\]/);
    expect(() => T.full([2 ** 17, 2 ** 16], 1, 'float64')).toThrow(/^full: cannot allocate a float64 tensor of shape \[131072, 65536\]/);
  });

  it('an elementwise op whose broadcast result cannot exist names the op, the result shape and the inputs', () => {
    const a = T.zeros([2 ** 17, 1]);
    const b = T.zeros([1, 2 ** 17]);
    let err: unknown;
    try {
      a.add(b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(T.TensorError);
    expect((err as Error).message).toMatch(/^add: cannot allocate memory for a result of shape \[131072, 131072\] \(inputs \[131072, 1\], \[1, 131072\]\)/);
  });

  it('matmul whose result cannot exist names matmul and its inputs', () => {
    expect(() => T.matmul(T.zeros([2 ** 17, 1]), T.zeros([1, 2 ** 17]))).toThrow(/^matmul: cannot allocate memory for a result of shape \[131072, 131072\] \(inputs \[131072, 1\], \[1, 131072\]\)/);
    // Batched: the batch axes are in the result's shape too.
    expect(() => T.matmul(T.zeros([3, 2 ** 16, 1]), T.zeros([1, 2 ** 17]))).toThrow(/^matmul: cannot allocate memory for a result of shape \[3, 65536, 131072\] \(inputs \[3, 65536, 1\], \[1, 131072\]\)/);
  });

  it('on the reference kernels too (the wrapper is the registry, not the fast kernels)', () => {
    T.setCpuKernels('reference');
    expect(() => T.zeros([2 ** 17, 1]).mul(T.zeros([1, 2 ** 17]))).toThrow(/^mul: cannot allocate memory for a result of shape \[131072, 131072\] \(inputs \[131072, 1\], \[1, 131072\]\)/);
  });

  it('other errors of a kernel pass through unchanged', () => {
    expect(() => T.zeros([2, 3]).add(T.zeros([4]))).toThrow(/^add: /);
    expect(() => T.zeros([2, 3]).add(T.zeros([4]))).not.toThrow(/cannot allocate/);
  });
});

describe('shapes that cannot exist', () => {
  it('more than 2^53 - 1 elements are refused with the shape in the message', () => {
    expect(() => T.zeros([2 ** 27, 2 ** 27])).toThrow(/^zeros: shape \[134217728, 134217728\] has 18014398509481984 elements, more than 2\^53 - 1/);
    expect(() => T.ones([2 ** 30, 2 ** 30, 2 ** 30])).toThrow(/^full: shape \[1073741824, 1073741824, 1073741824\] has/);
    expect(() => T.randn([2 ** 40, 2 ** 20], new T.Generator(0))).toThrow(/^randn: shape \[1099511627776, 1048576\]/);
    expect(() => T.eye(2 ** 27, 2 ** 27)).toThrow(/^eye: shape \[134217728, 134217728\]/);
    // 2^53 - 1 itself is an element count that can be stated exactly: refused for memory, not as impossible.
    expect(() => T.zeros([Number.MAX_SAFE_INTEGER])).toThrow(/^zeros: cannot allocate/);
  });
});

describe('the warning when live results fill the kernels memory', () => {
  it('fires once, says what to do (tidy / dispose), and a program that ignores it still gets right answers', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    rearmResultsFullWarning();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    T.cpuResultLimit(2 ** 20); // 1 MiB of results: ~25 results of 40 KB
    const x = T.fromTypedArray(values(10_000, 9));
    const live: T.Tensor[] = [];
    for (let i = 0; i < 60; i++) live.push(x.mul(i)); // a loop that keeps every result, as one without tidy does
    const fullWarnings = warn.mock.calls.filter((c) => c[0] === resultsFullWarning);
    expect(fullWarnings).toHaveLength(1);
    expect(resultsFullWarning).toMatch(/tidy\(/);
    expect(resultsFullWarning).toMatch(/dispose\(\)/);
    expect(resultsFullWarning).toMatch(/cpuResultLimit|OCLT_CPU_HEAP_MB/);
    // Results beyond the limit went to ordinary arrays with the same values.
    expect(isHeapArray(live[59]!.storage.data!)).toBe(false);
    expect(live[59]!.toTypedArray()[3]).toBe(Math.fround(x.toTypedArray()[3]! * 59));
    T.dispose(...live);
  });

  it('does not fire for one result larger than the limit (that is not a loop without tidy)', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    rearmResultsFullWarning();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    T.cpuResultLimit(2 ** 20);
    const y = T.fromTypedArray(values(400_000, 10)).mul(2); // 1.6 MB: beyond the 1 MiB bound by itself
    expect(isHeapArray(y.storage.data!)).toBe(false);
    expect(warn.mock.calls.filter((c) => c[0] === resultsFullWarning)).toHaveLength(0);
  });

  it('does not fire when each step is tidied', () => {
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    rearmResultsFullWarning();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    T.cpuResultLimit(2 ** 20);
    const x = T.fromTypedArray(values(10_000, 11));
    for (let i = 0; i < 60; i++) T.tidy(() => x.mul(i).add(1).sum().item());
    expect(warn.mock.calls.filter((c) => c[0] === resultsFullWarning)).toHaveLength(0);
  });
});

describe('cpuResultLimit and OCLT_CPU_HEAP_MB are validated', () => {
  it('cpuResultLimit refuses what is not a whole number of bytes in (0, 2 GiB], naming itself and the value', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_MEMORY_BYTES + 1, 4096 * 2 ** 20]) {
      expect(() => T.cpuResultLimit(bad), String(bad)).toThrow(new RegExp(`^cpuResultLimit: expected a whole number of bytes .* got ${String(bad).replace('+', '\\+')}$`));
    }
    expect(() => T.cpuResultLimit('1024' as unknown as number)).toThrow(/^cpuResultLimit: .* got "1024"$/);
    expect(T.cpuResultLimit()).toBe(DEFAULT_LIMIT); // a refused value changes nothing
    expect(T.cpuResultLimit(MAX_MEMORY_BYTES)).toBe(MAX_MEMORY_BYTES);
    expect(T.cpuResultLimit(64)).toBe(64);
  });

  it('parseHeapMb accepts plain MiB counts in (0, 2048] and refuses the rest, naming OCLT_CPU_HEAP_MB', () => {
    expect(parseHeapMb(undefined)).toBe(DEFAULT_LIMIT);
    expect(parseHeapMb('')).toBe(DEFAULT_LIMIT);
    expect(parseHeapMb('256')).toBe(256 * 2 ** 20);
    expect(parseHeapMb(' 2048 ')).toBe(MAX_MEMORY_BYTES);
    expect(parseHeapMb('0.5')).toBe(2 ** 19);
    for (const bad of ['abc', '0', '-1', '4096', '2049', '1e3', '0x10', 'Infinity', 'NaN', '12MB', '1,5']) {
      expect(() => parseHeapMb(bad), bad).toThrow(new RegExp(`^OCLT_CPU_HEAP_MB: expected a number of MiB greater than 0 and at most 2048 .* got "${bad.replace('+', '\\+')}"$`));
    }
  });
});
