/**
 * The playground's training worker: builds the Appendix J toy, trains an MLP denoiser with the chosen oclt recipe
 * a few steps at a time, and after each chunk posts the learned score field (and, every few chunks, DDIM samples
 * with their tail share and sliced Wasserstein distance to the balanced target). Between chunks it yields to its
 * event loop, so 'stop' and new settings arrive at once and the page never waits on training.
 */
import { cpuThreadsReady, Generator, getBackend, noGrad, setCpuKernels, tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { appendixJToy, DDIMScheduler, DDPMScheduler, MLPDenoiser, mixtureNoisePredictor, sample, Trainer, withEmaWeights, withEvalMode } from '@oclt/diffusion';
import { recipeTrainerHooks } from 'oclt';
import { fieldGrid, HEAD_COUNT, HEAD_MEAN, recipeOf, TAIL_MEAN, VARIANCE, type FieldArrow, type FromWorker, type ToWorker, type TrainConfig } from './protocol.js';
import { nearestMeanShares, slicedWasserstein2d } from './toy-metrics.js';

const post = (m: FromWorker) => (self as unknown as { postMessage(m: FromWorker): void }).postMessage(m);
const SAMPLES = 600;
const DDIM_STEPS = 25;
const CHUNK = 10;
const SAMPLE_EVERY = 5; // chunks

let run = 0;
let fieldT = 200;
/** Tail weight of the current run's training distribution (for the exact fields). */
let tailWeight = 0.01 / 1.01;
const schedule = new DDPMScheduler({ numTrainTimesteps: 1000 });

function gaussianCloud(n: number, mean: readonly number[], gen: Generator): number[] {
  const std = Math.sqrt(VARIANCE);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(mean[0]! + std * gen.normal(), mean[1]! + std * gen.normal());
  return out;
}

/** -E[eps | x_t] / sqrt(1 - abar): the exact score of a two-Gaussian mixture with weights w (closed form). */
function exactField(weights: [number, number], abar: number): FieldArrow[] {
  const grid = fieldGrid();
  const std = Math.sqrt(VARIANCE);
  const eps = mixtureNoisePredictor(
    [
      { mean: HEAD_MEAN, std, weight: weights[0] },
      { mean: TAIL_MEAN, std, weight: weights[1] },
    ],
    abar,
    grid.flatMap((p) => [p.x, p.y]),
  );
  const s = -1 / Math.sqrt(1 - abar);
  return grid.map((p, i) => ({ ...p, u: s * eps[2 * i]!, v: s * eps[2 * i + 1]! }));
}

async function train(config: TrainConfig, id: number): Promise<void> {
  setCpuKernels(config.referenceKernels ? 'reference' : 'fast');
  await cpuThreadsReady(); // helper Web Workers (cross-origin isolated page) start while this worker awaits
  const gen = new Generator(config.seed);
  const tailCount = Math.max(1, Math.round(HEAD_COUNT * config.imbalance));
  const data = appendixJToy(gen.spawn(), { headCount: HEAD_COUNT, tailCount, headMean: HEAD_MEAN, tailMean: TAIL_MEAN, variance: VARIANCE });
  const ddpm = new DDPMScheduler({ numTrainTimesteps: 1000 });
  const truth = [...gaussianCloud(SAMPLES / 2, HEAD_MEAN, gen), ...gaussianCloud(SAMPLES / 2, TAIL_MEAN, gen)];
  const truth2 = [...gaussianCloud(SAMPLES / 2, HEAD_MEAN, gen), ...gaussianCloud(SAMPLES / 2, TAIL_MEAN, gen)];
  const means = [HEAD_MEAN, TAIL_MEAN];
  const n = data.data.length / 2;
  const stride = Math.max(1, Math.floor(n / 1500));
  const drawn: number[] = [];
  for (let i = 0; i < n; i += stride) drawn.push(data.data[2 * i]!, data.data[2 * i + 1]!);
  const wTail = (tailWeight = tailCount / (HEAD_COUNT + tailCount));
  const recipe = recipeOf(config);
  post({
    type: 'ready',
    run: id,
    backend: getBackend().info(),
    recipe,
    data: drawn,
    headCount: HEAD_COUNT,
    tailCount,
    exactField: exactField([1 - wTail, wTail], ddpm.alphasCumprod[fieldT]!),
    balancedField: exactField([0.5, 0.5], ddpm.alphasCumprod[fieldT]!),
    swFloor: slicedWasserstein2d(truth2, truth),
    dataTailShare: nearestMeanShares(drawn, means)[1]!,
    dataSw: slicedWasserstein2d(drawn, truth),
  });

  const model = new MLPDenoiser({ dataDim: 2, hidden: 64, numLayers: 3, seed: config.seed });
  const hooks = recipeTrainerHooks(recipe, { labels: data.labels!, numClasses: 2, batchSize: config.batchSize, alphasCumprod: ddpm.alphasCumprod, gen: new Generator(config.seed + 1) });
  const trainer = new Trainer({
    model,
    scheduler: ddpm,
    dataset: data,
    config: { batchSize: config.batchSize, numSteps: config.steps, lr: 2e-3, warmupSteps: 100, emaDecay: 0.99, labelDropProb: 0, seed: config.seed },
    sampler: hooks.sampler,
    targetHook: hooks.targetHook,
    lossHook: hooks.lossHook,
  });
  const grid = fieldGrid();
  const gridX = tensor(grid.flatMap((p) => [p.x, p.y])).reshape(grid.length, 2);
  let loss = 0;
  let transfer = 0;
  let chunk = 0;
  for (let step = 0; step < config.steps && id === run; ) {
    const t0 = performance.now();
    const k = Math.min(CHUNK, config.steps - step);
    for (let i = 0; i < k; i++, step++) {
      const stats = trainer.step();
      loss = step === 0 ? stats.loss : 0.95 * loss + 0.05 * stats.loss;
      transfer = 0.95 * transfer + 0.05 * (stats.diagnostics?.transferRate ?? 0);
    }
    const stepMs = (performance.now() - t0) / k;
    const done = step >= config.steps;
    const inEma = <T>(fn: () => T): T => withEmaWeights(trainer.ema!, model, () => withEvalMode(model, () => noGrad(fn)));
    const abar = ddpm.alphasCumprod[fieldT]!;
    const eps = inEma(() => model.forward(gridX, fieldT)).toTypedArray();
    const s = -1 / Math.sqrt(1 - abar);
    const field = grid.map((p, i) => ({ ...p, u: s * eps[2 * i]!, v: s * eps[2 * i + 1]! }));
    let samples: number[] | null = null;
    let tailShare: number | null = null;
    let sw: number | null = null;
    if (chunk % SAMPLE_EVERY === 0 || done) {
      const ddim = new DDIMScheduler({ numTrainTimesteps: 1000 });
      samples = Array.from(inEma(() => sample(model, ddim, { numSamples: SAMPLES, sampleShape: [2], batchSize: SAMPLES, numInferenceSteps: DDIM_STEPS, eta: 1, seed: config.seed + 7 })).toTypedArray());
      tailShare = nearestMeanShares(samples, means)[1]!;
      sw = slicedWasserstein2d(samples, truth);
    }
    chunk++;
    post({ type: 'frame', run: id, step, steps: config.steps, loss, stepMs, transferRate: transfer, field, samples, tailShare, sw, done });
    await new Promise((r) => setTimeout(r, 0));
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'stop') run++;
  else if (m.type === 'fieldT') {
    fieldT = m.fieldT;
    const abar = schedule.alphasCumprod[fieldT]!;
    post({ type: 'exact', run, fieldT, exactField: exactField([1 - tailWeight, tailWeight], abar), balancedField: exactField([0.5, 0.5], abar) });
  }
  else if (m.type === 'start') {
    const id = ++run;
    fieldT = m.config.fieldT;
    train(m.config, id).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }));
  }
};
