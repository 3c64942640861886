import { Generator, randn, tensor, zeros, type Tensor } from '@oclt/tensor';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Linear, Module } from '../nn/index.js';
import { Adam, AdamW, EMA, SGD, clipGradNorm, cosineDecay, linearWarmup, warmupCosine } from './index.js';

const arr = (t: Tensor) => Array.from(t.toTypedArray());

/**
 * PyTorch's documented update rules (torch.optim docs, "Algorithm" boxes), written for one scalar parameter in
 * float64, independent of the classes under test.
 */
function sgdRef(p0: number, grads: number[], { lr, momentum = 0, dampening = 0, wd = 0, nesterov = false }: { lr: number; momentum?: number; dampening?: number; wd?: number; nesterov?: boolean }): number[] {
  let p = p0;
  let b = 0;
  const out: number[] = [];
  grads.forEach((g0, t) => {
    let g = g0 + wd * p;
    if (momentum !== 0) {
      b = t === 0 ? g : momentum * b + (1 - dampening) * g;
      g = nesterov ? g + momentum * b : b;
    }
    p -= lr * g;
    out.push(p);
  });
  return out;
}
function adamRef(p0: number, grads: number[], { lr, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0, decoupled = false }: { lr: number; b1?: number; b2?: number; eps?: number; wd?: number; decoupled?: boolean }): number[] {
  let p = p0;
  let m = 0;
  let v = 0;
  const out: number[] = [];
  grads.forEach((g0, i) => {
    const t = i + 1;
    let g = g0;
    if (decoupled) p *= 1 - lr * wd;
    else g += wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const mHat = m / (1 - b1 ** t);
    const vHat = v / (1 - b2 ** t);
    p -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    out.push(p);
  });
  return out;
}

/** Runs an optimizer over a float64 vector parameter with given per-step gradients; returns the trajectory. */
function run(make: (p: Tensor) => { step(): void }, p0: number[], grads: number[][]): number[][] {
  const p = tensor(p0, 'float64').requiresGrad_();
  const opt = make(p);
  return grads.map((g) => {
    p.grad = tensor(g, 'float64');
    opt.step();
    return arr(p);
  });
}

const stepGrads = fc.array(fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 5 });

describe('SGD', () => {
  it('follows PyTorch’s rule (momentum, dampening, weight decay, nesterov) in float64', () => {
    fc.assert(
      fc.property(
        stepGrads, fc.constantFrom(0, 0.9), fc.constantFrom(0, 0.1), fc.constantFrom(0, 0.01), fc.boolean(),
        (grads, momentum, dampening, wd, nest) => {
          const nesterov = nest && momentum > 0 && dampening === 0;
          const p0 = [0.5, -1, 2];
          const got = run((p) => new SGD([p], { lr: 0.1, momentum, dampening, weightDecay: wd, nesterov }), p0, grads);
          p0.forEach((x, k) => {
            const want = sgdRef(x, grads.map((g) => g[k]!), { lr: 0.1, momentum, dampening, wd, nesterov });
            want.forEach((w, t) => expect(got[t]![k]).toBeCloseTo(w, 12));
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('with momentum and a constant gradient moves by lr g (1 + (1+m) + (1+m+m^2))', () => {
    const traj = run((p) => new SGD([p], { lr: 0.5, momentum: 0.5 }), [0], [[2], [2], [2]]);
    // Closed form: buffers 2, 3, 3.5 -> p = -1, -2.5, -4.25.
    expect(traj.map((x) => x[0])).toEqual([-1, -2.5, -4.25]);
  });
});

describe('Adam and AdamW', () => {
  it('Adam follows PyTorch’s rule with bias correction in float64', () => {
    fc.assert(
      fc.property(stepGrads, fc.constantFrom(0, 0.1), (grads, wd) => {
        const p0 = [0.3, -0.7, 1.5];
        const got = run((p) => new Adam([p], { lr: 0.01, weightDecay: wd }), p0, grads);
        p0.forEach((x, k) => adamRef(x, grads.map((g) => g[k]!), { lr: 0.01, wd }).forEach((w, t) => expect(got[t]![k]).toBeCloseTo(w, 12)));
      }),
      { numRuns: 40 },
    );
  });

  it('AdamW decays weights before the update (default weight decay 0.01)', () => {
    fc.assert(
      fc.property(stepGrads, (grads) => {
        const p0 = [0.3, -0.7, 1.5];
        const got = run((p) => new AdamW([p], { lr: 0.05, betas: [0.8, 0.99] }), p0, grads);
        p0.forEach((x, k) =>
          adamRef(x, grads.map((g) => g[k]!), { lr: 0.05, b1: 0.8, b2: 0.99, wd: 0.01, decoupled: true }).forEach((w, t) => expect(got[t]![k]).toBeCloseTo(w, 12)),
        );
      }),
      { numRuns: 40 },
    );
  });

  it('Adam’s first step moves every coordinate by lr * g / (|g| + eps) (closed form)', () => {
    const [first] = run((p) => new Adam([p], { lr: 0.1 }), [1, 1, 1], [[3, -0.002, 0]]);
    expect(first![0]).toBeCloseTo(1 - 0.1 * (3 / (3 + 1e-8)), 14);
    expect(first![1]).toBeCloseTo(1 + 0.1 * (0.002 / (0.002 + 1e-8)), 14);
    expect(first![2]).toBe(1);
  });

  it('skips parameters without a gradient and keeps per-parameter step counts', () => {
    const a = tensor([1], 'float64').requiresGrad_();
    const b = tensor([1], 'float64').requiresGrad_();
    const opt = new Adam([['a', a], ['b', b]], { lr: 0.1 });
    a.grad = tensor([1], 'float64');
    opt.step();
    expect(arr(b)).toEqual([1]);
    b.grad = tensor([1], 'float64');
    opt.step();
    // b's first step gets the first-step bias correction, so it also moves by ~lr.
    expect(arr(b)[0]).toBeCloseTo(0.9, 6);
    expect(opt.stateDict().scalars.steps).toEqual({ a: 2, b: 1 });
  });

  it('state export/import resumes the exact trajectory', () => {
    const grads = [[0.5, -1], [0.2, 0.3], [-0.4, 0.9], [1, 1]];
    const full = run((p) => new AdamW([['w', p]], { lr: 0.02 }), [0.1, 0.2], grads);
    const p = tensor([0.1, 0.2], 'float64').requiresGrad_();
    const opt = new AdamW([['w', p]], { lr: 0.02 });
    for (const g of grads.slice(0, 2)) {
      p.grad = tensor(g, 'float64');
      opt.step();
    }
    const state = opt.stateDict();
    expect(Object.keys(state.tensors).sort()).toEqual(['w.exp_avg', 'w.exp_avg_sq']);
    expect(JSON.parse(JSON.stringify(state.scalars))).toEqual(state.scalars);
    const q = tensor(arr(p), 'float64').requiresGrad_();
    const resumed = new AdamW([['w', q]], { lr: 0.5 });
    resumed.loadStateDict(state);
    expect(resumed.lr).toBe(0.02);
    for (const g of grads.slice(2)) {
      q.grad = tensor(g, 'float64');
      resumed.step();
    }
    expect(arr(q)).toEqual(full[3]);
    expect(() => new SGD([['w', q]], { lr: 1 }).loadStateDict(state)).toThrow(/SGD.loadStateDict: state is for 'AdamW', not 'SGD'/);
    const bad = { ...state, tensors: { 'w.exp_avg': zeros([3], 'float64') } };
    expect(() => resumed.loadStateDict(bad)).toThrow(/'w\.exp_avg' has shape \[3\], the parameter \[2\]/);
  });

  it('rejects bad hyper-parameters and gradients of the wrong shape', () => {
    const p = tensor([1, 2]).requiresGrad_();
    expect(() => new Adam([p], { betas: [1, 0.9] })).toThrow(/Adam: betas must lie in \[0, 1\)/);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/SGD: lr must be a finite number >= 0, got -1/);
    expect(() => new SGD([p], { lr: 1, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    const opt = new SGD([p], { lr: 1 });
    p.grad = zeros([3]);
    expect(() => opt.step()).toThrow(/SGD.step: gradient of '0' has shape \[3\], the parameter \[2\]/);
  });
});

describe('clipGradNorm', () => {
  it('returns the global 2-norm and scales gradients to maxNorm when above it', () => {
    const a = tensor([3, 0]).requiresGrad_();
    const b = tensor([[4]]).requiresGrad_();
    const c = tensor([1]).requiresGrad_(); // no gradient: skipped
    a.grad = tensor([3, 0]);
    b.grad = tensor([[4]]);
    const shared = a.grad;
    expect(clipGradNorm([a, b, c], 1)).toBeCloseTo(5, 6);
    const f = 1 / (5 + 1e-6);
    expect(arr(a.grad)[0]).toBeCloseTo(3 * f, 6);
    expect(arr(b.grad!)[0]).toBeCloseTo(4 * f, 6);
    expect(arr(shared)).toEqual([3, 0]); // not modified in place
    expect(c.grad).toBeNull();
    // Below the threshold: untouched.
    expect(clipGradNorm([a, b], 10)).toBeCloseTo(1, 5);
    expect(arr(a.grad)[0]).toBeCloseTo(3 * f, 6);
    // Max norm.
    a.grad = tensor([-7, 2]);
    expect(clipGradNorm([a], 100, Infinity)).toBe(7);
  });
});

describe('learning-rate schedules', () => {
  it('warmup is linear, cosine hits its closed-form points, warmup+cosine joins them', () => {
    const warm = linearWarmup(1e-3, 4);
    expect([0, 1, 2, 4, 100].map(warm)).toEqual([0, 2.5e-4, 5e-4, 1e-3, 1e-3]);
    const cos = cosineDecay(1, 10, 0.1);
    expect(cos(0)).toBe(1);
    expect(cos(5)).toBeCloseTo(0.55, 14); // cos(pi/2) = 0
    expect(cos(10)).toBeCloseTo(0.1, 14);
    expect(cos(20)).toBeCloseTo(0.1, 14);
    const wc = warmupCosine(2, 10, 110);
    expect(wc(5)).toBe(1);
    expect(wc(10)).toBe(2);
    expect(wc(60)).toBeCloseTo(1, 14);
    expect(wc(110)).toBeCloseTo(0, 14);
    expect(() => warmupCosine(1, 10, 10)).toThrow(/totalSteps \(10\) must exceed warmupSteps \(10\)/);
  });
});

describe('EMA', () => {
  class Tiny extends Module {
    w = this.addParameter('w', tensor([0, 10], 'float64'));
  }

  it('averages with the given decay, and with warmup uses min(decay, (1+n)/(10+n))', () => {
    const m = new Tiny();
    const ema = new EMA(m, { decay: 0.5 });
    m.w.dataSync().set([2, 10]);
    ema.update(m);
    expect(arr(ema.shadowParameters().w!)).toEqual([1, 10]);
    const w = new EMA(m, { decay: 0.99, warmup: true });
    const ds: number[] = [];
    for (let n = 0; n < 3; n++) {
      ds.push(w.currentDecay());
      w.update(m);
    }
    expect(ds).toEqual([0.1, 2 / 11, 3 / 12]);
    expect(new EMA(m, { decay: 0.2, warmup: true }).currentDecay()).toBe(0.1);
    expect(new EMA(m, { decay: 0.05, warmup: true }).currentDecay()).toBe(0.05);
  });

  it('store / copyTo / restore swap the EMA weights in for sampling and back', () => {
    const gen = new Generator(0);
    const model = new Linear(3, 2, { generator: gen, dtype: 'float64' });
    const ema = new EMA(model, { decay: 0.9 });
    const initial = arr(model.weight);
    model.weight.dataSync().set(randn([2, 3], gen, 'float64').toTypedArray());
    const trained = arr(model.weight);
    ema.update(model);
    ema.store(model);
    ema.copyTo(model);
    arr(model.weight).forEach((v, i) => expect(v).toBeCloseTo(0.9 * initial[i]! + 0.1 * trained[i]!, 14));
    ema.restore(model);
    expect(arr(model.weight)).toEqual(trained);
    expect(() => ema.restore(model)).toThrow(/EMA.restore: nothing stored/);
    const state = ema.stateDict();
    const other = new EMA(model, { decay: 0.9 });
    other.loadStateDict(state);
    expect(arr(other.shadowParameters().weight!)).toEqual(arr(ema.shadowParameters().weight!));
    expect(other.numUpdates).toBe(1);
    expect(() => ema.copyTo(new Linear(3, 3, { generator: gen, dtype: 'float64' }))).toThrow(/EMA.copyTo: 'weight' has shape \[3, 3\], the EMA \[2, 3\]/);
  });
});
