import { describe, expect, it } from 'vitest';
import * as T from '@oclt/tensor';
import { BENCH_CONV, BENCH_CONV_FLOPS, randomArray } from './cases.js';
import { GPUJS_BENCH_CASES, gpujsBenchCaseFlops, gpujsBenchContenders } from './gpujs.js';

describe('gpujs bench cases', () => {
  it('has the cases and flop counts the suite always reported', () => {
    expect([...GPUJS_BENCH_CASES]).toEqual(['matmul-256', 'matmul-512', 'conv2d-fwd', 'conv2d-dinput', 'conv2d-dweight', 'add-1m', 'sum-1m', 'softmax-1024x1024']);
    expect(BENCH_CONV).toEqual({ n: 8, c: 64, o: 64, h: 32, w: 32, k: 3, pad: 1 });
    expect(BENCH_CONV_FLOPS).toBe(603_979_776);
    expect(GPUJS_BENCH_CASES.map(gpujsBenchCaseFlops)).toEqual([2 * 256 ** 3, 2 * 512 ** 3, BENCH_CONV_FLOPS, BENCH_CONV_FLOPS, BENCH_CONV_FLOPS, undefined, undefined, undefined]);
    expect(() => gpujsBenchCaseFlops('nope')).toThrow(/unknown case 'nope'/);
  });

  it('runs a small case on gpu.js cpu mode and reads back the op result', async () => {
    const { contenders, notes, backends } = await gpujsBenchContenders({ modes: ['cpu'], cases: ['matmul-8'] });
    try {
      if (backends.length === 0) return void expect(notes.length).toBeGreaterThan(0); // gpu.js not loadable here
      expect(contenders.map((c) => [c.case, c.impl, c.flops])).toEqual([['matmul-8', 'oclt-gpujs-cpu', 1024]]);
      const c = contenders[0]!;
      expect(c.info).toMatch(/^gpujs:cpu/);
      await c.setup!();
      const got = c.run() as Float32Array;
      await c.teardown!();
      expect(got).toBeInstanceOf(Float32Array);
      const want = T.matmul(T.tensor(randomArray(64, 17)).reshape(8, 8), T.tensor(randomArray(64, 18)).reshape(8, 8)).toTypedArray();
      expect(got.length).toBe(64);
      for (let i = 0; i < 64; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
    } finally {
      for (const b of backends) b.destroy();
      T.setBackend('cpu');
    }
  });
});
