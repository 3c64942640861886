/**
 * ReferenceUNet <-> diffusers' `UNet2DModel`: the state-dict key mapping and the model's config.json, written from
 * the diffusers source (src/diffusers/models/unets/unet_2d.py, unet_2d_blocks.py, resnet.py, attention_processor.py,
 * embeddings.py at commit 58eb52c0, 2026-08). Not run against diffusers itself: it needs torch >= 2.6 and
 * huggingface_hub, which this project's machines cannot install; the mapping is checked here by round trips and
 * by the equivalence of the time-embedding layouts (diffusers-unet.test.ts).
 *
 * The two networks compute the same function under these settings of UNet2DModel:
 * - time: `Timesteps(ch, flip_sin_to_cos=False, freq_shift=0)` gives [sin(t f_0..f_{h-1}), cos(t f_0..f_{h-1})] with
 *   f_i = exp(-ln(10000) i / h), the reference's frequencies, concatenated where the reference interleaves: the
 *   columns of `time_embedding.linear_1.weight` are the reference's `timembedding.1.weight` columns permuted
 *   (diffusers computes the sinusoid on the fly; its float32 rounding differs from the table by ~1e-6 at t ~ 1000);
 * - `attention_head_dim: null` (one head per attention block, scale C^-1/2), `norm_num_groups: 32`, `norm_eps: 1e-5`,
 *   `act_fn: 'silu'`, `downsample_padding: 1`, conv down/upsamplers, `mid_block_scale_factor: 1`;
 * - the 1x1 convs proj_q/k/v/proj are the Linears to_q/k/v/to_out.0 (weights [C, C, 1, 1] <-> [C, C]);
 * - labels: `num_class_embeds = numClasses + 1` with a zero last row: index numClasses (our null label) adds nothing,
 *   as the reference's y = None (diffusers' UNet2DModel has no unconditional pass once it has a class embedding).
 * The reference's first level must have multiplier 1 (diffusers' conv_in and time embedding use block_out_channels[0]).
 */
import { concat, fromTypedArray, zeros, type Tensor } from '@oclt/tensor';
import { referenceTimeTable, resolveReferenceConfig, type ReferenceUNetConfig, type ResolvedReferenceUNetConfig } from './reference-unet.js';

/** diffusers' UNet2DModel config.json for a ReferenceUNet config (what `UNet2DModel.from_config` reads). */
export function diffusersUNetConfig(config: ReferenceUNetConfig): Record<string, unknown> {
  const c = checkMappable(resolveReferenceConfig(config));
  const levels = c.chMult.map((_, i) => c.attn.includes(i));
  return {
    _class_name: 'UNet2DModel',
    sample_size: c.imgSize,
    in_channels: c.inChannels,
    out_channels: c.inChannels,
    center_input_sample: false,
    time_embedding_type: 'positional',
    freq_shift: 0,
    flip_sin_to_cos: false,
    down_block_types: levels.map((a) => (a ? 'AttnDownBlock2D' : 'DownBlock2D')),
    mid_block_type: 'UNetMidBlock2D',
    up_block_types: [...levels].reverse().map((a) => (a ? 'AttnUpBlock2D' : 'UpBlock2D')),
    block_out_channels: c.chMult.map((m) => c.ch * m),
    layers_per_block: c.numResBlocks,
    mid_block_scale_factor: 1,
    downsample_padding: 1,
    downsample_type: 'conv',
    upsample_type: 'conv',
    dropout: c.dropout,
    act_fn: 'silu',
    attention_head_dim: null,
    norm_num_groups: 32,
    attn_norm_num_groups: null,
    norm_eps: 1e-5,
    resnet_time_scale_shift: 'default',
    add_attention: true,
    class_embed_type: null,
    num_class_embeds: c.numClasses > 0 ? c.numClasses + 1 : null,
  };
}

function checkMappable(c: ResolvedReferenceUNetConfig): ResolvedReferenceUNetConfig {
  if (c.chMult[0] !== 1) throw new Error(`diffusers UNet2DModel: config.chMult[0] is ${c.chMult[0]}, but UNet2DModel's conv_in and time embedding use block_out_channels[0]; only chMult[0] = 1 maps exactly`);
  if (c.augm) throw new Error('diffusers UNet2DModel: config.augm (augm_embedding) has no counterpart in UNet2DModel');
  return c;
}

/** The reference's interleaved time-embedding order -> diffusers' concatenated order: diffusers column j reads reference column perm[j]. */
function timeColumnPermutation(ch: number): Int32Array {
  const h = ch / 2;
  const perm = new Int32Array(ch);
  for (let i = 0; i < h; i++) {
    perm[i] = 2 * i; // sin_i
    perm[h + i] = 2 * i + 1; // cos_i
  }
  return perm;
}

function permuteColumns(w: Tensor, perm: Int32Array, inverse: boolean): Tensor {
  const [rows, cols] = w.shape as [number, number];
  const src = w.contiguous().toTypedArray() as Float32Array;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      if (inverse) out[r * cols + perm[j]!] = src[r * cols + j]!;
      else out[r * cols + j] = src[r * cols + perm[j]!]!;
    }
  }
  return fromTypedArray(out, [rows, cols]);
}

const RESBLOCK_RENAMES: [string, string][] = [
  ['block1.0.', 'norm1.'],
  ['block1.2.', 'conv1.'],
  ['temb_proj.1.', 'time_emb_proj.'],
  ['block2.0.', 'norm2.'],
  ['block2.3.', 'conv2.'],
  ['shortcut.', 'conv_shortcut.'],
];
const ATTN_RENAMES: [string, string][] = [
  ['group_norm.', 'group_norm.'],
  ['proj_q.', 'to_q.'],
  ['proj_k.', 'to_k.'],
  ['proj_v.', 'to_v.'],
  ['proj.', 'to_out.0.'],
];

/** [reference prefix, diffusers prefix, kind] for every module of the reference layout. */
function modulePairs(c: ResolvedReferenceUNetConfig): [string, string, 'res' | 'attn' | 'plain'][] {
  const pairs: [string, string, 'res' | 'attn' | 'plain'][] = [];
  let k = 0;
  c.chMult.forEach((_, i) => {
    for (let j = 0; j < c.numResBlocks; j++, k++) {
      pairs.push([`downblocks.${k}.`, `down_blocks.${i}.resnets.${j}.`, 'res']);
      if (c.attn.includes(i)) pairs.push([`downblocks.${k}.attn.`, `down_blocks.${i}.attentions.${j}.`, 'attn']);
    }
    if (i !== c.chMult.length - 1) pairs.push([`downblocks.${k++}.main.`, `down_blocks.${i}.downsamplers.0.conv.`, 'plain']);
  });
  pairs.push(['middleblocks.0.', 'mid_block.resnets.0.', 'res'], ['middleblocks.0.attn.', 'mid_block.attentions.0.', 'attn'], ['middleblocks.1.', 'mid_block.resnets.1.', 'res']);
  k = 0;
  for (let u = 0; u < c.chMult.length; u++) {
    const i = c.chMult.length - 1 - u;
    for (let j = 0; j < c.numResBlocks + 1; j++, k++) {
      pairs.push([`upblocks.${k}.`, `up_blocks.${u}.resnets.${j}.`, 'res']);
      if (c.attn.includes(i)) pairs.push([`upblocks.${k}.attn.`, `up_blocks.${u}.attentions.${j}.`, 'attn']);
    }
    if (i !== 0) pairs.push([`upblocks.${k++}.main.`, `up_blocks.${u}.upsamplers.0.conv.`, 'plain']);
  }
  pairs.push(['head.', 'conv_in.', 'plain'], ['tail.0.', 'conv_norm_out.', 'plain'], ['tail.2.', 'conv_out.', 'plain']);
  pairs.push(['time_embedding.timembedding.1.', 'time_embedding.linear_1.', 'plain'], ['time_embedding.timembedding.3.', 'time_embedding.linear_2.', 'plain']);
  return pairs;
}

/** The diffusers key of a reference key (null for the time table, which diffusers computes). */
export function diffusersKeyOf(refKey: string, config: ReferenceUNetConfig): string | null {
  const c = checkMappable(resolveReferenceConfig(config));
  if (refKey === 'time_embedding.timembedding.0.weight') return null;
  if (refKey === 'label_embedding.weight') return 'class_embedding.weight';
  // Longest reference prefix first, so 'downblocks.2.attn.' wins over 'downblocks.2.'.
  const pairs = modulePairs(c).sort((a, b) => b[0].length - a[0].length);
  for (const [refPrefix, dfPrefix, kind] of pairs) {
    if (!refKey.startsWith(refPrefix)) continue;
    const rest = refKey.slice(refPrefix.length);
    if (kind === 'plain') return dfPrefix + rest;
    for (const [from, to] of kind === 'res' ? RESBLOCK_RENAMES : ATTN_RENAMES) if (rest.startsWith(from)) return dfPrefix + to + rest.slice(from.length);
  }
  throw new Error(`diffusers UNet2DModel: no counterpart for reference key '${refKey}'`);
}

/** A ReferenceUNet state dict in diffusers' UNet2DModel layout (float32), with its config.json. */
export function toDiffusersUNet(state: Record<string, Tensor>, config: ReferenceUNetConfig): { tensors: Record<string, Tensor>; config: Record<string, unknown> } {
  const c = checkMappable(resolveReferenceConfig(config));
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(state)) {
    const key = diffusersKeyOf(k, c);
    if (key === null) continue;
    let t = v;
    if (k === 'time_embedding.timembedding.1.weight') t = permuteColumns(v, timeColumnPermutation(c.ch), false);
    else if (k === 'label_embedding.weight') t = concat([v, zeros([1, v.shape[1]!])], 0);
    else if (/\.attn\.proj(_[qkv])?\.weight$/.test(k)) t = v.reshape(v.shape[0]!, v.shape[1]!);
    out[key] = t;
  }
  return { tensors: out, config: diffusersUNetConfig(c) };
}

/**
 * A diffusers UNet2DModel (its config.json and state dict) as a ReferenceUNet config and state dict, when its
 * settings are those the module comment lists; each other setting is refused, naming the config field or key.
 * T (the rows of the reference's time table) is not part of a UNet2DModel: give it (the scheduler's
 * num_train_timesteps; default 1000).
 */
export function fromDiffusersUNet(tensors: Record<string, Tensor>, json: Record<string, unknown>, opts: { T?: number } = {}): { state: Record<string, Tensor>; config: ResolvedReferenceUNetConfig } {
  const want: Record<string, unknown> = {
    time_embedding_type: 'positional', freq_shift: 0, flip_sin_to_cos: false, center_input_sample: false, mid_block_type: 'UNetMidBlock2D',
    mid_block_scale_factor: 1, downsample_padding: 1, downsample_type: 'conv', upsample_type: 'conv', act_fn: 'silu', attention_head_dim: null,
    norm_num_groups: 32, attn_norm_num_groups: null, norm_eps: 1e-5, resnet_time_scale_shift: 'default', add_attention: true, class_embed_type: null,
  };
  // diffusers' own defaults for the fields a config.json may omit (unet_2d.py's signature).
  const dflt: Record<string, unknown> = {
    time_embedding_type: 'positional', freq_shift: 0, flip_sin_to_cos: true, center_input_sample: false, mid_block_type: 'UNetMidBlock2D', mid_block_scale_factor: 1,
    downsample_padding: 1, downsample_type: 'conv', upsample_type: 'conv', act_fn: 'silu', attention_head_dim: 8, norm_num_groups: 32, attn_norm_num_groups: null,
    norm_eps: 1e-5, resnet_time_scale_shift: 'default', add_attention: true, class_embed_type: null, dropout: 0, layers_per_block: 2, in_channels: 3, out_channels: 3,
  };
  const get = (k: string) => (k in json ? json[k] : dflt[k]);
  const blockOut = get('block_out_channels');
  if (!Array.isArray(blockOut) || !blockOut.every((v) => Number.isInteger(v))) throw new Error(`diffusers config: block_out_channels must be a list of integers, got ${JSON.stringify(blockOut)}`);
  const down = get('down_block_types') as unknown;
  const up = get('up_block_types') as unknown;
  if (!Array.isArray(down) || down.length !== blockOut.length) throw new Error(`diffusers config: down_block_types must list one block per entry of block_out_channels, got ${JSON.stringify(down)}`);
  const attnLevels = down.map((t, i) => {
    if (t !== 'AttnDownBlock2D' && t !== 'DownBlock2D') throw new Error(`diffusers config: down_block_types[${i}] is ${JSON.stringify(t)}; only AttnDownBlock2D and DownBlock2D map to the reference UNet`);
    return t === 'AttnDownBlock2D';
  });
  const expectedUp = [...attnLevels].reverse().map((a) => (a ? 'AttnUpBlock2D' : 'UpBlock2D'));
  if (JSON.stringify(up) !== JSON.stringify(expectedUp)) throw new Error(`diffusers config: up_block_types ${JSON.stringify(up)} must mirror down_block_types (${JSON.stringify(expectedUp)}) as the reference UNet does`);
  const ch = blockOut[0] as number;
  const chMult = (blockOut as number[]).map((b, i) => {
    if (b % ch !== 0) throw new Error(`diffusers config: block_out_channels[${i}] = ${b} is not a multiple of block_out_channels[0] = ${ch}`);
    return b / ch;
  });
  for (const [k, v] of Object.entries(want)) {
    const have = get(k);
    // attention_head_dim equal to the channels of every attention block is one head each, as null is.
    if (k === 'attention_head_dim' && have !== null) {
      const attnChannels = [...new Set([...blockOut.filter((_, i) => attnLevels[i]), blockOut[blockOut.length - 1]])];
      if (attnChannels.length === 1 && attnChannels[0] === have) continue;
    }
    if (JSON.stringify(have) !== JSON.stringify(v)) throw new Error(`diffusers config: ${k} is ${JSON.stringify(have)}${k in json ? '' : " (diffusers' default)"}; the reference UNet needs ${JSON.stringify(v)}`);
  }
  if (get('in_channels') !== get('out_channels')) throw new Error(`diffusers config: in_channels ${String(get('in_channels'))} and out_channels ${String(get('out_channels'))} differ; the reference UNet predicts eps of the input's shape`);
  const classEmb = tensors['class_embedding.weight'];
  const numClassEmbeds = json.num_class_embeds ?? null;
  let numClasses = 0;
  if (numClassEmbeds !== null) {
    if (!classEmb) throw new Error('diffusers UNet2DModel: num_class_embeds is set but class_embedding.weight is missing');
    numClasses = (numClassEmbeds as number) - 1;
    const last = classEmb.narrow(0, numClasses, 1).toTypedArray();
    if (last.some((v) => v !== 0)) throw new Error(`diffusers UNet2DModel: class_embedding.weight row ${numClasses} (the null label) is not zero; the reference UNet's unconditional pass adds nothing, so only a zero row maps exactly`);
  }
  const config = resolveReferenceConfig({
    T: opts.T ?? 1000,
    ch,
    chMult,
    attn: attnLevels.flatMap((a, i) => (a ? [i] : [])),
    numResBlocks: get('layers_per_block') as number,
    dropout: get('dropout') as number,
    numClasses,
    inChannels: get('in_channels') as number,
    imgSize: typeof json.sample_size === 'number' ? json.sample_size : 32,
  });
  const state: Record<string, Tensor> = {};
  const used = new Set<string>();
  // Walk the reference layout: every key it has must come from the diffusers file.
  const probe = referenceKeyShapes(config);
  for (const [refKey, shape] of probe) {
    if (refKey === 'time_embedding.timembedding.0.weight') {
      state[refKey] = referenceTimeTable(config.T, config.ch);
      continue;
    }
    const key = diffusersKeyOf(refKey, config)!;
    const t = tensors[key];
    if (!t) throw new Error(`diffusers UNet2DModel: key '${key}' (reference '${refKey}') is missing`);
    used.add(key);
    let v = t.dtype === 'float32' ? t : t.astype('float32');
    if (refKey === 'time_embedding.timembedding.1.weight') v = permuteColumns(v, timeColumnPermutation(config.ch), true);
    else if (refKey === 'label_embedding.weight') v = v.narrow(0, 0, numClasses);
    else if (/\.attn\.proj(_[qkv])?\.weight$/.test(refKey)) v = v.reshape(shape);
    state[refKey] = v;
  }
  const extra = Object.keys(tensors).filter((k) => !used.has(k));
  if (extra.length) throw new Error(`diffusers UNet2DModel: unexpected keys ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ` and ${extra.length - 5} more` : ''}`);
  return { state, config };
}

/** The reference state-dict keys and shapes of a config, without building the model's weights. */
function referenceKeyShapes(c: ResolvedReferenceUNetConfig): [string, number[]][] {
  const tdim = 4 * c.ch;
  const out: [string, number[]][] = [
    ['time_embedding.timembedding.0.weight', [c.T, c.ch]],
    ['time_embedding.timembedding.1.weight', [tdim, c.ch]],
    ['time_embedding.timembedding.1.bias', [tdim]],
    ['time_embedding.timembedding.3.weight', [tdim, tdim]],
    ['time_embedding.timembedding.3.bias', [tdim]],
  ];
  if (c.numClasses > 0) out.push(['label_embedding.weight', [c.numClasses, tdim]]);
  out.push(['head.weight', [c.ch, c.inChannels, 3, 3]], ['head.bias', [c.ch]]);
  const res = (p: string, i: number, o: number, attn: boolean) => {
    out.push([`${p}block1.0.weight`, [i]], [`${p}block1.0.bias`, [i]], [`${p}block1.2.weight`, [o, i, 3, 3]], [`${p}block1.2.bias`, [o]]);
    out.push([`${p}temb_proj.1.weight`, [o, tdim]], [`${p}temb_proj.1.bias`, [o]]);
    out.push([`${p}block2.0.weight`, [o]], [`${p}block2.0.bias`, [o]], [`${p}block2.3.weight`, [o, o, 3, 3]], [`${p}block2.3.bias`, [o]]);
    if (i !== o) out.push([`${p}shortcut.weight`, [o, i, 1, 1]], [`${p}shortcut.bias`, [o]]);
    if (attn) {
      out.push([`${p}attn.group_norm.weight`, [o]], [`${p}attn.group_norm.bias`, [o]]);
      for (const n of ['proj_q', 'proj_k', 'proj_v', 'proj']) out.push([`${p}attn.${n}.weight`, [o, o, 1, 1]], [`${p}attn.${n}.bias`, [o]]);
    }
  };
  const conv = (p: string, ch: number) => out.push([`${p}main.weight`, [ch, ch, 3, 3]], [`${p}main.bias`, [ch]]);
  const chs = [c.ch];
  let now = c.ch;
  let k = 0;
  c.chMult.forEach((m, i) => {
    for (let b = 0; b < c.numResBlocks; b++) {
      res(`downblocks.${k++}.`, now, c.ch * m, c.attn.includes(i));
      now = c.ch * m;
      chs.push(now);
    }
    if (i !== c.chMult.length - 1) {
      conv(`downblocks.${k++}.`, now);
      chs.push(now);
    }
  });
  res('middleblocks.0.', now, now, true);
  res('middleblocks.1.', now, now, false);
  k = 0;
  for (let i = c.chMult.length - 1; i >= 0; i--) {
    for (let b = 0; b < c.numResBlocks + 1; b++) {
      res(`upblocks.${k++}.`, chs.pop()! + now, c.ch * c.chMult[i]!, c.attn.includes(i));
      now = c.ch * c.chMult[i]!;
    }
    if (i !== 0) conv(`upblocks.${k++}.`, now);
  }
  out.push(['tail.0.weight', [now]], ['tail.0.bias', [now]], ['tail.2.weight', [c.inChannels, now, 3, 3]], ['tail.2.bias', [c.inChannels]]);
  return out;
}
