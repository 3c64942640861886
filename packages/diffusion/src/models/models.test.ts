import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cpuKernelsInfo, cpuMemoryInfo, Generator, noGrad, randn, tidy, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { MLPDenoiser } from './mlp.js';
import { timestepEmbedding } from './embeddings.js';
import { smallUNetConfig, UNet2D, type UNet2DConfig } from './unet.js';

const tiny: UNet2DConfig = { sampleSize: 8, inChannels: 1, baseChannels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.1, numClasses: 3, numGroups: 4, seed: 7 };

function randomizeOutput(model: UNet2D, seed: number): void {
  const g = new Generator(seed);
  for (const [name, p] of model.namedParameters()) if (name.startsWith('conv_out')) p.dataSync().set(randn(p.shape, g, 'float32', 0, 0.1).dataSync());
}

describe('timestepEmbedding', () => {
  it('is [sin(t f_i), cos(t f_i)] with f_i = 10000^(-i / (half - 1))', () => {
    const e = timestepEmbedding([0, 5], 2, 8).toArray() as number[][];
    const f = [0, 1, 2, 3].map((i) => Math.pow(10000, -i / 3));
    expect(e[0]).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    f.forEach((fi, i) => {
      expect(e[1]![i]).toBeCloseTo(Math.sin(5 * fi), 6);
      expect(e[1]![4 + i]).toBeCloseTo(Math.cos(5 * fi), 6);
    });
    expect(() => timestepEmbedding([1, 2, 3], 2, 8)).toThrow(/3 timesteps for a batch of 2/);
  });
});

describe('MLPDenoiser', () => {
  it('maps [B, D] to [B, D], depends on t and on the label, and rejects bad labels', () => {
    const m = new MLPDenoiser({ dataDim: 2, hidden: 16, numClasses: 2, seed: 1 });
    const x = randn([4, 2], new Generator(0));
    const a = m.forward(x, [1, 1, 1, 1], [0, 0, 0, 0]).toTypedArray();
    const b = m.forward(x, [500, 500, 500, 500], [0, 0, 0, 0]).toTypedArray();
    const c = m.forward(x, [1, 1, 1, 1], null).toTypedArray();
    expect(a.length).toBe(8);
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-4);
    expect(Math.max(...a.map((v, i) => Math.abs(v - c[i]!)))).toBeGreaterThan(1e-4);
    expect(m.nullLabel).toBe(2);
    expect(() => m.forward(x, 1, [0, 3, 0, 0])).toThrow(/label 3 at position 1 is outside \[0, 2\]/);
    expect(() => m.forward(randn([4, 3], new Generator(0)), 1)).toThrow(/x must be \[B, 2\]/);
  });
});

describe('UNet2D', () => {
  it('builds the DDPM layout: names, zero-initialised output, shape-preserving forward', () => {
    const m = new UNet2D(tiny);
    const names = m.namedParameters().map(([n]) => n);
    for (const n of ['conv_in.weight', 'time_fc1.weight', 'label_embed.weight', 'down.0.blocks.0.conv1.weight', 'down.0.downsample.conv.weight', 'down.1.attns.0.attn.qkv.weight', 'mid_attn.norm.weight', 'up.0.blocks.1.skip.weight', 'up.1.blocks.0.temb_proj.weight', 'conv_out.bias']) {
      expect(names).toContain(n);
    }
    // label embedding has a null row
    expect(m.stateDict()['label_embed.weight']!.shape).toEqual([4, 32]);
    const x = randn([2, 1, 8, 8], new Generator(1));
    const y = m.forward(x, [3, 900], [0, 3]);
    expect(y.shape).toEqual([2, 1, 8, 8]);
    expect(Math.max(...y.toTypedArray().map(Math.abs))).toBe(0);
    expect(() => m.forward(randn([2, 1, 6, 6], new Generator(1)), 3)).toThrow(/x must be \[B, 1, 8, 8\]/);
  });

  it('builds and runs for varied depths, widths and attention placements', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.boolean(), (levels, blocks, attnLow) => {
        const size = 2 ** levels * 2;
        const cfg: UNet2DConfig = { sampleSize: size, inChannels: 2, baseChannels: 4, channelMult: [1, 2, 1].slice(0, levels), numResBlocks: blocks, attentionResolutions: attnLow ? [size / 2 ** (levels - 1)] : [size], numGroups: 2, dropout: 0 };
        const m = new UNet2D(cfg);
        randomizeOutput(m, 1);
        const y = m.forward(randn([1, 2, size, size], new Generator(2)), 10);
        expect(y.shape).toEqual([1, 2, size, size]);
        expect(y.toTypedArray().every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 12 },
    );
  });

  it('dropout acts in training mode only', () => {
    const m = new UNet2D({ ...tiny, dropout: 0.5 });
    randomizeOutput(m, 2);
    const x = randn([2, 1, 8, 8], new Generator(3));
    m.train();
    const a = m.forward(x, 100, [1, 2]).toTypedArray();
    const b = m.forward(x, 100, [1, 2]).toTypedArray();
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    m.eval();
    const c = m.forward(x, 100, [1, 2]).toTypedArray();
    const d = m.forward(x, 100, [1, 2]).toTypedArray();
    expect([...c]).toEqual([...d]);
  });

  it('without gradients frees each block\'s intermediates as it returns, and computes the same output', () => {
    const m = new UNet2D({ ...tiny, sampleSize: 16, baseChannels: 16, attentionResolutions: [8] });
    randomizeOutput(m, 4);
    m.eval();
    const x = randn([16, 1, 16, 16], new Generator(5));
    // Live bytes of the fast kernels' results at the end of a pass, inside a tidy that then frees them all.
    const liveAfter = (f: () => Tensor) => tidy(() => {
      const before = cpuMemoryInfo().resultBytes;
      const y = f();
      return { bytes: cpuMemoryInfo().resultBytes - before, y: y.toTypedArray() };
    });
    const labels = Array.from({ length: 16 }, (_, i) => i % 3);
    const withGrad = liveAfter(() => m.forward(x, 300, labels));
    const without = liveAfter(() => noGrad(() => m.forward(x, 300, labels)));
    expect([...without.y]).toEqual([...withGrad.y]);
    if (!cpuKernelsInfo().startsWith('cpu:reference')) {
      // With gradients every intermediate stays for the backward pass; without, only the blocks' outputs.
      expect(withGrad.bytes).toBeGreaterThan(0);
      expect(without.bytes).toBeLessThan(withGrad.bytes / 3);
    }
  });

  it('backward reaches every parameter and matches central differences on sampled weights', () => {
    const m = new UNet2D({ ...tiny, dropout: 0 });
    randomizeOutput(m, 4);
    const x = randn([2, 1, 8, 8], new Generator(5));
    const target = randn([2, 1, 8, 8], new Generator(6));
    const loss = (): Tensor => m.forward(x, [10, 600], [2, 3]).sub(target).square().mean();
    m.zeroGrad();
    loss().backward();
    const params = m.namedParameters();
    for (const [name, p] of params) {
      // the null label row (3) and label 2 are used; rows 0 and 1 of the label table get zero gradient, all else nonzero
      expect(p.grad, name).not.toBeNull();
      if (name !== 'label_embed.weight') expect(Math.max(...p.grad!.toTypedArray().map(Math.abs)), name).toBeGreaterThan(0);
    }
    // Finite differences in float32: h = 1e-2 keeps round-off (~1e-7 / 1e-2) far below the 10% band; the curvature
    // error h^2 f''' is small for these smooth layers.
    for (const [name, p] of params.filter(([n]) => /conv1\.weight|qkv\.weight|time_fc1\.weight|label_embed/.test(n))) {
      const grad = p.grad!.toTypedArray();
      let k = 0;
      for (let i = 0; i < grad.length; i++) if (Math.abs(grad[i]!) > Math.abs(grad[k]!)) k = i;
      const data = p.dataSync();
      const orig = data[k]!;
      const h = 1e-2;
      data[k] = orig + h;
      const up = noGrad(() => loss().item());
      data[k] = orig - h;
      const down = noGrad(() => loss().item());
      data[k] = orig;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - grad[k]!), `${name}[${k}] fd=${fd} grad=${grad[k]}`).toBeLessThan(0.1 * Math.abs(grad[k]!) + 1e-5);
    }
  });

  it('the reference small UNet has the documented shape', () => {
    const m = new UNet2D(smallUNetConfig({ numClasses: 10 }));
    expect(m.config.channelMult).toEqual([1, 2, 2]);
    // attention only at 7x7: in the last down level, the mid block and the first up level
    expect(m.namedParameters().filter(([n]) => n.endsWith('attn.qkv.weight')).map(([n]) => n)).toEqual(['down.2.attns.0.attn.qkv.weight', 'mid_attn.attn.qkv.weight', 'up.0.attns.0.attn.qkv.weight', 'up.0.attns.1.attn.qkv.weight']);
  });
});

describe('countFlops', () => {
  it('counts conv, linear and attention multiply-adds by hand formulas', async () => {
    const { countFlops } = await import('./flops.js');
    const { Conv2d, Linear, Module, SelfAttention2d } = await import('@oclt/autograd');
    const g = new Generator(0);
    class Net extends Module {
      conv = this.addModule('conv', new Conv2d(3, 4, 3, { padding: 1, generator: g }));
      attn = this.addModule('attn', new SelfAttention2d(4, { generator: g }));
      fc = this.addModule('fc', new Linear(4 * 5 * 5, 7, { generator: g }));
      override forward(x: Tensor): Tensor {
        return this.fc.forward(this.attn.forward(this.conv.forward(x)).reshape(2, 100));
      }
    }
    const net = new Net();
    const c = countFlops(net, () => net.forward(randn([2, 3, 5, 5], g)));
    const conv = 2 * 2 * 4 * 25 * 3 * 9; // N Cout Ho Wo Cin kh kw
    const qkv = 2 * 2 * 25 * 4 * 12; // rows = N T, in 4, out 12
    const proj = 2 * 2 * 25 * 4 * 4;
    const attn = 2 * 2 * 2 * 25 * 25 * 4; // two products of 2 N T^2 C
    const fc = 2 * 2 * 100 * 7;
    expect(c.byKind).toEqual({ conv, linear: qkv + proj + fc, attention: attn });
    expect(c.forward).toBe(conv + qkv + proj + fc + attn);
    expect(c.trainingStep).toBe(3 * c.forward - conv);
    // the layers are restored
    expect(Object.prototype.hasOwnProperty.call(net.conv, 'forward')).toBe(false);
  });
});
