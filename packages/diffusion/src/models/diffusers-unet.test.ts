/**
 * The ReferenceUNet <-> diffusers UNet2DModel mapping. diffusers cannot be installed here (torch >= 2.6 and
 * huggingface_hub), so these tests check what can be checked without it: the key names against the module names of
 * the diffusers source (commit 58eb52c0), lossless round trips, and that the permuted time-embedding weights give
 * the same hidden vector from diffusers' concatenated sinusoid as the reference's from its interleaved table.
 */
import { describe, expect, it } from 'vitest';
import { fromTypedArray, matmul } from '@oclt/tensor';
import { diffusersKeyOf, diffusersUNetConfig, fromDiffusersUNet, toDiffusersUNet } from './diffusers-unet.js';
import { ReferenceUNet, cifar10ReferenceConfig, referenceTimeTable } from './reference-unet.js';

const SMALL = { T: 50, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, numClasses: 3, imgSize: 8 };

describe('ReferenceUNet <-> diffusers UNet2DModel', () => {
  it("names the CIFAR-10 configuration's tensors as UNet2DModel's modules (DDPM layout, one head)", () => {
    const cfg = cifar10ReferenceConfig();
    expect(diffusersKeyOf('head.weight', cfg)).toBe('conv_in.weight');
    expect(diffusersKeyOf('downblocks.0.block1.0.weight', cfg)).toBe('down_blocks.0.resnets.0.norm1.weight');
    expect(diffusersKeyOf('downblocks.1.temb_proj.1.weight', cfg)).toBe('down_blocks.0.resnets.1.time_emb_proj.weight');
    expect(diffusersKeyOf('downblocks.2.main.weight', cfg)).toBe('down_blocks.0.downsamplers.0.conv.weight');
    expect(diffusersKeyOf('downblocks.3.shortcut.bias', cfg)).toBe('down_blocks.1.resnets.0.conv_shortcut.bias');
    expect(diffusersKeyOf('downblocks.3.attn.proj_q.weight', cfg)).toBe('down_blocks.1.attentions.0.to_q.weight');
    expect(diffusersKeyOf('downblocks.4.attn.proj.bias', cfg)).toBe('down_blocks.1.attentions.1.to_out.0.bias');
    expect(diffusersKeyOf('middleblocks.0.attn.group_norm.weight', cfg)).toBe('mid_block.attentions.0.group_norm.weight');
    expect(diffusersKeyOf('middleblocks.1.block2.3.weight', cfg)).toBe('mid_block.resnets.1.conv2.weight');
    expect(diffusersKeyOf('upblocks.3.main.weight', cfg)).toBe('up_blocks.0.upsamplers.0.conv.weight');
    expect(diffusersKeyOf('upblocks.8.attn.proj_v.weight', cfg)).toBe('up_blocks.2.attentions.0.to_v.weight');
    expect(diffusersKeyOf('upblocks.14.block1.2.weight', cfg)).toBe('up_blocks.3.resnets.2.conv1.weight');
    expect(diffusersKeyOf('tail.2.weight', cfg)).toBe('conv_out.weight');
    expect(diffusersKeyOf('time_embedding.timembedding.3.bias', cfg)).toBe('time_embedding.linear_2.bias');
    expect(diffusersKeyOf('label_embedding.weight', cfg)).toBe('class_embedding.weight');
    expect(diffusersUNetConfig(cfg)).toMatchObject({
      down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'],
      block_out_channels: [128, 256, 256, 256],
      layers_per_block: 2,
      flip_sin_to_cos: false,
      freq_shift: 0,
      attention_head_dim: null,
      norm_eps: 1e-5,
      num_class_embeds: 11,
    });
  });

  it('round-trips a state dict bit for bit (linear_1 columns permuted, 1x1 convs as Linears, a zero null row)', () => {
    const model = new ReferenceUNet(SMALL);
    const sd = model.stateDict();
    const { tensors, config } = toDiffusersUNet(sd, model.config);
    expect(tensors['down_blocks.1.attentions.0.to_q.weight']!.shape).toEqual([64, 64]);
    expect(tensors['class_embedding.weight']!.shape).toEqual([4, 128]);
    expect(Array.from(tensors['class_embedding.weight']!.narrow(0, 3, 1).toTypedArray()).every((v) => v === 0)).toBe(true);
    expect(Object.keys(tensors)).toHaveLength(Object.keys(sd).length - 1); // no time table
    const back = fromDiffusersUNet(tensors, JSON.parse(JSON.stringify(config)), { T: 50 });
    expect(back.config).toMatchObject({ ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, numClasses: 3, T: 50, imgSize: 8 });
    expect(Object.keys(back.state).sort()).toEqual(Object.keys(sd).sort());
    for (const [k, v] of Object.entries(sd)) expect(Array.from(back.state[k]!.toTypedArray()), k).toEqual(Array.from(v.toTypedArray()));
    const reloaded = new ReferenceUNet(back.config);
    expect(() => reloaded.loadStateDict(back.state, true)).not.toThrow();
  });

  it("diffusers' concatenated sinusoid through the permuted linear_1 equals the reference's table row through its linear_1", () => {
    const model = new ReferenceUNet(SMALL);
    const sd = model.stateDict();
    const { tensors } = toDiffusersUNet(sd, model.config);
    const ch = 32;
    const h = ch / 2;
    const table = referenceTimeTable(50, ch);
    for (const t of [0, 7, 49]) {
      // diffusers get_timestep_embedding, flip_sin_to_cos False, downscale_freq_shift 0.
      const e = new Float32Array(ch);
      for (let i = 0; i < h; i++) {
        const arg = t * Math.exp((-Math.log(10000) * i) / h);
        e[i] = Math.sin(arg);
        e[h + i] = Math.cos(arg);
      }
      const ours = matmul(table.narrow(0, t, 1), sd['time_embedding.timembedding.1.weight']!.T).toTypedArray();
      const theirs = matmul(fromTypedArray(e, [1, ch]), tensors['time_embedding.linear_1.weight']!.T).toTypedArray();
      for (let j = 0; j < ours.length; j++) expect(Math.abs(ours[j]! - theirs[j]!)).toBeLessThan(1e-5);
    }
  });

  it('refuses what does not map, naming the field or key', () => {
    expect(() => diffusersUNetConfig({ ...SMALL, chMult: [2, 2] })).toThrow(/config\.chMult\[0\] is 2/);
    expect(() => diffusersUNetConfig({ ...SMALL, augm: true })).toThrow(/config\.augm/);
    const model = new ReferenceUNet(SMALL);
    const { tensors, config } = toDiffusersUNet(model.stateDict(), model.config);
    expect(() => fromDiffusersUNet(tensors, { ...config, flip_sin_to_cos: true })).toThrow(/flip_sin_to_cos is true; the reference UNet needs false/);
    const { flip_sin_to_cos: _omitted, ...withoutFlip } = config;
    expect(() => fromDiffusersUNet(tensors, withoutFlip)).toThrow(/flip_sin_to_cos is true \(diffusers' default\)/);
    expect(() => fromDiffusersUNet(tensors, { ...config, norm_eps: 1e-6 })).toThrow(/norm_eps is 0\.000001; the reference UNet needs 0\.00001/);
    expect(() => fromDiffusersUNet(tensors, { ...config, up_block_types: ['UpBlock2D', 'UpBlock2D'] })).toThrow(/up_block_types .* must mirror/);
    const nonzero = { ...tensors, 'class_embedding.weight': tensors['class_embedding.weight']!.add(1) };
    expect(() => fromDiffusersUNet(nonzero, config)).toThrow(/row 3 \(the null label\) is not zero/);
    const missing = { ...tensors };
    delete missing['mid_block.attentions.0.to_k.bias'];
    expect(() => fromDiffusersUNet(missing, config)).toThrow(/key 'mid_block\.attentions\.0\.to_k\.bias' \(reference 'middleblocks\.0\.attn\.proj_k\.bias'\) is missing/);
    expect(() => fromDiffusersUNet({ ...tensors, extra: tensors['conv_in.bias']! }, config)).toThrow(/unexpected keys extra/);
    // attention_head_dim equal to every attention block's channels is one head, as null.
    expect(() => fromDiffusersUNet(tensors, { ...config, attention_head_dim: 64 })).not.toThrow();
    expect(() => fromDiffusersUNet(tensors, { ...config, attention_head_dim: 8 })).toThrow(/attention_head_dim is 8/);
  });
});
