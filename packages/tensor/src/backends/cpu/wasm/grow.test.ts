/**
 * How the kernels' memory grows (issue 20 item 5): a loop that keeps its results (no tidy) moves the heap's top at
 * almost every result. The memory used to grow by exactly what each result needed, one `memory.grow` per result
 * (34 per step of the MLP loop of bench plain-loop, 28% of its step time); it now grows by at least an eighth of
 * its size, so n results cost O(log n) grows, and it still stops exactly at the 2 GiB limit.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_MEMORY_BYTES, memoryGrowth, simdSupported, WasmRuntime } from './runtime.js';

const MiB = 2 ** 20;

function runtimeWithSpy(): { rt: WasmRuntime; grows: () => number } {
  const rt = new WasmRuntime(false, 1, null);
  const spy = vi.spyOn(rt.memory, 'grow');
  return { rt, grows: () => spy.mock.calls.length };
}

afterEach(() => {
  memoryGrowth.ahead = true;
  vi.restoreAllMocks();
});

describe.runIf(simdSupported())('the kernels memory grows ahead', () => {
  it('200 live results of 1 MiB take a few dozen grows, not one each', () => {
    const { rt, grows } = runtimeWithSpy();
    rt.storageLimit = 1024 * MiB;
    const live = [];
    for (let i = 0; i < 200; i++) {
      const s = rt.allocStorage(MiB / 4)!;
      expect(s).not.toBeNull();
      live.push(s);
    }
    // From ~17 MiB to ~217 MiB by steps of max(16 MiB, 1/8 of the size): 7 steps of 16 MiB up to 128 MiB, then at
    // most ln(217 / 128) / ln(1.125) ~ 4.5 more: 13 at most. One grow per result (the former policy) would be ~200.
    expect(grows()).toBeLessThanOrEqual(13);
    expect(rt.memory.buffer.byteLength).toBeLessThanOrEqual(Math.ceil(1.125 * (217 * MiB)) + 16 * MiB);
    // The results are intact across the grows: each holds its own values.
    live.forEach((s, i) => (s.data as Float32Array).fill(i));
    live.forEach((s, i) => expect((s.data as Float32Array)[12345]).toBe(i));
    rt.terminate();
  });

  it('the former policy (ahead: false) grows once per result (what the test above would see without the change)', () => {
    memoryGrowth.ahead = false;
    const { rt, grows } = runtimeWithSpy();
    rt.storageLimit = 1024 * MiB;
    for (let i = 0; i < 40; i++) rt.allocStorage(MiB / 4);
    expect(grows()).toBeGreaterThanOrEqual(20); // one per result beyond the ~16 MiB of the initial memory: 24
    rt.terminate();
  });

  it('stops exactly at the 2 GiB limit: growing ahead never asks beyond it', () => {
    const { rt } = runtimeWithSpy();
    rt.storageLimit = MAX_MEMORY_BYTES;
    let n = 0;
    // 96 MiB blocks (a size class of its own) until the heap is full: no grow may throw on the way.
    while (rt.allocStorage(24 * MiB) !== null) n++;
    expect(n).toBeGreaterThan(15);
    expect(rt.memory.buffer.byteLength).toBeLessThanOrEqual(MAX_MEMORY_BYTES);
    // A small result still fits in what is left below the limit, if anything is: it never throws.
    expect(() => rt.allocStorage(1024)).not.toThrow();
    rt.terminate();
  });
});
