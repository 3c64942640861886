import { Generator, randn, tensor, zeros, type Tensor } from '@oclt/tensor';
import { describe, expect, it } from 'vitest';
import { Conv2d, Dropout, GroupNorm, Linear, Module, ModuleList, Sequential, SiLU } from './index.js';

/** A small nested model with the naming pattern of a UNet: down.0.conv1.weight, ... */
class Block extends Module {
  conv1: Conv2d;
  norm: GroupNorm;
  drop: Dropout;
  constructor(c: number, gen: Generator) {
    super();
    this.norm = this.addModule('norm', new GroupNorm(1, c));
    this.conv1 = this.addModule('conv1', new Conv2d(c, c, 3, { generator: gen, padding: 1 }));
    this.drop = this.addModule('drop', new Dropout(0.5, { generator: gen }));
    this.addBuffer('steps', zeros([1], 'int32'));
    this.addBuffer('scratch', zeros([2]), false);
  }
  override forward(x: Tensor): Tensor {
    return x.add(this.drop.forward(this.conv1.forward(this.norm.forward(x).silu())));
  }
}
class Net extends Module {
  down: ModuleList<Block>;
  head: Sequential;
  constructor(gen: Generator) {
    super();
    this.down = this.addModule('down', new ModuleList([new Block(2, gen), new Block(2, gen)]));
    this.head = this.addModule('head', new Sequential(new SiLU(), new Conv2d(2, 1, 1, { generator: gen })));
  }
  override forward(x: Tensor): Tensor {
    let h = x;
    for (const b of this.down) h = b.forward(h);
    return this.head.forward(h);
  }
}

describe('Module', () => {
  it('names parameters with PyTorch-style dotted paths, in registration order', () => {
    const net = new Net(new Generator(0));
    expect(net.namedParameters().map(([n, p]) => `${n}:${p.shape.join('x')}`)).toEqual([
      'down.0.norm.weight:2', 'down.0.norm.bias:2', 'down.0.conv1.weight:2x2x3x3', 'down.0.conv1.bias:2',
      'down.1.norm.weight:2', 'down.1.norm.bias:2', 'down.1.conv1.weight:2x2x3x3', 'down.1.conv1.bias:2',
      'head.1.weight:1x2x1x1', 'head.1.bias:1',
    ]);
    expect(net.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
    expect(net.numParameters()).toBe(2 * (2 + 2 + 36 + 2) + 3);
    // PyTorch's order: a module's own parameters, then its own persistent buffers, then its children.
    expect(Object.keys(net.stateDict())).toEqual([
      'down.0.steps', 'down.0.norm.weight', 'down.0.norm.bias', 'down.0.conv1.weight', 'down.0.conv1.bias',
      'down.1.steps', 'down.1.norm.weight', 'down.1.norm.bias', 'down.1.conv1.weight', 'down.1.conv1.bias',
      'head.1.weight', 'head.1.bias',
    ]);
    expect(net.namedBuffers().map(([n]) => n)).toEqual(['down.0.steps', 'down.0.scratch', 'down.1.steps', 'down.1.scratch']);
  });

  it('lists a shared parameter once', () => {
    const gen = new Generator(1);
    const a = new Linear(2, 2, { generator: gen });
    const tied = new Sequential(a, a);
    expect(tied.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias']);
  });

  it('train()/eval() reach every descendant', () => {
    const net = new Net(new Generator(0));
    net.eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.down.at(1).drop.training).toBe(true);
  });

  it('loadStateDict copies values in place and reproduces outputs', () => {
    const a = new Net(new Generator(1)).eval();
    const b = new Net(new Generator(2)).eval();
    const x = randn([1, 2, 4, 4], new Generator(3));
    const before = b.parameters();
    expect(b.forward(x).toTypedArray()).not.toEqual(a.forward(x).toTypedArray());
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.forward(x).toTypedArray()).toEqual(a.forward(x).toTypedArray());
    // Same tensor objects as before (an optimizer holding them keeps working), different storage from a's.
    b.parameters().forEach((p, i) => expect(p).toBe(before[i]));
    expect(b.parameters()[0]!.storage).not.toBe(a.parameters()[0]!.storage);
  });

  it('loadStateDict names missing, unexpected and mis-shaped keys', () => {
    const net = new Net(new Generator(1));
    const sd = { ...net.stateDict() };
    delete sd['head.1.bias'];
    sd['head.2.weight'] = zeros([1]);
    expect(() => net.loadStateDict(sd)).toThrow(/loadStateDict \(Net\): the state dict does not match the module; missing keys: head\.1\.bias; unexpected keys: head\.2\.weight/);
    const loose = net.loadStateDict(sd, false);
    expect(loose).toEqual({ missingKeys: ['head.1.bias'], unexpectedKeys: ['head.2.weight'] });
    const bad = { ...net.stateDict(), 'down.0.conv1.weight': zeros([2, 2, 1, 1]) };
    expect(() => net.loadStateDict(bad)).toThrow(/shape mismatch for 'down\.0\.conv1\.weight': checkpoint \[2, 2, 1, 1\], module \[2, 2, 3, 3\]/);
  });

  it('loadStateDict casts to the parameter dtype', () => {
    const lin = new Linear(2, 1, { generator: new Generator(0) });
    lin.loadStateDict({ weight: tensor([[0.5, 0.25]], 'float64'), bias: tensor([1], 'float64') });
    expect(lin.weight.dtype).toBe('float32');
    expect(lin.forward(tensor([[2, 4]])).toArray()).toEqual([[3]]);
  });

  it('zeroGrad clears gradients; registration checks names and types', () => {
    const lin = new Linear(2, 1, { generator: new Generator(0) });
    lin.weight.grad = zeros([1, 2]);
    lin.zeroGrad();
    expect(lin.weight.grad).toBeNull();
    expect(() => lin.addParameter('weight', zeros([1]))).toThrow(/name 'weight' is already registered/);
    expect(() => lin.addParameter('a.b', zeros([1]))).toThrow(/must be letters, digits and underscores/);
    expect(() => lin.addParameter('c', zeros([1], 'int32'))).toThrow(/parameters must be float32 or float64, got int32/);
    expect(() => new Module().forward()).toThrow(/Module.forward: this module defines no forward pass/);
  });
});
