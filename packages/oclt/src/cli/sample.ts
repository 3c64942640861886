/**
 * `oclt sample`: draws samples from a trained run (EMA weights) or an `oclt import` directory (a ReferenceUNet, the
 * PyTorch UNet of OC_LT / CBDM, with its own noise schedule) with DDIM (or another --scheduler) and classifier-free guidance, class-balanced
 * for conditional models; writes a PNG grid, the samples as safetensors and a JSON description.
 */
import fs from 'node:fs';
import path from 'node:path';
import { saveImageGrid } from '@oclt/diffusion/node';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { GRID_SCALE, SAMPLING_OPTIONS, provenance, samplingConfigFrom, writeJson } from './common.js';
import { generateSamples, saveSamples } from './generate.js';
import { loadModelDir, notAModelDirMessage, modelDirKind, type WeightsChoice } from './model-dir.js';

export const SAMPLE_OPTIONS = {
  run: { type: 'string', description: "run directory written by 'oclt train', or a directory written by 'oclt import --out'" },
  weights: { type: 'string', description: "'ema' (the EMA weights; an import's ema_model) or 'net' (the raw training weights; net_model)", default: 'ema', choices: ['ema', 'net'] },
  out: { type: 'string', description: 'output prefix: writes <out>.png, <out>.safetensors and <out>.json (default: <run>/samples-<seed>)', default: '' },
  num: { type: 'integer', description: 'number of samples (a multiple of the number of classes, 10 for Fashion-MNIST, for conditional models: balanced over classes)', default: 100, min: 1, max: 100000 },
  steps: { type: 'integer', description: "sampling steps of --scheduler (DDIM: eta 0), 1..1000 (at most the model's T)", default: 50, min: 1, max: 1000 },
  guidance: { type: 'number', description: 'classifier-free guidance weight w: (1 + w) eps(x, y) - w eps(x)', default: 1.5 },
  seed: { type: 'integer', description: 'seed of the initial noise', default: 0 },
  'grid-scale': { type: 'integer', description: 'PNG grid upscaling (nearest neighbour), so that 16 px images are readable when opened', default: GRID_SCALE, min: 1, max: 64 },
  ...SAMPLING_OPTIONS,
} as const satisfies OptionSpecs;

export async function sampleCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('sample', argv, SAMPLE_OPTIONS);
  if (!o.run || !fs.existsSync(o.run) || modelDirKind(o.run) === null) throw new UsageError(notAModelDirMessage('--run', o.run));
  const loaded = loadModelDir(o.run, { weights: o.weights as WeightsChoice });
  const { model, modelConfig, step } = loaded;
  const numClasses = modelConfig.numClasses;
  if (numClasses > 0 && o.num % numClasses !== 0) throw new UsageError(`--num must be a multiple of ${numClasses} for the conditional model of ${o.run} (balanced over classes), got ${o.num}`);
  const sampling = samplingConfigFrom(o);
  const prefix = o.out || path.join(o.run, `samples-${o.seed}`);
  const t0 = performance.now();
  const samples = generateSamples(model, modelConfig, { numSamples: o.num, steps: o.steps, guidance: o.guidance, seed: o.seed, source: loaded.description, sampling });
  const seconds = (performance.now() - t0) / 1000;
  saveImageGrid(`${prefix}.png`, samples.images, { nrow: samples.labels ? Math.max(1, o.num / numClasses) : undefined, scale: o['grid-scale'] });
  saveSamples(`${prefix}.safetensors`, samples);
  writeJson(`${prefix}.json`, {
    kind: 'oclt-samples',
    ...provenance('sample', { run: o.run, runKind: loaded.kind, weights: loaded.weights, checkpointStep: step, num: o.num, steps: o.steps, guidance: samples.labels ? o.guidance : null, seed: o.seed, sampling, model: modelConfig, train: loaded.train, imported: loaded.imported }),
    wallSeconds: seconds,
    png: `${prefix}.png`,
    safetensors: `${prefix}.safetensors`,
  });
  console.log(`${o.num} samples in ${seconds.toFixed(1)} s -> ${prefix}.png, .safetensors, .json`);
  return 0;
}

export const SAMPLE_HELP = helpText('sample', 'Sample a trained run or an imported PyTorch model (EMA weights, DDIM or --scheduler, classifier-free guidance); PNG grid + safetensors + JSON.', SAMPLE_OPTIONS);
