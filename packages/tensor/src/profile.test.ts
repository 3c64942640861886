/**
 * profile() (profile.ts): exact kernel counts for known graphs on the fast and the reference kernels, self times
 * that are non-negative and add up to no more than the wall time, sections and scopes, and that outside a profile
 * the kernel tables hold the kernels themselves (no profiling code on the op path). No timed assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from './index.js';

const kernelCounts = (p: T.Profile) => {
  const out: Record<string, number> = {};
  for (const e of p.entries) if (e.op !== '(js)') out[e.op] = (out[e.op] ?? 0) + e.calls;
  return out;
};
const sumMs = (p: T.Profile) => p.entries.reduce((s, e) => s + e.ms, 0);

describe.each(['fast', 'reference'] as const)('profile on the %s kernels', (mode) => {
  beforeAll(() => T.setCpuKernels(mode));
  afterAll(() => T.setCpuKernels('fast'));

  it('counts each kernel call of a known graph exactly', () => {
    const a = T.randn([64, 64], new T.Generator(0));
    const p = T.profile(() => {
      const b = T.add(a, a);
      const c = T.mul(b, 2);
      T.sum(c).item();
      b.reshape([4096]).sum(); // a view: no kernel; then one sum
      a.transpose(0, 1).contiguous(); // one copy
      a.contiguous(); // already row-major: no kernel
    });
    expect(kernelCounts(p)).toEqual({ add: 1, mul: 1, sum: 2, copy: 1 });
    expect(p.byOp().find((t) => t.key === 'sum')?.calls).toBe(2);
    expect(p.entries.every((e) => e.phase === '(top)' && e.scope === '-' && e.grad === null)).toBe(true);
  });

  it('times are non-negative and sum to no more than the wall time', () => {
    const a = T.randn([128, 128], new T.Generator(1));
    const p = T.profile(() => {
      for (let i = 0; i < 5; i++) T.matmul(a, a).softmax(-1).sum().item();
    });
    expect(kernelCounts(p)).toEqual({ matmul: 5, softmax: 5, sum: 5 });
    for (const e of p.entries) expect(e.ms).toBeGreaterThanOrEqual(0);
    expect(p.wallMs).toBeGreaterThanOrEqual(0);
    expect(sumMs(p)).toBeLessThanOrEqual(p.wallMs + 1e-9);
    for (const totals of [p.byKind(), p.byOp(), p.byPhase()]) {
      expect(totals.reduce((s, t) => s + t.ms, 0)).toBeCloseTo(sumMs(p), 9);
      expect(totals.reduce((s, t) => s + t.fraction, 0)).toBeLessThanOrEqual(1 + 1e-9);
    }
    expect(p.byKind().map((t) => t.key)).toEqual(expect.arrayContaining(['GEMM (matmul)', 'softmax', 'reductions']));
    expect(p.toMarkdown()).toContain('| GEMM (matmul) | 5 |');
  });
});

describe('profile hooks', () => {
  it('outside a profile the kernel tables hold the kernels themselves; inside, timing wrappers', () => {
    const x = T.tensor([1, 2, 3]);
    const before = T.findKernel('add', [x]).fn;
    let inside: T.KernelFn | null = null;
    expect(T.isProfiling()).toBe(false);
    T.profile(() => {
      expect(T.isProfiling()).toBe(true);
      inside = T.findKernel('add', [x]).fn;
    });
    expect(inside).not.toBe(before);
    expect(T.findKernel('add', [x]).fn).toBe(before);
    expect(T.isProfiling()).toBe(false);
  });

  it('restores the tables when fn throws, refuses to nest, and keeps a kernel registered meanwhile', () => {
    const x = T.tensor([1, 2, 3]);
    const before = T.findKernel('neg', [x]).fn;
    expect(() =>
      T.profile(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(T.findKernel('neg', [x]).fn).toBe(before);
    expect(() => T.profile(() => T.profile(() => 0))).toThrow(/already running/);
    expect(T.isProfiling()).toBe(false);
    const replacement: T.KernelFn = (inputs, attrs) => before(inputs, attrs);
    T.profile(() => T.registerKernel('cpu', 'neg', replacement));
    const kept = T.findKernel('neg', [x]).fn;
    expect(kept).not.toBe(before);
    T.registerKernel('cpu', 'neg', before);
    expect(() => T.profile(() => Promise.resolve())).toThrow(/profileAsync/);
  });

  it('sections and scopes are plain calls outside a profile and label the kernels inside one', () => {
    const a = T.tensor([1, 2, 3]);
    expect(T.profileSection('optimizer', () => 7)).toBe(7);
    expect(T.profileScope('GroupNorm', () => 8)).toBe(8);
    const p = T.profile(() => {
      T.profileSection('optimizer', () => T.add(a, 1));
      T.profileScope('GroupNorm', () => T.mul(a, a));
      T.neg(a);
    });
    const find = (op: string) => p.entries.filter((e) => e.op === op);
    expect(find('add')).toMatchObject([{ phase: 'optimizer', scope: '-', calls: 1, kind: 'optimizer update' }]);
    expect(find('mul')).toMatchObject([{ phase: '(top)', scope: 'GroupNorm', calls: 1, kind: 'norms (elementwise + reductions)' }]);
    expect(find('neg')).toMatchObject([{ phase: '(top)', scope: '-', calls: 1, kind: 'elementwise' }]);
    expect(p.byPhase().map((t) => t.key).sort()).toEqual(['(top)', 'optimizer']);
  });

  it("modules' forward passes become scopes named by class, and the tensors their kernels made remember it", () => {
    class Doubler {
      forward(x: T.Tensor): T.Tensor {
        return x.mul(2);
      }
    }
    class Outer {
      inner = new Doubler();
      forward(x: T.Tensor): T.Tensor {
        return this.inner.forward(x).add(1);
      }
    }
    const m = new Outer();
    const x = T.tensor([1, 2]);
    let made: T.Tensor | null = null;
    const p = T.profile(
      () => {
        made = m.forward(x);
      },
      { modules: [m, m.inner] },
    );
    expect(p.entries.find((e) => e.op === 'mul')?.scope).toBe('Doubler');
    expect(p.entries.find((e) => e.op === 'add')?.scope).toBe('Outer');
    expect(T.forwardScopeOf(made!)).toBe('Outer');
    expect(Object.prototype.hasOwnProperty.call(m, 'forward')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(m.inner, 'forward')).toBe(false);
    expect(Array.from(m.forward(x).toTypedArray())).toEqual([3, 5]);
  });

  it('shapes: true keys kernels by their inputs\' shapes', () => {
    const a = T.zeros([2, 3]);
    const p = T.profile(() => T.add(a, T.zeros([3])), { shapes: true });
    expect(p.entries.find((e) => e.op.startsWith('add'))).toMatchObject({ op: 'add [2,3]x[3]', kind: 'elementwise', calls: 1 });
  });

  it('profileAsync times an async function', async () => {
    const a = T.tensor([1, 2, 3]);
    const p = await T.profileAsync(async () => {
      T.add(a, a);
      await new Promise((r) => setTimeout(r, 1));
      T.add(a, a);
    });
    expect(kernelCounts(p)).toEqual({ add: 2 });
    expect(sumMs(p)).toBeLessThanOrEqual(p.wallMs + 1e-9);
    expect(T.isProfiling()).toBe(false);
  });
});
