/**
 * tidy / keep / dispose (memory.ts): which storages a tidy releases, that released tensors fail loudly, and that the
 * rules are the same on the fast and the reference kernels.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as T from './index.js';

const values = (t: T.Tensor) => Array.from(t.toTypedArray());
const isReleased = (t: T.Tensor) => t.storage.disposed === true;

describe.each(['fast', 'reference'] as const)('tidy on the %s kernels', (mode) => {
  T.setCpuKernels(mode);
  afterAll(() => T.setCpuKernels('fast'));

  it('releases what was made inside and not returned; returned and outside tensors stay', () => {
    const a = T.tensor([1, 2, 3]);
    let inner!: T.Tensor;
    const out = T.tidy(() => {
      inner = a.mul(2);
      return inner.add(1);
    });
    expect(isReleased(inner)).toBe(true);
    expect(() => inner.toTypedArray()).toThrow(/disposed/);
    expect(() => inner.add(1)).toThrow(/disposed/);
    expect(values(out)).toEqual([3, 5, 7]);
    expect(values(a)).toEqual([1, 2, 3]);
  });

  it('keeps tensors returned in arrays, Maps and plain objects, and those passed to keep()', () => {
    let kept!: T.Tensor;
    const r = T.tidy(() => {
      kept = T.keep(T.tensor([9]));
      return { list: [T.tensor([1])], map: new Map([['m', T.tensor([2])]]), nested: { t: T.tensor([3]) } };
    });
    expect(values(r.list[0]!)).toEqual([1]);
    expect(values(r.map.get('m')!)).toEqual([2]);
    expect(values(r.nested.t)).toEqual([3]);
    expect(values(kept)).toEqual([9]);
  });

  it('hands what an inner tidy returns to the outer one, which releases it unless returned again', () => {
    let fromInner!: T.Tensor;
    const out = T.tidy(() => {
      fromInner = T.tidy(() => T.tensor([1, 2]).mul(3));
      expect(values(fromInner)).toEqual([3, 6]); // alive inside the outer scope
      return fromInner.sum();
    });
    expect(isReleased(fromInner)).toBe(true);
    expect(out.item()).toBe(9);
  });

  it('a view keeps its storage alive when returned; disposing one view releases all of them', () => {
    const v = T.tidy(() => T.arange(6).reshape(2, 3).transpose(0, 1));
    expect(values(v.contiguous())).toEqual([0, 3, 1, 4, 2, 5]);
    const w = v.transpose(0, 1);
    T.dispose(v);
    T.dispose(v); // idempotent
    expect(() => w.toTypedArray()).toThrow(/disposed/);
  });

  it('releases everything made inside when fn throws, and rethrows', () => {
    let made!: T.Tensor;
    expect(() =>
      T.tidy(() => {
        made = T.tensor([1]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isReleased(made)).toBe(true);
  });

  it('follows async functions across await', async () => {
    let mid!: T.Tensor;
    const out = await T.tidy(async () => {
      mid = T.tensor([1, 2]);
      await new Promise((r) => setTimeout(r, 1));
      return mid.add(1);
    });
    expect(isReleased(mid)).toBe(true);
    expect(values(out)).toEqual([2, 3]);
  });
});

describe('results kept in the fast kernels memory', () => {
  it('are freed by tidy: a loop of tidied ops holds its result bytes flat', () => {
    T.setCpuKernels('fast');
    const a = T.randn([64, 64], new T.Generator(1));
    const step = () => {
      a.matmul(a).add(1).exp();
    };
    const before = T.cpuMemoryInfo().resultBytes;
    T.tidy(step);
    expect(T.cpuMemoryInfo().resultBytes).toBe(before);
    // Without tidy the results stay until the garbage collector and the event loop get to them.
    step();
    expect(T.cpuMemoryInfo().resultBytes).toBeGreaterThan(before);
    const memory = T.cpuMemoryInfo().memoryBytes;
    for (let i = 0; i < 50; i++) T.tidy(step);
    expect(T.cpuMemoryInfo().memoryBytes).toBe(memory); // freed blocks are reused: the memory does not grow
  });

  it('dataSync moves a result to an ordinary array first, so the array never dangles', () => {
    const a = T.tensor(new Float32Array(4096).map((_, i) => i));
    const y = a.mul(2);
    const bytes = T.cpuMemoryInfo().resultBytes;
    const d = y.dataSync();
    expect(d.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(T.cpuMemoryInfo().resultBytes).toBeLessThan(bytes); // its block went back
    expect(d[4095]).toBe(8190);
    d[0] = 42; // dataSync's array is still the tensor's own storage
    expect(y.toTypedArray()[0]).toBe(42);
  });
});
