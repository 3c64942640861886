/**
 * The fast kernels on an ordinary (unshared) WebAssembly.Memory: what a browser page without cross-origin
 * isolation gets. Oracle: the same ops on the shared memory with one thread, bit for bit (the kernels are the same
 * bytes), and the reference kernels for the op that does not fit the fixed memory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as T from '../../../index.js';
import { bitsOf } from '../../../test-helpers.js';
import { KernelMemoryFull, sharedMemoryUnavailable, simdSupported, WasmRuntime } from './runtime.js';

function ops(): Float32Array[] {
  const g = new T.Generator(7);
  const a = T.randn([130, 257], g);
  const b = T.randn([257, 66], g);
  const x = T.randn([2, 8, 12, 12], g);
  const w = T.randn([16, 8, 3, 3], g);
  return [T.matmul(a, b), T.conv2d(x, w, null, { padding: 1 }), T.softmax(a, -1), T.silu(a), T.sum(a, 0), T.exp(T.mul(b, 0.5))].map((t) => t.toTypedArray() as Float32Array);
}

afterAll(() => {
  T.setCpuKernels('fast', { sharedMemory: 'auto' });
  T.cpuThreads(2);
});

describe.runIf(simdSupported())('cpu kernels on an unshared memory', () => {
  it('Node has a shared memory (so the comparison below is of two different memories)', () => {
    expect(sharedMemoryUnavailable()).toBeNull();
  });

  it('gives bitwise the results of the shared memory on one thread, and says which memory it has', () => {
    T.setCpuKernels('fast', { sharedMemory: 'auto' });
    T.cpuThreads(1);
    const shared = ops();
    T.setCpuKernels('fast', { sharedMemory: false });
    const info = T.getBackend('cpu').info();
    expect(info).toMatch(/^cpu:wasm-simd(\(relaxed\))? x1 thread \(unshared memory: sharedMemory: false\)$/);
    const unshared = ops();
    for (let i = 0; i < shared.length; i++) expect(bitsOf(unshared[i]!).equals(bitsOf(shared[i]!))).toBe(true);
    // cpuThreads cannot give an unshared memory threads: it stays one, and the results stay the same.
    expect(T.cpuThreads(2)).toBe(1);
    const again = ops();
    for (let i = 0; i < shared.length; i++) expect(bitsOf(again[i]!).equals(bitsOf(shared[i]!))).toBe(true);
    T.setCpuKernels('fast', { sharedMemory: 'auto' });
    expect(T.getBackend('cpu').info()).toMatch(/^cpu:wasm-simd(\(relaxed\))? x2 threads$/);
  });

  it('keeps tensor results in a memory that never grows (growing would detach them)', () => {
    T.setCpuKernels('fast', { sharedMemory: false });
    const before = T.cpuMemoryInfo().memoryBytes;
    const g = new T.Generator(1);
    const kept = Array.from({ length: 8 }, () => T.matmul(T.randn([256, 256], g), T.randn([256, 256], g)));
    const first = kept[0]!.borrowData();
    expect(first.length).toBe(256 * 256);
    expect(T.cpuMemoryInfo().memoryBytes).toBe(before);
    expect(T.cpuMemoryInfo().resultBytes).toBeGreaterThan(0);
    for (const t of kept) T.dispose(t);
  });

  it('reserves a fixed memory and reports KernelMemoryFull beyond it (the registry then runs the reference kernel)', () => {
    const rt = new WasmRuntime(false, 4, null, { shared: false, bytes: 40 * 2 ** 20 });
    expect(rt.maxThreads).toBe(1);
    expect(rt.memory.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    const buffer = rt.memory.buffer;
    rt.reset();
    const p = rt.alloc(8 * 2 ** 20);
    expect(p).toBeGreaterThan(0);
    expect(() => rt.alloc(64 * 2 ** 20)).toThrow(KernelMemoryFull);
    expect(rt.memory.buffer).toBe(buffer);
    rt.reset();
  });

  it('runs a 64 MiB op within the fixed memory without growing it', () => {
    T.setCpuKernels('fast', { sharedMemory: false });
    const big = T.full([2 ** 24], 0.5); // 64 MiB
    const before = T.cpuMemoryInfo().memoryBytes;
    expect(T.sum(big).item()).toBe(2 ** 23);
    expect(T.cpuMemoryInfo().memoryBytes).toBe(before);
  });
});
