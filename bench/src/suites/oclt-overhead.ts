/**
 * oclt-overhead: what oriented calibration adds to a training step (issue 6: "the selection step adds at most 3%
 * to a training step of the reference small UNet at batch 128 on 28x28 images").
 *
 * Contenders, on the same machine in the same process, interleaved (one training step, then a few selections,
 * per round, so that a slow phase of the machine hits both):
 *  - a full baseline training step of the reference small UNet (28x28x1, ch 32, mult [1, 2, 2], 1 res block,
 *    attention at 7x7, 10 classes, dropout 0.1) through @oclt/diffusion's Trainer: batch, noising, forward, loss,
 *    backward, gradient clipping, Adam, EMA;
 *  - `selectTargets` (Eq. 8, T2H gate, no cut time, so every row is drawn: the worst case) on a batch of the same
 *    size and image shape, including building the new targets.
 * overhead_pct = median selection time / median training-step time * 100. Image content does not change the
 * work (the kernel is a dense B x B Gram matrix), so random images in [-1, 1] stand in for the data.
 */
import { Generator, randint, randn } from '@oclt/tensor';
import { ArrayDataset, DDPMScheduler, Trainer, UNet2D } from '@oclt/diffusion';
import { classFrequencies, countClasses, selectTargets } from 'oclt';
import { median, round, type BenchRow, type Suite } from '../harness.js';

export const ocltOverheadSuite: Suite = {
  name: 'oclt-overhead',
  description: 'Eq. 8 target selection vs one training step of the reference small UNet (batch 128, 28x28x1)',
  async run({ quick }) {
    const batchSize = 128;
    const numClasses = 10;
    const gen = new Generator(0);
    const rows = 4 * batchSize;
    const images = new Float32Array(rows * 28 * 28);
    for (let k = 0; k < images.length; k++) images[k] = 2 * gen.random() - 1;
    // Long-tailed labels (imbalance 0.01 over 10 classes) so the gate sees unequal frequencies.
    const labels = Int32Array.from({ length: rows }, () => Math.min(numClasses - 1, Math.floor(-Math.log(1 - gen.random()) / 0.5)));
    const dataset = new ArrayDataset(images, [1, 28, 28], labels, numClasses);
    const q = classFrequencies(countClasses(labels, numClasses));
    const scheduler = new DDPMScheduler();
    const model = new UNet2D({ sampleSize: 28, inChannels: 1, baseChannels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [7], numClasses, dropout: 0.1 });
    const trainer = new Trainer({ model, scheduler, dataset, config: { batchSize, numSteps: 100, seed: 1 } });

    const selection = () => {
      const batch = dataset.batch(Int32Array.from({ length: batchSize }, () => gen.integer(0, rows)));
      const timesteps = randint(0, scheduler.numTrainTimesteps, [batchSize], gen);
      const noise = randn(batch.x.shape, gen);
      const xt = scheduler.addNoise(batch.x, noise, timesteps);
      const t0 = performance.now();
      selectTargets({ x0: batch.x, xt, noise, timesteps, alphasCumprod: scheduler.alphasCumprod, labels: batch.labels!, classFrequencies: q, gate: 't2h', gen });
      return performance.now() - t0;
    };
    const trainStep = () => {
      const t0 = performance.now();
      trainer.step();
      return performance.now() - t0;
    };

    // A training step at batch 128 takes long on CPU: quick mode times one step (after no warm-up step).
    const rounds = quick ? 1 : 3;
    const selectionsPerRound = 5;
    for (let k = 0; k < 3; k++) selection();
    if (!quick) trainStep();
    const selectionTimes: number[] = [];
    const stepTimes: number[] = [];
    for (let r = 0; r < rounds; r++) {
      stepTimes.push(trainStep());
      for (let k = 0; k < selectionsPerRound; k++) selectionTimes.push(selection());
    }
    const selectionMs = median(selectionTimes);
    const stepMs = median(stepTimes);
    const row: BenchRow = {
      case: 'oclt-overhead',
      impl: 'oclt-cpu',
      median_ms: round(selectionMs, 3),
      train_step_ms: round(stepMs, 1),
      overhead_pct: round((100 * selectionMs) / stepMs, 3),
      target_pct: 3,
      batch: `${batchSize}x1x28x28`,
      unet: 'ch32 mult[1,2,2] res1 attn@7 (10 classes)',
      params: model.numParameters(),
      train_steps_timed: stepTimes.length,
      selections_timed: selectionTimes.length,
    };
    return [row];
  },
};
