/**
 * A scalar reverse-mode engine for teaching (in the spirit of micrograd): the whole idea of autograd in a page.
 *
 * Each Value remembers the Values it was computed from and a `backwardStep` that pushes its gradient to them by
 * the chain rule. `backward()` orders the graph topologically (every Value after the ones it was computed
 * from), seeds d(out)/d(out) = 1 and runs the steps in reverse order. Gradients ACCUMULATE (`+=`): a Value used
 * twice receives the sum of both contributions, exactly like the tensor engine (src/engine.ts).
 */
export class Value {
  data: number;
  /** d(output)/d(this), filled in by `backward()` on some output. */
  grad = 0;
  readonly children: readonly Value[];
  readonly op: string;
  private backwardStep: () => void = () => {};

  constructor(data: number, children: readonly Value[] = [], op = '') {
    this.data = data;
    this.children = children;
    this.op = op;
  }

  static from(x: Value | number): Value {
    return x instanceof Value ? x : new Value(x);
  }

  add(other: Value | number): Value {
    const o = Value.from(other);
    const out = new Value(this.data + o.data, [this, o], '+');
    out.backwardStep = () => {
      this.grad += out.grad;
      o.grad += out.grad;
    };
    return out;
  }

  mul(other: Value | number): Value {
    const o = Value.from(other);
    const out = new Value(this.data * o.data, [this, o], '*');
    out.backwardStep = () => {
      this.grad += o.data * out.grad;
      o.grad += this.data * out.grad;
    };
    return out;
  }

  /** this ** k for a constant exponent k. */
  pow(k: number): Value {
    const out = new Value(this.data ** k, [this], `**${k}`);
    out.backwardStep = () => {
      this.grad += k * this.data ** (k - 1) * out.grad;
    };
    return out;
  }

  exp(): Value {
    const out = new Value(Math.exp(this.data), [this], 'exp');
    out.backwardStep = () => {
      this.grad += out.data * out.grad;
    };
    return out;
  }

  log(): Value {
    const out = new Value(Math.log(this.data), [this], 'log');
    out.backwardStep = () => {
      this.grad += out.grad / this.data;
    };
    return out;
  }

  tanh(): Value {
    const out = new Value(Math.tanh(this.data), [this], 'tanh');
    out.backwardStep = () => {
      this.grad += (1 - out.data * out.data) * out.grad;
    };
    return out;
  }

  relu(): Value {
    const out = new Value(Math.max(0, this.data), [this], 'relu');
    out.backwardStep = () => {
      this.grad += (this.data > 0 ? 1 : 0) * out.grad;
    };
    return out;
  }

  sigmoid(): Value {
    const out = new Value(1 / (1 + Math.exp(-this.data)), [this], 'sigmoid');
    out.backwardStep = () => {
      this.grad += out.data * (1 - out.data) * out.grad;
    };
    return out;
  }

  neg(): Value {
    return this.mul(-1);
  }
  sub(other: Value | number): Value {
    return this.add(Value.from(other).neg());
  }
  div(other: Value | number): Value {
    return this.mul(Value.from(other).pow(-1));
  }

  /** Fills `grad` of every Value this one depends on with d(this)/d(value), accumulating into existing grads. */
  backward(): void {
    const order: Value[] = [];
    const visited = new Set<Value>();
    const visit = (v: Value): void => {
      if (visited.has(v)) return;
      visited.add(v);
      for (const child of v.children) visit(child);
      order.push(v);
    };
    visit(this);
    this.grad = 1;
    for (let i = order.length - 1; i >= 0; i--) order[i]!.backwardStep();
  }

  toString(): string {
    return `Value(data=${this.data}, grad=${this.grad})`;
  }
}
