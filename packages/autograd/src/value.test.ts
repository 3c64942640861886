/** The scalar Value engine against hand-derived derivatives and against the tensor engine. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '@oclt/tensor';
import { grad } from './functional.js';
import { Value } from './value.js';

describe('Value', () => {
  it('matches hand-derived derivatives of f(a, b) = tanh(a b + a^2) / b + relu(b)', () => {
    fc.assert(
      fc.property(fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: 0.3, max: 2, noNaN: true }), (av, bv) => {
        const a = new Value(av);
        const b = new Value(bv);
        a.mul(b).add(a.pow(2)).tanh().div(b).add(b.relu()).backward();
        const u = av * bv + av * av;
        const sech2 = 1 - Math.tanh(u) ** 2;
        // df/da = sech^2(u) (b + 2a) / b; df/db = sech^2(u) a / b - tanh(u) / b^2 + 1 (b > 0)
        expect(a.grad).toBeCloseTo((sech2 * (bv + 2 * av)) / bv, 10);
        expect(b.grad).toBeCloseTo((sech2 * av) / bv - Math.tanh(u) / bv ** 2 + 1, 10);
      }),
      { numRuns: 50 },
    );
  });

  it('accumulates over uses (d/dx of x x x = 3 x^2) and across backward calls (+=)', () => {
    const x = new Value(2);
    x.mul(x).mul(x).backward();
    expect(x.grad).toBe(12);
    x.mul(3).backward();
    expect(x.grad).toBe(15);
  });

  it('has the derivatives of exp, log, sigmoid, sub and relu at chosen points', () => {
    const x = new Value(0.5);
    x.exp().add(x.log()).add(x.sigmoid()).sub(x.mul(4)).backward();
    const s = 1 / (1 + Math.exp(-0.5));
    expect(x.grad).toBeCloseTo(Math.exp(0.5) + 2 + s * (1 - s) - 4, 14);
    const r = new Value(-1);
    r.relu().backward();
    expect(r.grad).toBe(0);
  });

  it('agrees with the tensor engine on a small two-layer network', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 9, maxLength: 9 }), (p) => {
        // y = sum_j w2_j tanh(sum_i w1_ji x_i + b_j), x = [0.3, -0.7], 2 hidden units; params: w1 (4), b (2), w2 (2), and x's scale s (1).
        const x = [0.3, -0.7];
        const params = p.map((v) => new Value(v));
        const [w11, w12, w21, w22, b1, b2, v1, v2, s] = params as [Value, Value, Value, Value, Value, Value, Value, Value, Value];
        const h1 = w11.mul(s.mul(x[0]!)).add(w12.mul(s.mul(x[1]!))).add(b1).tanh();
        const h2 = w21.mul(s.mul(x[0]!)).add(w22.mul(s.mul(x[1]!))).add(b2).tanh();
        h1.mul(v1).add(h2.mul(v2)).backward();

        const f = (w1: Tensor, b: Tensor, w2: Tensor, sc: Tensor) => {
          const xs = tensor(x, 'float64').mul(sc);
          return w1.matmul(xs).add(b).tanh().mul(w2).sum();
        };
        const args = [tensor([[p[0]!, p[1]!], [p[2]!, p[3]!]], 'float64'), tensor([p[4]!, p[5]!], 'float64'), tensor([p[6]!, p[7]!], 'float64'), tensor([p[8]!], 'float64')];
        const grads = grad(f, [0, 1, 2, 3])(...args).flatMap((g) => Array.from(g.toTypedArray()));
        grads.forEach((g, i) => expect(params[i]!.grad).toBeCloseTo(g, 12));
      }),
      { numRuns: 30 },
    );
  });
});
