/**
 * The bridge to the PyTorch code of CBDM (qym7/CBDM-pytorch) and OC_LT (MediaBrain-SJTU/OC_LT): their flags <->
 * our ReferenceUNet config, the config read back from a state dict's keys and shapes, and the tensor layout of an
 * exchange file. Browser-safe (file I/O is in cli/export.ts and cli/import.ts).
 *
 * An exchange file is one safetensors file holding their two state dicts side by side, under their own key names:
 *   net_model.<key>   the raw training weights (their ckpt['net_model'])
 *   ema_model.<key>   the EMA weights (their ckpt['ema_model'], what they sample and evaluate)
 * with metadata { format: 'oclt-reference-unet/1', flags: JSON of their flags, step }. The Python script
 * packages/oclt/pytorch/oclt_checkpoint.py turns it into their ckpt_<step>.pt (to-pt) and back (from-pt).
 * A plain state dict (their keys without a prefix, e.g. from safetensors.torch.save_file(model.state_dict())) is
 * read as the weights of both.
 */
import type { Tensor } from '@oclt/tensor';
import { resolveReferenceConfig, type ReferenceUNetConfig, type ResolvedReferenceUNetConfig } from '@oclt/diffusion';

export const EXCHANGE_FORMAT = 'oclt-reference-unet/1';

/**
 * Their flags (main.py's absl names) that an exported model needs, with main.py's values for CIFAR-10-LT
 * conditional training with classifier-free guidance (OC_LT's README command: --conditional --cfg, num_class 10).
 */
export interface ReferenceFlags {
  T: number;
  ch: number;
  ch_mult: number[];
  attn: number[];
  num_res_blocks: number;
  dropout: number;
  conditional: boolean;
  augm: boolean;
  num_class: number;
  img_size: number;
  beta_1: number;
  beta_T: number;
  var_type: 'fixedlarge' | 'fixedsmall';
  cfg: boolean;
  [extra: string]: unknown;
}

/** Their flags for a config (model flags from it; schedule flags: main.py's linear betas 1e-4..0.02). */
export function referenceFlagsFromConfig(config: ReferenceUNetConfig, extra: Record<string, unknown> = {}): ReferenceFlags {
  const c = resolveReferenceConfig(config);
  return {
    T: c.T,
    ch: c.ch,
    ch_mult: [...c.chMult],
    attn: [...c.attn],
    num_res_blocks: c.numResBlocks,
    dropout: c.dropout,
    conditional: c.numClasses > 0,
    augm: c.augm,
    num_class: c.numClasses,
    img_size: c.imgSize,
    beta_1: 1e-4,
    beta_T: 0.02,
    var_type: 'fixedlarge',
    cfg: c.numClasses > 0,
    ...extra,
  };
}

/** Our config from their flags (a JSON object; missing model flags take main.py's defaults). Errors name the flag. */
export function referenceConfigFromFlags(flags: Record<string, unknown>, source = 'flags'): ReferenceUNetConfig {
  const get = <T>(name: string, dflt: T, check: (v: unknown) => boolean, what: string): T => {
    const v = flags[name];
    if (v === undefined) return dflt;
    if (!check(v)) throw new Error(`${source}: flag '${name}' must be ${what}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const isInt = (v: unknown) => Number.isInteger(v);
  const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const isIntList = (v: unknown) => Array.isArray(v) && v.every(isInt);
  const conditional = get('conditional', false, (v) => typeof v === 'boolean', 'true or false');
  const numClass = get('num_class', 0, (v) => isNum(v) && Number.isInteger(v) && (v as number) >= 0, 'a non-negative integer (main.py declares it a float)');
  if (conditional && numClass < 1) throw new Error(`${source}: flag 'conditional' is true but 'num_class' is ${numClass}; their label_embedding needs num_class >= 1`);
  const config: ReferenceUNetConfig = {
    T: get('T', 1000, isInt, 'an integer'),
    ch: get('ch', 128, isInt, 'an integer'),
    chMult: get('ch_mult', [1, 2, 2, 2], isIntList, 'a list of integers'),
    attn: get('attn', [1], isIntList, 'a list of level indices'),
    numResBlocks: get('num_res_blocks', 2, isInt, 'an integer'),
    dropout: get('dropout', 0.1, isNum, 'a number'),
    numClasses: conditional ? numClass : 0,
    augm: get('augm', false, (v) => typeof v === 'boolean', 'true or false'),
    imgSize: get('img_size', 32, isInt, 'an integer'),
  };
  try {
    resolveReferenceConfig(config);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
  return config;
}

/** net_model / ema_model state dicts of an exchange file (or one plain state dict for both). A 'module.' prefix is removed. */
export function splitExchangeTensors(tensors: Record<string, Tensor>, source = 'the file'): { net: Record<string, Tensor>; ema: Record<string, Tensor>; layout: 'exchange' | 'plain' } {
  const names = Object.keys(tensors);
  const strip = (k: string) => (k.startsWith('module.') ? k.slice('module.'.length) : k);
  const prefixed = names.filter((n) => n.startsWith('net_model.') || n.startsWith('ema_model.'));
  if (prefixed.length === 0) {
    const plain: Record<string, Tensor> = {};
    for (const n of names) plain[strip(n)] = tensors[n]!;
    return { net: plain, ema: plain, layout: 'plain' };
  }
  const other = names.filter((n) => !prefixed.includes(n));
  if (other.length) throw new Error(`${source}: tensors ${other.slice(0, 3).map((n) => `'${n}'`).join(', ')}${other.length > 3 ? ` and ${other.length - 3} more` : ''} are neither net_model.* nor ema_model.*`);
  const net: Record<string, Tensor> = {};
  const ema: Record<string, Tensor> = {};
  for (const n of prefixed) {
    const [part, key] = n.startsWith('net_model.') ? [net, n.slice(10)] : [ema, n.slice(10)];
    part[strip(key)] = tensors[n]!;
  }
  if (!Object.keys(net).length) throw new Error(`${source}: has ema_model.* but no net_model.* tensors`);
  if (!Object.keys(ema).length) throw new Error(`${source}: has net_model.* but no ema_model.* tensors`);
  return { net, ema, layout: 'exchange' };
}

/** The exchange layout of two state dicts: net_model.<key>, ema_model.<key>. */
export function exchangeTensors(net: Record<string, Tensor>, ema: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(net)) out[`net_model.${k}`] = v;
  for (const [k, v] of Object.entries(ema)) out[`ema_model.${k}`] = v;
  return out;
}

/**
 * The architecture a state dict of their UNet implies, from its keys and shapes alone: T and ch from the time
 * table, the classes from label_embedding, the levels from where the DownSamples sit, ch_mult from each level's
 * output channels, attn from the levels whose blocks have attention. Dropout and the image size leave no trace in
 * the weights: they come from `known` (default 0.1 and 32). Errors name the key that does not fit.
 */
export function inferReferenceConfig(state: Record<string, Tensor>, known: { dropout?: number; imgSize?: number } = {}, source = 'the state dict'): ResolvedReferenceUNetConfig {
  const need = (key: string): Tensor => {
    const t = state[key];
    if (!t) throw new Error(`${source}: key '${key}' is missing (not their model.py UNet?)`);
    return t;
  };
  const table = need('time_embedding.timembedding.0.weight');
  if (table.ndim !== 2) throw new Error(`${source}: 'time_embedding.timembedding.0.weight' must be [T, ch], got [${table.shape}]`);
  const [T, ch] = table.shape as [number, number];
  const label = state['label_embedding.weight'];
  const head = need('head.weight');
  const chMult: number[] = [];
  const attn: number[] = [];
  let numResBlocks = 0;
  let blocksInLevel = 0;
  let levelHasAttn = false;
  const closeLevel = (outCh: number) => {
    if (outCh % ch !== 0) throw new Error(`${source}: a level's ${outCh} channels are not a multiple of ch ${ch}`);
    if (numResBlocks === 0) numResBlocks = blocksInLevel;
    else if (blocksInLevel !== numResBlocks) throw new Error(`${source}: level ${chMult.length} has ${blocksInLevel} ResBlocks, level 0 has ${numResBlocks}`);
    if (levelHasAttn) attn.push(chMult.length);
    chMult.push(outCh / ch);
    blocksInLevel = 0;
    levelHasAttn = false;
  };
  let lastOut = ch;
  for (let i = 0; ; i++) {
    const p = `downblocks.${i}.`;
    if (state[`${p}main.weight`]) {
      closeLevel(lastOut);
      continue;
    }
    const conv = state[`${p}block1.2.weight`];
    if (!conv) break;
    lastOut = conv.shape[0]!;
    blocksInLevel++;
    if (state[`${p}attn.proj_q.weight`]) levelHasAttn = true;
  }
  if (blocksInLevel === 0) throw new Error(`${source}: no ResBlock after the last DownSample in downblocks`);
  closeLevel(lastOut);
  const config = resolveReferenceConfig({
    T,
    ch,
    chMult,
    attn,
    numResBlocks,
    dropout: known.dropout ?? 0.1,
    numClasses: label ? label.shape[0]! : 0,
    augm: 'augm_embedding.weight' in state,
    inChannels: head.shape[1]!,
    imgSize: known.imgSize ?? 32,
  });
  return config;
}

/** The config as their flags' JSON and as our config agree? Returns the first disagreement, or null. */
export function configMismatch(a: ResolvedReferenceUNetConfig, b: ResolvedReferenceUNetConfig): string | null {
  for (const k of ['T', 'ch', 'chMult', 'attn', 'numResBlocks', 'numClasses', 'augm', 'inChannels'] as const) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return `${k}: ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`;
  }
  return null;
}
