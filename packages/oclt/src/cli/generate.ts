/**
 * Drawing samples from a model for the commands (`sample`, `train`'s grid, `ablation`, `study`): class-balanced
 * labels, OC_LT's DDIM or the sampler of `sampling` (common.ts samplingScheduler), a check that no sample is non-finite, and the safetensors the
 * metrics read. Apart from sample.ts so that the commands that train and the one that samples do not import each
 * other.
 */
import { fromTypedArray, type Tensor } from '@oclt/tensor';
import { findNonFinite, sample, type Denoiser } from '@oclt/diffusion';
import { saveTensors } from '@oclt/diffusion/node';
import { DEFAULT_SAMPLING, asImages, balancedLabels, inChannelsOf, modelSampleShape, samplingScheduler, type ModelConfig, type SamplingConfig } from './common.js';

export interface SampleSettings {
  numSamples: number;
  /** Sampling steps (DDIM: eta 0). */
  steps: number;
  /** Classifier-free guidance weight (conditional models only). */
  guidance: number;
  seed: number;
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
  /** What the model is, for error messages (default 'the model'). */
  source?: string;
  /** The sampler and how it treats x0 (default `DEFAULT_SAMPLING`: OC_LT's DDIM, no clipping). */
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
