/**
 * ReferenceUNet on its own (its parity with PyTorch is tested in packages/oclt/src/pytorch-bridge.test.ts against
 * committed PyTorch fixtures): their key names, their config checks, integer timesteps, the null label.
 */
import { describe, expect, it } from 'vitest';
import { Generator, noGrad, randn } from '@oclt/tensor';
import { ReferenceUNet, cifar10ReferenceConfig, referenceTimeTable, resolveReferenceConfig } from './reference-unet.js';

const SMALL = { T: 10, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, numClasses: 2, imgSize: 8, dropout: 0 };

describe('ReferenceUNet', () => {
  it('names its tensors as their model.py does, the frozen time table a buffer', () => {
    const m = new ReferenceUNet(SMALL);
    const keys = Object.keys(m.stateDict());
    for (const k of ['time_embedding.timembedding.0.weight', 'time_embedding.timembedding.1.weight', 'time_embedding.timembedding.3.bias', 'label_embedding.weight', 'head.weight', 'downblocks.0.block1.0.weight', 'downblocks.0.block1.2.weight', 'downblocks.0.temb_proj.1.weight', 'downblocks.0.block2.0.bias', 'downblocks.0.block2.3.weight', 'downblocks.1.main.weight', 'downblocks.2.shortcut.weight', 'downblocks.2.attn.proj_q.weight', 'middleblocks.0.attn.group_norm.weight', 'middleblocks.1.block2.3.bias', 'upblocks.0.attn.proj.weight', 'upblocks.2.main.weight', 'tail.0.weight', 'tail.2.bias']) {
      expect(keys, k).toContain(k);
    }
    expect(keys.some((k) => k.startsWith('middleblocks.1.attn'))).toBe(false);
    expect(m.namedParameters().map(([k]) => k)).not.toContain('time_embedding.timembedding.0.weight');
    expect(new ReferenceUNet({ ...SMALL, numClasses: 0 }).stateDict()['label_embedding.weight']).toBeUndefined();
    expect(Object.keys(new ReferenceUNet({ ...SMALL, augm: true }).stateDict())).toContain('augm_embedding.weight');
  });

  it('refuses configs their model cannot build, naming the field', () => {
    expect(() => resolveReferenceConfig({ ch: 48 })).toThrow(/config\.ch \* 1 = 48 channels is not a multiple of 32/);
    expect(() => resolveReferenceConfig({ chMult: [1, 2], attn: [2] })).toThrow(/config\.attn holds level indices in \[0, 2\)/);
    expect(() => resolveReferenceConfig({ imgSize: 20 })).toThrow(/config\.imgSize 20 must be divisible by 2\^3/);
    expect(() => resolveReferenceConfig({ dropout: 1 })).toThrow(/config\.dropout/);
    expect(resolveReferenceConfig(cifar10ReferenceConfig())).toMatchObject({ ch: 128, chMult: [1, 2, 2, 2], attn: [1], numResBlocks: 2, numClasses: 10, T: 1000 });
  });

  it('takes integer timesteps in [0, T) only (it indexes the table) and the image size it was built for', () => {
    const m = new ReferenceUNet(SMALL).eval();
    const x = randn([1, 3, 8, 8], new Generator(0));
    expect(() => noGrad(() => m.forward(x, 2.5, [0]))).toThrow(/timestep 2\.5 at position 0 must be an integer in \[0, 10\)/);
    expect(() => noGrad(() => m.forward(x, 10, [0]))).toThrow(/must be an integer in \[0, 10\)/);
    expect(() => noGrad(() => m.forward(randn([1, 3, 16, 16], new Generator(0)), 1, [0]))).toThrow(/x must be \[B, 3, 8, 8\]/);
    expect(() => noGrad(() => m.forward(x, 1, [3]))).toThrow(/label 3 at position 0 is outside \[0, 2\]/);
  });

  it('the null label adds nothing: it equals labels = null, and differs from a real label', () => {
    const m = new ReferenceUNet(SMALL).eval();
    const x = randn([2, 3, 8, 8], new Generator(1));
    const none = noGrad(() => m.forward(x, [1, 7], null)).toTypedArray();
    const nul = noGrad(() => m.forward(x, [1, 7], [m.nullLabel, m.nullLabel])).toTypedArray();
    const real = noGrad(() => m.forward(x, [1, 7], [0, 1])).toTypedArray();
    expect(Array.from(nul)).toEqual(Array.from(none));
    expect(real.some((v, i) => v !== none[i])).toBe(true);
  });

  it('time table rows are interleaved (sin, cos) pairs with f_i = exp(-(2i/d) ln 10000)', () => {
    const tab = referenceTimeTable(5, 8).toTypedArray();
    for (let t = 0; t < 5; t++) {
      for (let i = 0; i < 4; i++) {
        const arg = t * Math.exp(-((2 * i) / 8) * Math.log(10000));
        expect(tab[t * 8 + 2 * i]).toBeCloseTo(Math.sin(arg), 6);
        expect(tab[t * 8 + 2 * i + 1]).toBeCloseTo(Math.cos(arg), 6);
      }
    }
  });
});
