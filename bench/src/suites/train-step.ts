/**
 * train-step: one training step of the reference small UNet (issue 5): 28x28x1 inputs, ch 32, mult [1, 2, 2],
 * 1 ResBlock per level, attention at 7x7, 10 classes, batch 32, through the real diffusion `Trainer` (noising,
 * forward, MSE, backward, gradient clipping, Adam, EMA).
 *
 * Reported: median milliseconds per step, achieved GFLOP/s, and peak RSS. GFLOP/s counts only the
 * multiply-adds of convolutions and matrix products of forward + backward, analytically (see
 * packages/diffusion/src/models/flops.ts: conv 2 N Cout Hout Wout Cin kh kw, linear 2 rows in out, attention
 * 2 N T^2 C per product; backward = 2 forwards per layer, the first layer only its weight gradient), so it
 * understates the work (norms, elementwise ops and Adam are not counted).
 *
 * In the same run and interleaved, a 512x512 float32 matmul on our engine gives the machine's reference rate;
 * `ratio_vs_matmul512` = step GFLOP/s / matmul GFLOP/s (target >= 0.4: the step spends its time in kernels,
 * not in overhead). Peak RSS is the process maximum (`process.resourceUsage().maxRSS`) after the run.
 */
import { Generator, matmul, randn, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { countFlops, DDPMScheduler, ImageDataset, smallUNetConfig, Trainer, UNet2D } from '@oclt/diffusion';
import { interleave, round, type BenchRow, type Suite } from '../harness.js';

const BATCH = 32;
/** Matmuls per timed sample: one ~30-120 ms product per ~30 s training step is a noisy reference on a busy machine. */
const MATMUL_REPS = 8;

function makeTrainer(): Trainer {
  const g = new Generator(0);
  const n = 256;
  const pixels = new Uint8Array(n * 28 * 28).map(() => g.integer(0, 256));
  const dataset = new ImageDataset(pixels, 1, 28, 28, Int32Array.from({ length: n }, (_, i) => i % 10), 10, { horizontalFlip: true });
  const model = new UNet2D(smallUNetConfig({ numClasses: 10 }));
  return new Trainer({ model, scheduler: new DDPMScheduler(), dataset, config: { batchSize: BATCH, numSteps: 1_000_000, lr: 2e-4, warmupSteps: 100, seed: 0 } });
}

export const trainStepSuite: Suite = {
  name: 'train-step',
  description: 'one training step of the reference small UNet (28x28x1, ch 32, [1,2,2], batch 32): ms, GFLOP/s, peak RSS; vs matmul-512',
  async run({ quick }): Promise<BenchRow[]> {
    const trainer = makeTrainer();
    const x = randn([BATCH, 1, 28, 28], new Generator(1));
    const flops = countFlops(trainer.model, () => trainer.model.forward(x, new Int32Array(BATCH).fill(500), new Int32Array(BATCH).fill(3)));
    const a: Tensor = randn([512, 512], new Generator(2));
    const b: Tensor = randn([512, 512], new Generator(3));
    const rows = await interleave(
      [
        { case: 'unet-small-b32', impl: 'oclt-cpu', flops: flops.trainingStep, run: () => trainer.step() },
        {
          case: 'matmul-512',
          impl: 'oclt-cpu',
          flops: MATMUL_REPS * 2 * 512 ** 3,
          run: () => {
            for (let i = 0; i < MATMUL_REPS; i++) matmul(a, b).dataSync();
          },
        },
      ],
      { rounds: quick ? 2 : 5, warmup: 1 },
    );
    const step = rows.find((r) => r.case === 'unet-small-b32');
    const mm = rows.find((r) => r.case === 'matmul-512');
    if (mm) {
      mm.median_ms = round(mm.median_ms / MATMUL_REPS, 4); // per product; gflops already counts all MATMUL_REPS
      mm.products_per_sample = MATMUL_REPS;
    }
    if (step) {
      step.flops_per_step = flops.trainingStep;
      step.forward_gflop = round(flops.forward / 1e9, 3);
      step.params = trainer.model.numParameters();
      step.peak_rss_mib = round(process.resourceUsage().maxRSS / 1024, 1);
      if (mm?.gflops && step.gflops) {
        step.matmul512_gflops = mm.gflops;
        step.ratio_vs_matmul512 = round(step.gflops / mm.gflops, 3);
        step.target_ratio = 0.4;
      }
    }
    return rows;
  },
};
