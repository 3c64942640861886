/**
 * `oclt import`: reads a checkpoint of the PyTorch code of OC_LT / CBDM into a ReferenceUNet, strictly (every key,
 * every shape), for sampling and evaluation here. The input is safetensors:
 * - their ckpt_<step>.pt converted by `python3 packages/oclt/pytorch/oclt_checkpoint.py from-pt ckpt.pt OUT.safetensors
 *   [--flagfile LOGDIR/flagfile.txt]` (net_model.* and ema_model.*), or
 * - what `oclt export` wrote, or
 * - a plain state dict with their keys (e.g. safetensors.torch.save_file(model.state_dict(), ...)).
 * F16 and BF16 tensors are widened to float32 exactly and I64 narrowed to int32 (range-checked); each conversion is
 * reported. The architecture is read from the keys and shapes (T, ch, ch_mult, attn, num_res_blocks, classes);
 * flags in the file's metadata or a --flagfile are checked against it and supply what the weights cannot (dropout,
 * img_size).
 *
 * With --out it writes DIR/model.safetensors (an exchange file in float32, both weights; `oclt export --from` reads it)
 * and DIR/import.json (config, flags, conversions, step, the source's SHA-256); with --samples N it also samples
 * N images (the DDIM of `oclt sample` on the schedule of their flags, classifier-free guidance as their sampler:
 * eps + w (eps - eps_uncond)) into DIR/samples.png and DIR/samples.safetensors; `oclt sample --run DIR` samples it later.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromTypedArray } from '@oclt/tensor';
import { sample } from '@oclt/diffusion';
import { saveImageGrid, saveTensors } from '@oclt/diffusion/node';
import { referenceFlagsFromConfig } from '../pytorch-bridge.js';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { provenance, referenceModelConfig, referenceSchedule, samplingScheduler, writeJson } from './common.js';
import { loadExchangeFile, writeExchangeFile } from './exchange-file.js';

const OPTIONS = {
  checkpoint: { type: 'string', description: 'the safetensors file to read (their ckpt_<step>.pt after oclt_checkpoint.py from-pt, an oclt export, or a plain state dict)' },
  weights: { type: 'string', description: "which weights: 'ema' (their ckpt['ema_model'], what they evaluate) or 'net' (ckpt['net_model'])", default: 'ema', choices: ['ema', 'net'] },
  flagfile: { type: 'string', description: "their LOGDIR/flagfile.txt (absl --name=value lines); '' = the flags in the file's metadata, if any", default: '' },
  'img-size': { type: 'integer', description: 'image size when no flags give it (their --img_size; the weights do not fix it)', default: 32, min: 2 },
  out: { type: 'string', description: "directory for model.safetensors, import.json (and the samples); '' = only check and report", default: '' },
  samples: { type: 'integer', description: 'draw this many samples (class-balanced for conditional models) into --out', default: 0, min: 0 },
  steps: { type: 'integer', description: 'DDIM steps (eta 0, leading spacing; OC_LT ddpm_gen.py: skip 10 of T = 1000 -> 100)', default: 100, min: 1 },
  guidance: { type: 'number', description: "classifier-free guidance w (their --omega / --w: eps + w (eps - eps_uncond); OC_LT's README uses 1.5)", default: 1.5, min: 0 },
  seed: { type: 'integer', description: 'seed of the sampling noise', default: 0 },
  'batch-size': { type: 'integer', description: 'samples per model batch', default: 50, min: 1 },
} as const satisfies OptionSpecs;

export const IMPORT_HELP = helpText(
  'import',
  'Read a checkpoint of the PyTorch code of OC_LT/CBDM (safetensors; convert their ckpt_<step>.pt first with\n' +
    '  python3 packages/oclt/pytorch/oclt_checkpoint.py from-pt LOGDIR/ckpt_<step>.pt OUT.safetensors --flagfile LOGDIR/flagfile.txt)\n' +
    'into a ReferenceUNet, strictly; report it, and optionally save it (--out) and sample from it (--samples).',
  OPTIONS,
);

/** Class-balanced labels for n samples, grouped by class (the first n % C classes get one more). */
function balanced(n: number, classes: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor((i * classes) / n);
  return out;
}

export async function importCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('import', argv, OPTIONS);
  if (!o.checkpoint) throw new UsageError('--checkpoint is required (a .safetensors file)');
  if (o.samples > 0 && !o.out) throw new UsageError('--samples needs --out (the directory the samples are written to)');
  const weights = o.weights as 'ema' | 'net';
  const loaded = loadExchangeFile(o.checkpoint, { weights, flagfile: o.flagfile || undefined, imgSize: o['img-size'] });
  const c = loaded.config;
  const conv = Object.entries(loaded.converted);
  console.log(
    `[import] ${o.checkpoint}: ${loaded.layout === 'exchange' ? 'net_model + ema_model' : 'one plain state dict'}, step ${loaded.step}; ` +
      `ReferenceUNet T ${c.T}, ch ${c.ch}, ch_mult [${c.chMult}], attn [${c.attn}], ${c.numResBlocks} res blocks, ${c.numClasses} classes, ${c.imgSize}x${c.imgSize}; ` +
      `${loaded.model.numParameters()} trainable parameters; loaded '${weights}' strictly`,
  );
  if (conv.length) {
    const byKind = new Map<string, number>();
    for (const [, v] of conv) byKind.set(`${v.from} -> ${v.to}`, (byKind.get(`${v.from} -> ${v.to}`) ?? 0) + 1);
    console.log(`[import] converted on load: ${[...byKind].map(([k, n]) => `${n} tensors ${k}`).join(', ')}`);
  }
  if (!o.out) return 0;
  fs.mkdirSync(o.out, { recursive: true });
  const net = weights === 'net' ? loaded.model : loadExchangeFile(o.checkpoint, { weights: 'net', flagfile: o.flagfile || undefined, imgSize: o['img-size'] }).model;
  const ema = weights === 'ema' ? loaded.model : loadExchangeFile(o.checkpoint, { weights: 'ema', flagfile: o.flagfile || undefined, imgSize: o['img-size'] }).model;
  const extraFlags: Record<string, unknown> = {};
  // Their flags beyond the model's; their schedule (beta_1, beta_T, var_type) too, so that `oclt sample --run` of the
  // import directory uses the schedule the model was trained with (the model flags come from the weights).
  const scheduleFlags = ['beta_1', 'beta_T', 'var_type'];
  for (const [k, v] of Object.entries(loaded.flags ?? {})) if (!(k in referenceFlagsFromConfig(c)) || scheduleFlags.includes(k)) extraFlags[k] = v;
  writeExchangeFile(path.join(o.out, 'model.safetensors'), net, ema, { step: loaded.step, extraFlags });
  const report: Record<string, unknown> = {
    source: path.resolve(o.checkpoint),
    sourceSha256: loaded.sha256,
    layout: loaded.layout,
    step: loaded.step,
    weights,
    config: c,
    flags: loaded.flags,
    converted: loaded.converted,
    provenance: provenance('import', { checkpoint: o.checkpoint, weights, flagfile: o.flagfile }),
  };
  if (o.samples > 0) {
    // The sampler of `oclt sample` (OC_LT's DDIM, common.ts samplingScheduler) on the schedule of their flags.
    const scheduler = samplingScheduler(referenceModelConfig(c, referenceSchedule(c.T, loaded.flags, (name) => `${o.flagfile || o.checkpoint}: flag '${name}'`)));
    const labels = c.numClasses > 0 ? balanced(o.samples, c.numClasses) : null;
    const started = Date.now();
    const x = sample(loaded.model, scheduler, {
      numSamples: o.samples,
      sampleShape: [c.inChannels, c.imgSize, c.imgSize],
      batchSize: o['batch-size'],
      labels,
      guidanceWeight: labels ? o.guidance : 0,
      numInferenceSteps: o.steps,
      eta: 0,
      seed: o.seed,
    }).clamp(-1, 1);
    const values = x.toTypedArray();
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw new Error(`sampling produced a non-finite value at element ${i}`);
    saveImageGrid(path.join(o.out, 'samples.png'), x, { nrow: labels ? Math.min(o.samples, Math.ceil(o.samples / c.numClasses)) : undefined });
    saveTensors(path.join(o.out, 'samples.safetensors'), labels ? { samples: x, labels: fromTypedArray(labels, [labels.length]) } : { samples: x }, { source: loaded.sha256 });
    report.samples = { count: o.samples, steps: o.steps, guidance: labels ? o.guidance : 0, seed: o.seed, seconds: (Date.now() - started) / 1000, files: ['samples.png', 'samples.safetensors'] };
    console.log(`[import] ${o.samples} samples (${o.steps} DDIM steps, w ${labels ? o.guidance : 0}) -> ${path.join(o.out, 'samples.png')}`);
  }
  writeJson(path.join(o.out, 'import.json'), report);
  console.log(`[import] wrote ${path.join(o.out, 'model.safetensors')} and import.json`);
  return 0;
}
