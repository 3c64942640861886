import * as tf from '@tensorflow/tfjs';
import { Generator, randn, randint, tensor, type Tensor } from '@oclt/tensor';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2dRef, groupNormRef, linearRef, maxScaledError, selfAttention2dRef } from '../testing/reference64.js';
import {
  AttentionBlock2d, Conv2d, Downsample, Dropout, Embedding, Flatten, GELU, GroupNorm, LayerNorm, Linear, ReLU, SelfAttention2d,
  Sequential, SiLU, Sigmoid, Tanh, Upsample, binaryCrossEntropyWithLogits, crossEntropy, mseLoss,
} from './index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const f64 = (t: Tensor) => Float64Array.from(t.toTypedArray());
/** Overwrites a parameter's values in place (tests give norms random affine parameters). */
function setValues(p: Tensor, values: Tensor): void {
  p.dataSync().set(values.toTypedArray());
}

describe('Linear', () => {
  it('matches tfjs matMul + bias (float32) on random shapes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1000 }), (rows, inF, outF, seed) => {
        const gen = new Generator(seed);
        const layer = new Linear(inF, outF, { generator: gen });
        const x = randn([rows, inF], gen);
        const got = layer.forward(x).toTypedArray();
        const want = tf.tidy(() =>
          tf.add(tf.matMul(tf.tensor2d(x.toTypedArray() as Float32Array, [rows, inF]), tf.tensor2d(layer.weight.toTypedArray() as Float32Array, [outF, inF]), false, true), tf.tensor1d(layer.bias!.toTypedArray() as Float32Array)).dataSync(),
        );
        // Both float32 with different summation orders: |error| is a few ulps of the dot products (|x| ~ 1, inF <= 7).
        expect(maxScaledError(got, want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 25 },
    );
  });

  it('applies over the last axis of a 3-D input (float64 reference, tight tolerance)', () => {
    const gen = new Generator(3);
    const layer = new Linear(5, 4, { generator: gen, dtype: 'float64' });
    const x = randn([2, 3, 5], gen, 'float64');
    const y = layer.forward(x);
    expect(y.shape).toEqual([2, 3, 4]);
    const want = linearRef(f64(x), 6, 5, f64(layer.weight), 4, f64(layer.bias!));
    expect(maxScaledError(f64(y), want, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
  });

  it('without bias has only a weight, and rejects a wrong feature count', () => {
    const layer = new Linear(3, 2, { generator: new Generator(0), bias: false });
    expect(layer.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect(() => layer.forward(randn([2, 4], new Generator(1)))).toThrow(/Linear.forward: input must end with 3 features, got shape \[2, 4\]/);
  });

  it('initialises as PyTorch: weight and bias inside +-1/sqrt(fan_in), spread like a uniform', () => {
    const layer = new Linear(64, 128, { generator: new Generator(7) });
    const bound = 1 / 8;
    const w = f64(layer.weight);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    // U(-b, b) has variance b^2/3; 8192 draws put the sample variance within ~2% (4 sigma ~ 4 * 0.89% relative).
    expect(variance / (bound * bound / 3)).toBeGreaterThan(0.96);
    expect(variance / (bound * bound / 3)).toBeLessThan(1.04);
    expect(Math.max(...f64(layer.bias!).map(Math.abs))).toBeLessThanOrEqual(bound);
    // Same seed, same bits.
    const again = new Linear(64, 128, { generator: new Generator(7) });
    expect(again.weight.toTypedArray()).toEqual(layer.weight.toTypedArray());
  });
});

describe('Conv2d', () => {
  it('matches tfjs conv2d (NHWC/HWIO, float32) with stride, padding and dilation', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), o: fc.integer({ min: 1, max: 3 }),
          h: fc.integer({ min: 3, max: 7 }), w: fc.integer({ min: 3, max: 7 }), k: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 1 }), dilation: fc.integer({ min: 1, max: 2 }), seed: fc.nat(1000),
        }),
        ({ n, c, o, h, w, k, stride, padding, dilation, seed }) => {
          fc.pre((k - 1) * dilation + 1 <= Math.min(h, w) + 2 * padding);
          // tfjs rejects stride > 1 together with dilation > 1.
          fc.pre(stride === 1 || dilation === 1);
          const gen = new Generator(seed);
          const layer = new Conv2d(c, o, k, { generator: gen, stride, padding, dilation });
          const x = randn([n, c, h, w], gen);
          const got = layer.forward(x);
          const want = tf.tidy(() => {
            const xt = tf.tensor4d(x.toTypedArray() as Float32Array, [n, c, h, w]).transpose([0, 2, 3, 1]);
            const wt = tf.tensor4d(layer.weight.toTypedArray() as Float32Array, [o, c, k, k]).transpose([2, 3, 1, 0]);
            const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [padding, padding], [padding, padding], [0, 0]];
            const y = tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, stride, pads, 'NHWC', dilation);
            return { shape: [n, o, y.shape[1], y.shape[2]], data: tf.add(y, tf.tensor1d(layer.bias!.toTypedArray() as Float32Array)).transpose([0, 3, 1, 2]).dataSync() };
          });
          expect(got.shape).toEqual(want.shape);
          // float32 sums of at most 27 products of O(1) values: a few ulps, well inside 1e-5.
          expect(maxScaledError(got.toTypedArray(), want.data, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('matches a float64 direct convolution with groups (tight tolerance)', () => {
    const gen = new Generator(11);
    const layer = new Conv2d(4, 6, [3, 2], { generator: gen, groups: 2, stride: 2, padding: 1, dtype: 'float64' });
    expect(layer.weight.shape).toEqual([6, 2, 3, 2]);
    const x = randn([2, 4, 5, 6], gen, 'float64');
    const got = layer.forward(x);
    // Reference takes square kernels per axis via explicit shape; kh=3, kw=2.
    const want = conv2dRef(f64(x), [2, 4, 5, 6], f64(layer.weight), [6, 2, 3, 2], f64(layer.bias!), { stride: 2, padding: 1, groups: 2 });
    expect(got.shape).toEqual(want.shape);
    expect(maxScaledError(f64(got), want.data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
  });

  it('initialises weight and bias inside +-1/sqrt(C/groups * kH * kW)', () => {
    const layer = new Conv2d(8, 16, 3, { generator: new Generator(2), groups: 2 });
    const bound = 1 / Math.sqrt(4 * 9);
    expect(Math.max(...f64(layer.weight).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...f64(layer.bias!).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...f64(layer.weight).map(Math.abs))).toBeGreaterThan(0.9 * bound);
  });

  it('rejects channels not divisible by groups', () => {
    expect(() => new Conv2d(3, 4, 3, { generator: new Generator(0), groups: 2 })).toThrow(/Conv2d: inChannels \(3\) and outChannels \(4\) must be divisible by groups \(2\)/);
  });
});

describe('GroupNorm', () => {
  it('matches the float64 formula with random affine parameters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.constantFrom([1, 6], [2, 6], [3, 6], [6, 6], [2, 4]), fc.integer({ min: 1, max: 4 }), fc.nat(1000), (n, [g, c], hw, seed) => {
        const gen = new Generator(seed);
        const norm = new GroupNorm(g!, c!, { dtype: 'float64', eps: 1e-5 });
        setValues(norm.weight!, randn([c!], gen, 'float64'));
        setValues(norm.bias!, randn([c!], gen, 'float64'));
        const x = randn([n, c!, hw, hw + 1], gen, 'float64', 3, 2);
        const got = norm.forward(x);
        const want = groupNormRef(f64(x), [n, c!, hw * (hw + 1)], g!, f64(norm.weight!), f64(norm.bias!), 1e-5);
        // Both float64: agreement to ~1e-12 (the reference sums in a different order).
        expect(maxScaledError(f64(got), want, 1e-10, 1e-10)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 30 },
    );
  });

  it('in float32 stays within float32 rounding of the float64 formula', () => {
    const gen = new Generator(5);
    const norm = new GroupNorm(2, 4);
    const x = randn([2, 4, 3, 3], gen);
    const want = groupNormRef(f64(x), [2, 4, 9], 2, [1, 1, 1, 1], [0, 0, 0, 0], 1e-5);
    expect(maxScaledError(norm.forward(x).toTypedArray(), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
  });

  it('rejects a wrong channel count and non-divisible groups', () => {
    expect(() => new GroupNorm(3, 4)).toThrow(/GroupNorm: numChannels \(4\) must be divisible by numGroups \(3\)/);
    expect(() => new GroupNorm(2, 4).forward(randn([1, 3, 2, 2], new Generator(0)))).toThrow(/GroupNorm.forward: input must be \[N, 4, \.\.\.\], got \[1, 3, 2, 2\]/);
  });
});

describe('LayerNorm', () => {
  it('matches tfjs moments + batchNorm over the trailing axes (float32)', () => {
    const gen = new Generator(9);
    const norm = new LayerNorm([3, 4]);
    setValues(norm.weight!, randn([3, 4], gen));
    setValues(norm.bias!, randn([3, 4], gen));
    const x = randn([2, 5, 3, 4], gen, 'float32', 1, 3);
    const want = tf.tidy(() => {
      const xt = tf.tensor4d(x.toTypedArray() as Float32Array, [2, 5, 3, 4]);
      const { mean, variance } = tf.moments(xt, [2, 3], true);
      const scale = tf.tensor2d(norm.weight!.toTypedArray() as Float32Array, [3, 4]);
      const offset = tf.tensor2d(norm.bias!.toTypedArray() as Float32Array, [3, 4]);
      return tf.sub(xt, mean).mul(tf.rsqrt(tf.add(variance, 1e-5))).mul(scale).add(offset).dataSync();
    });
    // float32 on both sides; values O(1) after normalisation: 1e-5 covers rounding of mean/variance.
    expect(maxScaledError(norm.forward(x).toTypedArray(), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
  });

  it('rejects an input whose trailing shape differs', () => {
    expect(() => new LayerNorm(4).forward(randn([2, 3], new Generator(0)))).toThrow(/LayerNorm.forward: input must end with \[4\], got \[2, 3\]/);
  });
});

describe('SelfAttention2d', () => {
  it('matches a float64 loop implementation for 1, 2 and 4 heads', () => {
    for (const heads of [1, 2, 4]) {
      const gen = new Generator(100 + heads);
      const attn = new SelfAttention2d(8, { generator: gen, numHeads: heads, dtype: 'float64' });
      const x = randn([2, 8, 3, 2], gen, 'float64');
      const got = attn.forward(x);
      expect(got.shape).toEqual([2, 8, 3, 2]);
      const want = selfAttention2dRef(f64(x), [2, 8, 3, 2], heads, f64(attn.qkv.weight), f64(attn.qkv.bias!), f64(attn.proj.weight), f64(attn.proj.bias!));
      expect(maxScaledError(f64(got), want, 1e-12, 1e-10)).toBeLessThanOrEqual(1);
    }
  });

  it('AttentionBlock2d is x + attn(groupnorm(x))', () => {
    const gen = new Generator(4);
    const block = new AttentionBlock2d(4, { generator: gen, numGroups: 2, dtype: 'float64' });
    expect(block.namedParameters().map(([n]) => n)).toEqual(['norm.weight', 'norm.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias']);
    const x = randn([1, 4, 2, 3], gen, 'float64');
    const normed = groupNormRef(f64(x), [1, 4, 6], 2, [1, 1, 1, 1], [0, 0, 0, 0], 1e-6);
    const a = selfAttention2dRef(normed, [1, 4, 2, 3], 1, f64(block.attn.qkv.weight), f64(block.attn.qkv.bias!), f64(block.attn.proj.weight), f64(block.attn.proj.bias!));
    const want = f64(x).map((v, i) => v + a[i]!);
    expect(maxScaledError(f64(block.forward(x)), want, 1e-12, 1e-10)).toBeLessThanOrEqual(1);
  });

  it('rejects heads that do not divide the channels', () => {
    expect(() => new SelfAttention2d(6, { generator: new Generator(0), numHeads: 4 })).toThrow(/channels \(6\) must be divisible by numHeads \(4\)/);
  });
});

describe('Embedding, Dropout, activations, resampling', () => {
  it('Embedding picks rows of its N(0,1) table by int32 index', () => {
    const emb = new Embedding(5, 3, { generator: new Generator(1) });
    const table = emb.weight.toArray() as number[][];
    const idx = tensor([[4, 0], [2, 2]], 'int32');
    expect(emb.forward(idx).toArray()).toEqual([[table[4], table[0]], [table[2], table[2]]]);
    expect(() => emb.forward(tensor([5], 'int32'))).toThrow(/Embedding.forward: index 5 is out of range \[0, 5\)/);
    expect(() => emb.forward(tensor([1]))).toThrow(/indices must be int32, got float32/);
    const big = f64(new Embedding(100, 100, { generator: new Generator(2) }).weight);
    const mean = big.reduce((s, v) => s + v, 0) / big.length;
    const variance = big.reduce((s, v) => s + (v - mean) ** 2, 0) / big.length;
    // 10^4 N(0,1) draws: the mean is within 4 * 0.01 of 0, the variance within ~6% of 1.
    expect(Math.abs(mean)).toBeLessThan(0.04);
    expect(Math.abs(variance - 1)).toBeLessThan(0.06);
  });

  it('Dropout zeroes about p of the elements, scales the rest by 1/(1-p), is reproducible, and is the identity in eval', () => {
    const x = randn([4000], new Generator(0)).abs().add(0.1);
    const drop = new Dropout(0.25, { generator: new Generator(42) });
    const y = f64(drop.forward(x));
    const xs = f64(x);
    let zeros = 0;
    let worstScale = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === 0) zeros++;
      else worstScale = Math.max(worstScale, Math.abs(y[i]! / (xs[i]! / 0.75) - 1));
    }
    expect(worstScale).toBeLessThan(1e-6); // float32 rounding of x * (1/0.75)
    // Binomial(4000, 0.25): sd ~ 27; allow 4 sd.
    expect(Math.abs(zeros - 1000)).toBeLessThan(110);
    expect(f64(new Dropout(0.25, { generator: new Generator(42) }).forward(x))).toEqual(y);
    drop.eval();
    expect(drop.forward(x)).toBe(x);
  });

  it('activations follow their closed forms', () => {
    const xs = [-3, -0.5, 0, 0.7, 2.5];
    const x = tensor(xs, 'float64');
    const erf = (z: number) => {
      // Abramowitz-Stegun 7.1.26 would be too coarse; integrate exp(-t^2) with Simpson's rule instead.
      const m = 2000;
      const h = z / m;
      let s = 1 + Math.exp(-z * z);
      for (let i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
      return (2 / Math.sqrt(Math.PI)) * (h / 3) * s;
    };
    const cases: [{ forward(x: Tensor): Tensor }, (v: number) => number][] = [
      [new ReLU(), (v) => Math.max(v, 0)],
      [new SiLU(), (v) => v / (1 + Math.exp(-v))],
      [new Sigmoid(), (v) => 1 / (1 + Math.exp(-v))],
      [new Tanh(), Math.tanh],
      [new GELU(), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))],
    ];
    for (const [layer, fn] of cases) {
      const got = f64(layer.forward(x));
      xs.forEach((v, i) => expect(got[i]).toBeCloseTo(fn(v), 10));
    }
  });

  it('Upsample repeats pixels (then convolves); Downsample halves with a stride-2 conv', () => {
    const x = tensor([[[[1, 2], [3, 4]]]]);
    expect(new Upsample(1, { withConv: false }).forward(x).toArray()).toEqual([[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]);
    const gen = new Generator(8);
    const up = new Upsample(2, { generator: gen, dtype: 'float64' });
    const down = new Downsample(2, { generator: gen, dtype: 'float64' });
    const y = randn([1, 2, 4, 6], gen, 'float64');
    const ups = f64(new Upsample(2, { withConv: false }).forward(y));
    const wantUp = conv2dRef(ups, [1, 2, 8, 12], f64(up.conv!.weight), [2, 2, 3, 3], f64(up.conv!.bias!), { padding: 1 });
    expect(maxScaledError(f64(up.forward(y)), wantUp.data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
    const d = down.forward(y);
    expect(d.shape).toEqual([1, 2, 2, 3]);
    const wantDown = conv2dRef(f64(y), [1, 2, 4, 6], f64(down.conv!.weight), [2, 2, 3, 3], f64(down.conv!.bias!), { stride: 2, padding: 1 });
    expect(maxScaledError(f64(d), wantDown.data, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
    expect(new Downsample(1, { withConv: false }).forward(x).toArray()).toEqual([[[[2.5]]]]);
    expect(() => new Upsample(2)).toThrow(/Upsample: withConv needs opts.generator/);
  });

  it('Sequential chains modules and Flatten keeps the batch axis', () => {
    const gen = new Generator(3);
    const net = new Sequential(new Conv2d(1, 2, 3, { generator: gen, padding: 1 }), new ReLU(), new Flatten(), new Linear(2 * 4 * 4, 3, { generator: gen }));
    const x = randn([5, 1, 4, 4], gen);
    expect(net.forward(x).shape).toEqual([5, 3]);
    const manual = (net.at(3) as Linear).forward((net.at(0) as Conv2d).forward(x).relu().reshape(5, 32));
    expect(net.forward(x).toTypedArray()).toEqual(manual.toTypedArray());
    expect(randint(0, 3, [2], gen).dtype).toBe('int32');
  });
});

describe('losses', () => {
  it('mseLoss, crossEntropy and binaryCrossEntropyWithLogits match their formulas in float64', () => {
    const p = tensor([[0.5, -1], [2, 0]], 'float64');
    const t = tensor([[1, 1], [0, 0]], 'float64');
    expect(mseLoss(p, t).item()).toBeCloseTo((0.25 + 4 + 4 + 0) / 4, 14);
    const logits = tensor([[1, 2, 3], [0, -1, 5]], 'float64');
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const want = -((1 - lse([1, 2, 3])) + (-1 - lse([0, -1, 5]))) / 2;
    expect(crossEntropy(logits, tensor([0, 1], 'int32')).item()).toBeCloseTo(want, 12);
    expect(() => crossEntropy(logits, tensor([0, 3], 'int32'))).toThrow(/crossEntropy: target\[1\] = 3 is not a class in \[0, 3\)/);
    const z = [-30, -1, 0, 2, 40];
    const y = [0, 1, 1, 0, 1];
    // -log sigmoid(z) = log(1 + e^-z) for y = 1 and -log(1 - sigmoid(z)) = log(1 + e^z) for y = 0.
    const bce = z.map((v, i) => (y[i] === 1 ? Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)))).reduce((a, b) => a + b, 0) / z.length;
    expect(binaryCrossEntropyWithLogits(tensor(z, 'float64'), tensor(y, 'float64')).item()).toBeCloseTo(bce, 10);
  });
});
