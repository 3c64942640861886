/**
 * The engine's semantics: accumulation across uses and across backward calls, leaves vs intermediates,
 * detach, noGrad, seeds, dtypes, errors, the functional forms, and exact values at ties and bounds.
 * Oracles are hand-derived derivatives (closed forms) unless said otherwise.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BINARY_OPS, binary, clamp, exp, Generator, isGradEnabled, max, maximum, minimum, noGrad, randn, tensor, unary, UNARY_OPS,
  type BinaryOp, type Tensor, type UnaryOp,
} from '@oclt/tensor';
import * as T from '@oclt/tensor';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { backward, gradients, retainGrad, topologicalOrder } from './engine.js';
import { detach, grad, valueAndGrad } from './functional.js';
import { gradientTable } from './gradients/index.js';

const f64 = (v: any) => tensor(v, 'float64');
const leaf = (v: any) => f64(v).requiresGrad_();

describe('backward', () => {
  it('accumulates over every use of a tensor (d/dx of x*x + 3x + x = 2x + 4)', () => {
    const x = leaf([1, -2, 0.5]);
    x.mul(x).add(x.mul(3)).add(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([6, 0, 5]);
  });

  it('accumulates into .grad across backward calls, as new tensors', () => {
    const x = leaf([1, 2]);
    x.mul(x).sum().backward();
    const first = x.grad!;
    x.mul(x).sum().backward();
    expect(x.grad!.toArray()).toEqual([4, 8]);
    expect(first.toArray()).toEqual([2, 4]); // the earlier gradient tensor was not mutated
    expect(x.grad).not.toBe(first);
  });

  it('gives each leaf its own gradient storage, even when the gradients are equal', () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    a.add(b).sum().backward();
    expect(a.grad!.storage).not.toBe(b.grad!.storage);
    a.grad!.dataSync()[0] = 100;
    expect(b.grad!.toArray()).toEqual([1, 1]);
  });

  it('keeps no gradient on intermediates unless retainGrad asks', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2);
    const k = retainGrad(x.mul(3));
    h.add(k).mul(h).sum().backward();
    expect(h.grad).toBeNull();
    // L = (2x + 3x) * 2x = 10 x^2, dL/dk = h = 2x
    expect(k.grad!.toArray()).toEqual([2, 4]);
    expect(x.grad!.toArray()).toEqual([20, 40]);
  });

  it('uses a diamond-shaped graph once per node (topological order, each node after all its uses)', () => {
    const x = leaf([0.3]);
    const a = x.exp();
    const b = a.mul(a); // e^(2x)
    const c = b.add(a); // e^(2x) + e^x
    const order = topologicalOrder(c);
    expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    expect(order.filter((t) => t === a)).toHaveLength(1);
    c.sum().backward();
    expect(x.grad!.item()).toBeCloseTo(2 * Math.exp(0.6) + Math.exp(0.3), 12);
  });

  it('stops gradients at detach (stop-gradient)', () => {
    const x = leaf([2]);
    // L = x * stop(x): dL/dx = stop(x) = 2, not 2x = 4
    x.mul(detach(x)).sum().backward();
    expect(x.grad!.toArray()).toEqual([2]);
    expect(x.detach().requiresGrad).toBe(false);
  });

  it('records nothing under noGrad, and backward itself runs under noGrad', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(() => y.sum().backward()).toThrow(/does not require gradients/);
    x.mul(x).sum().backward();
    expect(x.grad!.requiresGrad).toBe(false);
    expect(x.grad!.node).toBeNull();
    expect(isGradEnabled()).toBe(true);
  });

  it('takes a seed gradient for a non-scalar output and checks its shape', () => {
    const x = leaf([1, 2, 3]);
    backward(x.mul(x), f64([1, 0, -1])); // the function form of x.mul(x).backward(seed)
    expect(x.grad!.toArray()).toEqual([2, 0, -6]);
    expect(() => x.mul(2).backward()).toThrow(/shape \[3\].*reduce it to one element/);
    expect(() => x.mul(2).backward(f64([1, 2]))).toThrow(/gradient has shape \[2\], expected the output's shape \[3\]/);
  });

  it('gives gradients the dtype of their leaf when dtypes mix', () => {
    const x32 = tensor([1, 2]).requiresGrad_();
    const y64 = leaf([3, 4]);
    x32.mul(y64).sum().backward(); // the product is float64; x32's gradient comes back as float32
    expect(x32.grad!.dtype).toBe('float32');
    expect(x32.grad!.toArray()).toEqual([3, 4]);
    expect(y64.grad!.dtype).toBe('float64');
    const z = leaf([1.5]);
    z.astype('float32').mul(2).sum().backward();
    expect(z.grad!.dtype).toBe('float64');
    expect(z.grad!.toArray()).toEqual([2]);
  });

  it('names the op when a gradient is missing', () => {
    const x = leaf([1]);
    const y = x.mul(2);
    (y as any).node = { op: 'mysteryOp', inputs: [x], attrs: {} };
    expect(() => y.sum().backward()).toThrow(/op 'mysteryOp' \(output shape \[1\]\) has no gradient/);
  });

  it('is installed as Tensor.backward by importing @oclt/autograd', async () => {
    await import('./index.js');
    const x = leaf([3]);
    x.mul(x).backward();
    expect(x.grad!.toArray()).toEqual([6]);
  });

  it('handles deep chains without overflowing the stack', () => {
    const x = leaf([1]);
    let y: Tensor = x;
    for (let i = 0; i < 20000; i++) y = y.add(1);
    y.sum().backward();
    expect(x.grad!.toArray()).toEqual([1]);
  });
});

describe('values at ties and bounds (subgradient conventions)', () => {
  it('maximum/minimum split the gradient evenly on ties', () => {
    const a = leaf([1, 2, 3]);
    const b = leaf([1, 5, 0]);
    maximum(a, b).sum().backward();
    expect(a.grad!.toArray()).toEqual([0.5, 0, 1]);
    expect(b.grad!.toArray()).toEqual([0.5, 1, 0]);
    const c = leaf([1, 2]);
    const d = leaf([1, 0]);
    minimum(c, d).sum().backward();
    expect(c.grad!.toArray()).toEqual([0.5, 0]);
    expect(d.grad!.toArray()).toEqual([0.5, 1]);
  });

  it('max over an axis shares the gradient among tied maxima', () => {
    const x = leaf([[1, 3, 3], [2, 0, 1]]);
    max(x, 1).mul(f64([6, 1])).sum().backward();
    expect(x.grad!.toArray()).toEqual([[0, 3, 3], [1, 0, 0]]);
  });

  it('clamp passes the gradient at the bounds and blocks it outside', () => {
    const x = leaf([-2, -1, 0, 1, 2]);
    clamp(x, -1, 1).sum().backward();
    expect(x.grad!.toArray()).toEqual([0, 1, 1, 1, 0]);
  });

  it('relu has zero slope at 0; pow of base 0 has finite slopes', () => {
    const x = leaf([-1, 0, 2]);
    x.relu().sum().backward();
    expect(x.grad!.toArray()).toEqual([0, 0, 1]);
    const b = leaf([0, 0, 2]);
    const e = leaf([0, 2, 3]);
    b.pow(e).sum().backward();
    // d/db b^e = e b^(e-1): 0 (e = 0), 0, 12; d/de b^e = b^e log b: 0 where b = 0, 8 log 2
    expect(b.grad!.toArray()).toEqual([0, 0, 12]);
    expect(e.grad!.toArray()[2]).toBeCloseTo(8 * Math.log(2), 12);
    expect(e.grad!.toArray().slice(0, 2)).toEqual([0, 0]);
  });
});

describe('grad and valueAndGrad', () => {
  it('compute d/dx sum(exp(x) * y) = exp(x) * y without touching any .grad', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 5 }), (seed, n) => {
        const g = new Generator(seed);
        const x = randn([n], g, 'float64').requiresGrad_();
        const y = randn([n], g, 'float64');
        const f = (a: Tensor, b: Tensor) => exp(a).mul(b).sum();
        const dx = grad(f)(x, y);
        const [value, [gx, gy]] = valueAndGrad(f, [0, 1])(x, y);
        const ex = (x.toTypedArray() as Float64Array).map(Math.exp);
        const yv = y.toTypedArray();
        expect(Array.from(dx.toTypedArray())).toEqual(Array.from(ex.map((e, i) => e * yv[i]!)));
        expect(Array.from(gx!.toTypedArray())).toEqual(Array.from(dx.toTypedArray()));
        expect(Array.from(gy!.toTypedArray())).toEqual(Array.from(ex));
        expect(value.item()).toBeCloseTo(ex.reduce((s, e, i) => s + e * yv[i]!, 0), 10);
        expect(value.requiresGrad).toBe(false);
        expect(x.grad).toBeNull();
      }),
      { numRuns: 20 },
    );
  });

  it('gives zeros for an argument the value does not depend on, and rejects bad use', () => {
    const [, [ga, gb]] = valueAndGrad((a: Tensor, b: Tensor) => a.sum(), [0, 1])(f64([1, 2]), f64([3]));
    expect(ga!.toArray()).toEqual([1, 1]);
    expect(gb!.toArray()).toEqual([0]);
    expect(grad((a: Tensor) => f64([1]).sum())(f64([1, 2])).toArray()).toEqual([0, 0]);
    expect(() => grad((a: Tensor) => a)(f64([1, 2]))).toThrow(/grad: f must return a one-element tensor, got shape \[2\]/);
    expect(() => grad((a: Tensor) => a.sum(), 3)(f64([1]))).toThrow(/argnum 3 is out of range/);
    expect(() => grad((a: Tensor) => a.sum())(tensor([1], 'int32'))).toThrow(/must be floating/);
  });

  it('does not accumulate into parameters f closes over', () => {
    const w = leaf([2]);
    const gx = grad((x: Tensor) => x.mul(w).sum())(f64([5]));
    expect(gx.toArray()).toEqual([2]);
    expect(w.grad).toBeNull();
    const [gw] = gradients(w.mul(f64([5])).sum(), [w]);
    expect(gw!.toArray()).toEqual([5]);
    expect(w.grad).toBeNull();
  });
});

describe('the gradient table covers every op the tensor core records', () => {
  it('has an entry for every unary/binary op that records a node', () => {
    const x = leaf([0.5]);
    for (const op of Object.keys(UNARY_OPS) as UnaryOp[]) {
      const y = unary(op, x);
      if (y.node) expect(gradientTable, `unary op ${op}`).toHaveProperty(op);
    }
    for (const op of Object.keys(BINARY_OPS) as BinaryOp[]) {
      const y = binary(op, x, leaf([0.25]));
      if (y.node) expect(gradientTable, `binary op ${op}`).toHaveProperty(op);
    }
  });

  it("has an entry for every literal op name passed to record(...) in tensor/src/ops", () => {
    const dir = fileURLToPath(new URL('../../tensor/src/ops/', import.meta.url));
    const names = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      for (const m of readFileSync(dir + file, 'utf8').matchAll(/record\('([A-Za-z0-9]+)'/g)) names.add(m[1]!);
    }
    expect(names.size).toBeGreaterThan(15);
    for (const name of names) expect(gradientTable, `op ${name}`).toHaveProperty(name);
    // The ops recorded under a variable name (reduceOp, softmaxOp):
    for (const name of ['sum', 'max', 'min', 'softmax', 'logSoftmax']) expect(gradientTable).toHaveProperty(name);
  });
});

describe('memory of the backward pass', () => {
  const n = 5000; // above the size from which the fast kernels keep results in their memory
  const x = T.randn([n], new T.Generator(3)).requiresGrad_();
  const loss = () => x.mul(2).exp().add(x).mul(x).reshape(50, 100).sum(); // x used three times; a view; pass-through add

  it('releases every gradient it no longer needs: only the leaf gradients stay', () => {
    x.grad = null;
    const y = loss();
    const before = T.cpuMemoryInfo().resultBytes;
    y.backward();
    // Of everything the pass made, only x.grad may be left (20,000 bytes, in a 20,480-byte size class, when it is
    // in the kernels' memory: clone() copies with a plain loop today, so it is an ordinary array).
    expect(T.cpuMemoryInfo().resultBytes - before).toBe(x.grad!.storage.free ? 20_480 : 0);
    // ...and it is right: d/dx [(exp(2x) + x) x] = 2x exp(2x) + exp(2x) + 2x.
    const xs = x.toTypedArray();
    const g = x.grad!.toTypedArray();
    for (let i = 0; i < n; i += 97) {
      const e = Math.exp(2 * xs[i]!);
      expect(g[i]).toBeCloseTo(2 * xs[i]! * e + e + 2 * xs[i]!, 2);
    }
  });

  it("never disposes the forward graph or the caller's seed", () => {
    const y = x.mul(3).reshape(50, 100);
    const seed = T.ones([50, 100]);
    T.tidy(() => y.backward(seed));
    expect(() => y.toTypedArray()).not.toThrow();
    expect(() => seed.toTypedArray()).not.toThrow();
    // x.grad itself was made inside the tidy, so it went with it (keep() it to hold on to it).
    expect(() => x.grad!.toTypedArray()).toThrow(/disposed/);
  });
});
