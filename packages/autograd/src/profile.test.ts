/**
 * profile() of @oclt/tensor over autograd: the backward pass, gradient clipping, the optimizer and the EMA are
 * phases; a gradient entry's kernels are charged to the forward op it differentiates and to the module scope that
 * op ran in; counts are exact. No timed assertion.
 */
import { describe, expect, it } from 'vitest';
import * as T from '@oclt/tensor';
import { Adam, EMA, GroupNorm, Linear, Module, clipGradNorm } from './index.js';

class Net extends Module {
  readonly fc = this.addModule('fc', new Linear(4, 8, { generator: new T.Generator(0) }));
  readonly norm = this.addModule('norm', new GroupNorm(2, 8));
  override forward(x: T.Tensor): T.Tensor {
    return this.norm.forward(this.fc.forward(x).reshape(3, 8, 1, 1)).silu();
  }
}

describe('profile of a training step', () => {
  it('charges the backward kernels to the forward op and module they differentiate, with exact counts', () => {
    const w = T.randn([5, 6], new T.Generator(0)).requiresGrad_();
    const x = T.randn([6, 7], new T.Generator(1)); // needs no gradient
    const p = T.profile(() => {
      const y = T.profileScope('Block', () => T.matmul(w, x));
      y.mul(y).sum().backward();
    });
    const backwardOf = (op: string) => p.entries.filter((e) => e.phase === 'backward' && e.grad === op && e.op !== '(js)');
    // d(sum(y*y))/dw = (2 y) x^T: mul's gradient runs mul(dy, b) and mul(dy, a) (both operands are y), matmul's one
    // product for w only (x needs none): the counts are those of the gradient table's formulas.
    expect(backwardOf('matmul').map((e) => [e.op, e.calls, e.scope])).toEqual([['matmul', 1, 'Block']]);
    expect(backwardOf('mul').reduce((s, e) => s + (e.op === 'mul' ? e.calls : 0), 0)).toBe(2);
    expect(backwardOf('mul').every((e) => e.scope === '-')).toBe(true);
    const forward = p.entries.filter((e) => e.phase === '(top)' && e.op !== '(js)');
    expect(Object.fromEntries(forward.map((e) => [`${e.scope}/${e.op}`, e.calls]))).toEqual({ 'Block/matmul': 1, '-/mul': 1, '-/sum': 1 });
    expect(p.entries.filter((e) => e.phase === 'backward').reduce((s, e) => s + e.ms, 0)).toBeLessThanOrEqual(p.wallMs);
    expect(w.grad).not.toBeNull();
  });

  it('marks backward, clip, optimizer and ema as phases, and GroupNorm as norms in both passes', () => {
    const net = new Net();
    const opt = new Adam(net.namedParameters(), { lr: 1e-3 });
    const ema = new EMA(net, { decay: 0.9 });
    const x = T.randn([3, 4], new T.Generator(2));
    const step = () => {
      opt.zeroGrad();
      T.profileSection('forward', () => net.forward(x).square().mean()).backward();
      clipGradNorm(opt.params, 1);
      opt.step();
      ema.update(net);
    };
    step();
    const p = T.profile(step, { modules: net.modules() });
    expect(p.byPhase().map((t) => t.key).sort()).toEqual(['(top)', 'backward', 'clip', 'ema', 'forward', 'optimizer'].sort());
    const kinds = p.byKind().map((t) => t.key);
    expect(kinds).toEqual(expect.arrayContaining(['optimizer update', 'EMA update', 'gradient clipping', 'tape/backward overhead (JS)', 'norms (elementwise + reductions)', 'GEMM (matmul)']));
    const norms = p.entries.filter((e) => e.kind.startsWith('norms'));
    expect(new Set(norms.map((e) => e.phase))).toEqual(new Set(['forward', 'backward']));
    expect(norms.every((e) => e.scope === 'GroupNorm')).toBe(true);
    // The Linear's forward: one matmul; its backward: one matmul for the weight (the input needs no gradient).
    const mm = p.entries.filter((e) => e.op === 'matmul');
    expect(mm.map((e) => [e.phase, e.scope, e.calls]).sort()).toEqual([['backward', 'Linear', 1], ['forward', 'Linear', 1]].sort());
    // The optimizer and the EMA are plain loops: no kernel runs in them.
    expect(p.entries.filter((e) => (e.phase === 'optimizer' || e.phase === 'ema') && e.op !== '(js)')).toEqual([]);
    for (const m of net.modules()) expect(Object.prototype.hasOwnProperty.call(m, 'forward')).toBe(false);
  });
});
