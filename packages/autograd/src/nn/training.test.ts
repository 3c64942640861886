/**
 * End-to-end training with the engine, the layers and the optimizers: the tests know the answer (XOR's truth
 * table, the class of a synthetic image), not the trajectory, so they check the whole stack at once.
 */
import '../engine.js'; // installs the backward hook
import { Generator, randn, tensor, type Tensor } from '@oclt/tensor';
import { describe, expect, it } from 'vitest';
import { Adam, EMA, SGD, clipGradNorm, warmupCosine } from '../optim/index.js';
import {
  AttentionBlock2d, Conv2d, Downsample, Embedding, Flatten, GroupNorm, LayerNorm, Linear, Module, ReLU, Sequential, SiLU, Tanh, Upsample,
  binaryCrossEntropyWithLogits, crossEntropy, mseLoss,
} from './index.js';

describe('training', () => {
  it('a 2-8-1 MLP fits XOR with Adam', () => {
    const gen = new Generator(0);
    const mlp = new Sequential(new Linear(2, 8, { generator: gen }), new Tanh(), new Linear(8, 1, { generator: gen }));
    const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
    const y = tensor([[0], [1], [1], [0]]);
    const opt = new Adam(mlp.namedParameters(), { lr: 0.05 });
    let loss = Infinity;
    for (let step = 0; step < 300; step++) {
      opt.zeroGrad();
      const l = binaryCrossEntropyWithLogits(mlp.forward(x), y);
      l.backward();
      opt.step();
      loss = l.item();
    }
    const predicted = (mlp.forward(x).toArray() as number[][]).map(([z]) => (z! > 0 ? 1 : 0));
    expect(predicted).toEqual([0, 1, 1, 0]);
    expect(loss).toBeLessThan(0.05);
  });

  /** 6x6 images: class 0 has a bright horizontal bar, class 1 a vertical one, at a random position, plus noise. */
  function bars(n: number, gen: Generator): { x: Tensor; y: Tensor } {
    const data = randn([n, 1, 6, 6], gen, 'float32', 0, 0.3).dataSync();
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const cls = gen.integer(0, 2);
      const pos = gen.integer(0, 6);
      labels[i] = cls;
      for (let k = 0; k < 6; k++) data[i * 36 + (cls === 0 ? pos * 6 + k : k * 6 + pos)]! += 1;
    }
    return { x: tensor(data).reshape(n, 1, 6, 6), y: tensor(labels) };
  }

  it('a small CNN separates two classes of synthetic images (SGD momentum, clipping, warmup+cosine, EMA)', () => {
    const gen = new Generator(1);
    const cnn = new Sequential(
      new Conv2d(1, 4, 3, { generator: gen, padding: 1 }),
      new GroupNorm(2, 4),
      new SiLU(),
      new Downsample(4, { generator: gen }),
      new ReLU(),
      new Flatten(),
      new Linear(4 * 3 * 3, 2, { generator: gen }),
    );
    const train = bars(64, gen);
    const test = bars(64, gen);
    const steps = 120;
    const opt = new SGD(cnn.namedParameters(), { lr: 0.1, momentum: 0.9 });
    const schedule = warmupCosine(0.1, 10, steps);
    const ema = new EMA(cnn, { decay: 0.9, warmup: true });
    for (let step = 0; step < steps; step++) {
      opt.lr = schedule(step);
      opt.zeroGrad();
      const idx = Array.from({ length: 16 }, () => gen.integer(0, 64));
      crossEntropy(cnn.forward(train.x.indexSelect(0, idx)), train.y.indexSelect(0, idx)).backward();
      clipGradNorm(cnn.parameters(), 5);
      opt.step();
      ema.update(cnn);
    }
    const accuracy = (model: Module) => {
      const pred = Array.from(model.forward(test.x).argmax(1).toTypedArray());
      const y = test.y.toTypedArray();
      return pred.filter((p, i) => p === y[i]).length / y.length;
    };
    // The task is easy (a bar of +1 on noise of sd 0.3): a working stack separates held-out images perfectly.
    expect(accuracy(cnn)).toBeGreaterThanOrEqual(0.95);
    ema.store(cnn);
    ema.copyTo(cnn);
    expect(accuracy(cnn)).toBeGreaterThanOrEqual(0.95);
    ema.restore(cnn);
  });
});

/** Every layer in one float64 model, for a finite-difference check of parameter gradients through the modules. */
class AllLayers extends Module {
  emb: Embedding;
  conv: Conv2d;
  attn: AttentionBlock2d;
  up: Upsample;
  down: Downsample;
  ln: LayerNorm;
  head: Linear;
  constructor(gen: Generator) {
    super();
    const o = { generator: gen, dtype: 'float64' as const };
    this.emb = this.addModule('emb', new Embedding(3, 4, o));
    this.conv = this.addModule('conv', new Conv2d(2, 4, 3, { ...o, padding: 1 }));
    this.attn = this.addModule('attn', new AttentionBlock2d(4, { ...o, numHeads: 2, numGroups: 2 }));
    this.up = this.addModule('up', new Upsample(4, o));
    this.down = this.addModule('down', new Downsample(4, o));
    this.ln = this.addModule('ln', new LayerNorm(4, { dtype: 'float64' }));
    this.head = this.addModule('head', new Linear(4, 1, o));
  }
  override forward(x: Tensor, labels: Tensor): Tensor {
    let h = this.conv.forward(x).add(this.emb.forward(labels).reshape(-1, 4, 1, 1));
    h = this.down.forward(this.up.forward(this.attn.forward(h)));
    return this.head.forward(this.ln.forward(h.mean([2, 3])).silu());
  }
}

describe('gradients through the layers', () => {
  it('match central differences for a few entries of every parameter (float64)', () => {
    const gen = new Generator(5);
    const model = new AllLayers(gen);
    // Non-trivial norm parameters so their gradients are exercised away from the init.
    for (const [name, p] of model.namedParameters()) if (/norm|ln/.test(name)) p.dataSync().set(randn(p.shape, gen, 'float64', 1, 0.3).toTypedArray());
    const x = randn([2, 2, 3, 3], gen, 'float64');
    const labels = tensor([2, 0], 'int32');
    const target = randn([2, 1], gen, 'float64');
    const loss = () => mseLoss(model.forward(x, labels), target);
    model.zeroGrad();
    loss().backward();
    const h = 1e-6;
    for (const [name, p] of model.namedParameters()) {
      expect(p.grad, name).not.toBeNull();
      const data = p.dataSync();
      const grad = p.grad!.toTypedArray();
      for (const k of [0, Math.floor(data.length / 2), data.length - 1]) {
        const keep = data[k]!;
        data[k] = keep + h;
        const up = loss().item();
        data[k] = keep - h;
        const downValue = loss().item();
        data[k] = keep;
        const numeric = (up - downValue) / (2 * h);
        // Central differences in float64 with h = 1e-6: truncation ~h^2 and rounding ~1e-16/h ~ 1e-10.
        expect(Math.abs(grad[k]! - numeric), `${name}[${k}]`).toBeLessThan(1e-7 + 1e-6 * Math.abs(numeric));
      }
    }
  });
});
