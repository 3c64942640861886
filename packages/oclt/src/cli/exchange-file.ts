/**
 * The exchange file between this project and the PyTorch code of OC_LT / CBDM: a safetensors file of their UNet's
 * `net_model.*` and `ema_model.*` state dicts (or one plain state dict) with their flags in the metadata. Read by
 * `oclt import`, `oclt export --from` and `oclt sample --run <import dir>`; written by `oclt export` and
 * `oclt import --out`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadSafetensorsSync } from '@oclt/autograd/node';
import { encodeSafetensors } from '@oclt/autograd';
import type { Tensor } from '@oclt/tensor';
import { ReferenceUNet, type ResolvedReferenceUNetConfig } from '@oclt/diffusion';
import { writeFileAtomic } from '@oclt/diffusion/node';
import { EXCHANGE_FORMAT, configMismatch, exchangeTensors, inferReferenceConfig, referenceConfigFromFlags, referenceFlagsFromConfig, splitExchangeTensors, type ReferenceFlags } from '../pytorch-bridge.js';

/** Their absl flagfile (`--name=value`, `--flag` / `--noflag`, repeated names for lists) as a JSON object of flags. */
export function parseFlagfile(text: string, source = 'flagfile'): Record<string, unknown> {
  const lists = new Set(['ch_mult', 'attn']);
  const flags: Record<string, unknown> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!line.startsWith('--')) throw new Error(`${source}:${i + 1}: expected --name=value, got '${line}'`);
    const body = line.slice(2);
    const eq = body.indexOf('=');
    if (eq < 0) {
      if (body.startsWith('no')) flags[body.slice(2)] = false;
      else flags[body] = true;
      return;
    }
    const name = body.slice(0, eq);
    const value = body.slice(eq + 1);
    const num = Number(value);
    const parsed = value !== '' && Number.isFinite(num) ? num : value === 'true' || value === 'false' ? value === 'true' : value;
    if (lists.has(name)) ((flags[name] ??= []) as unknown[]).push(parsed);
    else flags[name] = parsed;
  });
  return flags;
}

export interface LoadedExchange {
  model: ReferenceUNet;
  config: ResolvedReferenceUNetConfig;
  /** The flags the file or flagfile gave (null when none: the config came from the weights alone). */
  flags: Record<string, unknown> | null;
  step: number;
  layout: 'exchange' | 'plain';
  /** Tensors converted on load: name -> { from, to } (F16/BF16 -> float32, I64 -> int32). */
  converted: Record<string, { from: string; to: string }>;
  sha256: string;
}

/**
 * Loads one of the two state dicts of a checkpoint file into a new ReferenceUNet with loadStateDict(strict). The
 * architecture comes from the weights; flags (the file's metadata, or `flagfile`) must agree with it.
 */
export function loadExchangeFile(file: string, opts: { weights?: 'ema' | 'net'; flagfile?: string; imgSize?: number } = {}): LoadedExchange {
  if (/\.(pt|pth|ckpt|bin)$/.test(file)) {
    throw new Error(`${file} looks like a torch.save pickle; convert it first: python3 packages/oclt/pytorch/oclt_checkpoint.py from-pt ${file} OUT.safetensors [--flagfile LOGDIR/flagfile.txt]`);
  }
  const bytes = fs.readFileSync(file);
  const { tensors, metadata, converted } = loadSafetensorsSync(file);
  const { net, ema, layout } = splitExchangeTensors(tensors, file);
  const state = opts.weights === 'net' ? net : ema;
  let flags: Record<string, unknown> | null = null;
  if (opts.flagfile) flags = parseFlagfile(fs.readFileSync(opts.flagfile, 'utf8'), opts.flagfile);
  else if (metadata.flags !== undefined) {
    try {
      flags = JSON.parse(metadata.flags) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${file}: __metadata__.flags is not JSON (${(err as Error).message})`);
    }
  }
  const known = {
    dropout: typeof flags?.dropout === 'number' ? flags.dropout : undefined,
    imgSize: typeof flags?.img_size === 'number' ? flags.img_size : opts.imgSize,
  };
  const config = inferReferenceConfig(state, known, file);
  if (flags) {
    const fromFlags = referenceConfigFromFlags(flags, opts.flagfile || `${file} (metadata flags)`);
    const mismatch = configMismatch(config, { ...config, ...fromFlags } as ResolvedReferenceUNetConfig);
    if (mismatch) throw new Error(`${file}: the flags disagree with the weights on ${mismatch} (weights first)`);
  }
  const model = new ReferenceUNet(config);
  model.loadStateDict(state, true);
  model.eval();
  const step = Number(metadata.step ?? 0);
  return { model, config, flags, step: Number.isInteger(step) ? step : 0, layout, converted, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

export interface ExportResult {
  file: string;
  flagsFile: string;
  flags: ReferenceFlags;
  step: number;
  numTensors: number;
}

/** The flags' JSON file beside an export: OUT.safetensors -> OUT.flags.json. */
export function flagsFileFor(file: string): string {
  return file.replace(/\.safetensors$/, '') + '.flags.json';
}

/**
 * Writes net and EMA weights of ReferenceUNets of one config as an exchange file plus its flags JSON. Their model.py
 * builds 3-channel images only: any other inChannels is refused.
 */
export function writeExchangeFile(file: string, net: ReferenceUNet, ema: ReferenceUNet, opts: { step?: number; extraFlags?: Record<string, unknown> } = {}): ExportResult {
  const c = net.config;
  const mismatch = configMismatch(c, ema.config);
  if (mismatch) throw new Error(`writeExchangeFile: the net and EMA models have different configs (${mismatch})`);
  if (c.inChannels !== 3) throw new Error(`writeExchangeFile: config.inChannels is ${c.inChannels}, but their model.py builds head/tail convs for 3 channels only`);
  const step = opts.step ?? 0;
  const flags = referenceFlagsFromConfig(c, opts.extraFlags);
  const asF32 = (sd: Record<string, Tensor>) => Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.dtype === 'float32' ? v : v.astype('float32')]));
  const tensors = exchangeTensors(asF32(net.stateDict()), asF32(ema.stateDict()));
  const meta = { format: EXCHANGE_FORMAT, flags: JSON.stringify(flags), step: String(step), writer: 'oclt export' };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, encodeSafetensors(tensors, meta));
  const flagsFile = flagsFileFor(file);
  writeFileAtomic(flagsFile, `${JSON.stringify(flags, null, 2)}\n`);
  return { file, flagsFile, flags, step, numTensors: Object.keys(tensors).length };
}
