/**
 * The fast kernels' heap: the allocator against an independent model of its invariants (blocks never overlap, stay
 * in bounds, and are at least as large as asked), and the runtime's tensor results against the reference kernels.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { HeapAllocator, isHeapArray, sizeClass } from './heap.js';

describe('sizeClass', () => {
  it('covers the request, is 64-byte aligned and wastes at most 12.5% above 4 KiB', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (bytes) => {
        const c = sizeClass(bytes);
        expect(c).toBeGreaterThanOrEqual(bytes);
        expect(c % 64).toBe(0);
        if (bytes > 4096) expect(c).toBeLessThanOrEqual(bytes * 1.125 + 64);
      }),
    );
  });
});

describe('HeapAllocator', () => {
  it('hands out disjoint in-bounds blocks through any sequence of allocations and frees', () => {
    const op = fc.oneof(fc.record({ alloc: fc.integer({ min: 1, max: 50_000 }) }), fc.record({ free: fc.nat() }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const base = 4096;
        const limit = base + 400_000;
        let grownTo = base;
        const heap = new HeapAllocator(base, limit, (top) => (grownTo = Math.max(grownTo, top)));
        const live: [number, number][] = []; // [address, requested bytes]
        for (const o of ops) {
          if ('alloc' in o) {
            const p = heap.alloc(o.alloc);
            if (p === null) {
              // Only when no gap between live blocks (or above the last one) can hold it, even after merging.
              const edges = live.map(([q, n]) => [q, q + sizeClass(n)] as const).sort((u, v) => u[0] - v[0]);
              let prevEnd = base;
              for (const [start, end] of [...edges, [limit, limit] as const]) {
                expect(start - prevEnd).toBeLessThan(sizeClass(o.alloc));
                prevEnd = end;
              }
              continue;
            }
            expect(p % 64).toBe(0);
            expect(p).toBeGreaterThanOrEqual(base);
            expect(p + o.alloc).toBeLessThanOrEqual(Math.min(limit, grownTo));
            for (const [q, n] of live) expect(p + o.alloc <= q || q + n <= p, `block ${p}+${o.alloc} overlaps ${q}+${n}`).toBe(true);
            live.push([p, o.alloc]);
          } else if (live.length > 0) {
            const [p] = live.splice(o.free % live.length, 1)[0]!;
            heap.free(p);
          }
        }
        expect(heap.used).toBe(live.reduce((s, [, n]) => s + sizeClass(n), 0));
        for (const [p] of live) heap.free(p);
        expect(heap.used).toBe(0);
      }),
    );
  });

  it('reuses freed blocks, merges free neighbours and gives the top back under pressure', () => {
    const heap = new HeapAllocator(0, 1 << 20, () => {});
    const a = heap.alloc(300_000)!;
    heap.free(a);
    expect(heap.alloc(300_000)).toBe(a); // same class: reused
    const b = heap.alloc(300_000)!;
    heap.free(a);
    heap.free(b);
    // 600 KB of free blocks of another class: only merging them (and lowering the top) makes room for 900 KB.
    expect(heap.alloc(900_000)).toBe(0);
    expect(heap.alloc(900_000)).toBeNull();
    expect(() => heap.free(12345)).toThrow(/not a live block/);
  });
});

describe('tensor results in the heap', () => {
  afterAll(() => T.cpuResultLimit(1024 * 2 ** 20));
  const x = T.tensor(new Float32Array(5000).map((_, i) => Math.sin(i)));

  it('are read in place by the next op and equal the reference kernels', () => {
    T.setCpuKernels('fast');
    const fast = T.tidy(() => x.mul(3).exp().sub(x).sum());
    const y = x.mul(3);
    expect(isHeapArray(y.storage.data!)).toBe(true);
    T.setCpuKernels('reference');
    const ref = x.mul(3).exp().sub(x).sum();
    T.setCpuKernels('fast');
    // Both sum in float64 in different orders: the float32 results agree to a few ulp of the sum.
    expect(Math.abs(fast.item() - ref.item())).toBeLessThanOrEqual(4 * 2 ** -24 * Math.abs(ref.item()) + 1e-3);
  });

  it('go to ordinary arrays beyond the limit, with the same values', () => {
    T.cpuResultLimit(64); // (the smallest results are 64 bytes: none of these fits)
    const y = x.mul(3);
    expect(isHeapArray(y.storage.data!)).toBe(false);
    T.cpuResultLimit(1024 * 2 ** 20);
    const z = x.mul(3);
    expect(isHeapArray(z.storage.data!)).toBe(true);
    expect(Array.from(y.toTypedArray())).toEqual(Array.from(z.toTypedArray()));
  });

  it('an array of the heap wrapped as a new tensor is copied (its memory belongs to another storage)', () => {
    const y = x.mul(2);
    const wrapped = T.fromTypedArray(y.storage.data!.subarray(0, 10) as Float32Array);
    expect(isHeapArray(wrapped.storage.data!)).toBe(false);
    T.dispose(y);
    expect(wrapped.toTypedArray()[1]).toBeCloseTo(2 * Math.sin(1), 6);
  });
});
