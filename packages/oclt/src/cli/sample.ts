/**
 * `oclt sample`: draws samples from a trained run (EMA weights) or an `oclt import` directory (a ReferenceUNet, the
 * PyTorch UNet of OC_LT / CBDM, with its own noise schedule) with DDIM and classifier-free guidance, class-balanced
 * for conditional models; writes a PNG grid, the samples as safetensors and a JSON description.
 */
import path from 'node:path';
import { fromTypedArray, type Tensor } from '@oclt/tensor';
import { findNonFinite, sample, type Denoiser } from '@oclt/diffusion';
import { saveImageGrid, saveTensors } from '@oclt/diffusion/node';
import fs from 'node:fs';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { DEFAULT_SAMPLING, GRID_SCALE, NUM_CLASSES, SAMPLING_OPTIONS, asImages, balancedLabels, inChannelsOf, modelSampleShape, provenance, samplingConfigFrom, samplingScheduler, writeJson, type ModelConfig, type SamplingConfig } from './common.js';
import { loadModelDir, notAModelDirMessage, modelDirKind, type WeightsChoice } from './model-dir.js';

export interface SampleSettings {
  numSamples: number;
  /** DDIM steps (eta 0). */
  steps: number;
  /** Classifier-free guidance weight (conditional models only). */
  guidance: number;
  seed: number;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
  /** What the model is, for error messages (default 'the model'). */
  source?: string;
  /** How DDIM treats x0 (default `DEFAULT_SAMPLING`: OC_LT's sampler, no clipping). */
  sampling?: SamplingConfig;
}

export interface GeneratedSamples {
  /** [N, 1, S, S] in [-1, 1]. */
  images: Tensor;
  /** The class each sample was generated for (null for unconditional models). */
  labels: Int32Array | null;
}

/**
 * Samples from a model; conditional models get class-balanced labels grouped by class. Samples holding NaN or an
 * infinity are an error (naming how many and which), never images written as if they were fine.
 */
export function generateSamples(model: Denoiser, config: ModelConfig, s: SampleSettings): GeneratedSamples {
  const labels = model.numClasses > 0 ? balancedLabels(s.numSamples, model.numClasses) : null;
  const scheduler = samplingScheduler(config, s.sampling ?? DEFAULT_SAMPLING);
  const batchSize = s.batchSize ?? 250;
  let done = 0;
  const x = sample(model, scheduler, {
    numSamples: s.numSamples,
    sampleShape: modelSampleShape(config),
    batchSize,
    labels,
    guidanceWeight: labels ? s.guidance : 0,
    numInferenceSteps: s.steps,
    eta: 0,
    seed: s.seed,
    onStep: (info) => {
      if (info.stepIndex === info.numSteps - 1) {
        done = Math.min(s.numSamples, (info.batch + 1) * batchSize);
        s.onBatch?.(done, s.numSamples);
      }
    },
  });
  checkFiniteSamples(x, labels, s.source);
  return { images: asImages(x, config.imageSize, inChannelsOf(config)), labels };
}

/** Throws when a sample holds a non-finite value: how many of them, the first one and its class. */
export function checkFiniteSamples(x: Tensor, labels: Int32Array | null, source = 'the model'): void {
  if (!findNonFinite({ x })) return;
  const v = x.toTypedArray();
  const n = x.shape[0]!;
  const per = v.length / n;
  const bad: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let k = i * per; k < (i + 1) * per; k++) {
      if (!Number.isFinite(v[k]!)) {
        bad.push(i);
        break;
      }
    }
  }
  const first = bad[0]!;
  throw new Error(
    `${bad.length} of ${n} samples from ${source} hold NaN or infinite values (the first: sample ${first}${labels ? `, class ${labels[first]}` : ''}); no images were written. The weights are finite, so the sampling overflowed: the run probably diverged (check its train.jsonl)`,
  );
}

export function saveSamples(file: string, samples: GeneratedSamples): void {
  const tensors: Record<string, Tensor> = { images: samples.images };
  if (samples.labels) tensors.labels = fromTypedArray(samples.labels, [samples.labels.length]);
  saveTensors(file, tensors);
}

export const SAMPLE_OPTIONS = {
  run: { type: 'string', description: "run directory written by 'oclt train', or a directory written by 'oclt import --out'" },
  weights: { type: 'string', description: "'ema' (the EMA weights; an import's ema_model) or 'net' (the raw training weights; net_model)", default: 'ema', choices: ['ema', 'net'] },
  out: { type: 'string', description: 'output prefix: writes <out>.png, <out>.safetensors and <out>.json (default: <run>/samples-<seed>)', default: '' },
  num: { type: 'integer', description: 'number of samples (a multiple of the number of classes, 10 for Fashion-MNIST, for conditional models: balanced over classes)', default: 100, min: 1, max: 100000 },
  steps: { type: 'integer', description: 'DDIM steps (eta 0, 1..1000)', default: 50, min: 1, max: 1000 },
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

export const SAMPLE_HELP = helpText('sample', 'Sample a trained run or an imported PyTorch model (EMA weights, DDIM, classifier-free guidance); PNG grid + safetensors + JSON.', SAMPLE_OPTIONS);
