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
 *
 * Case `unet-ablation-b64`: the configuration the Table 1 ablation and the study train (issue 21), exactly as
 * `oclt train --model unet --channels 16` builds it (packages/oclt/src/cli/common.ts `buildModel`, train.ts's
 * Trainer config): 16x16x1 inputs, ch 16, mult [1, 2], 1 ResBlock per level, attention at 8x8, dropout 0.1,
 * 8 groups, 10 classes, batch 64, Adam lr 1e-3 (warmup 100), EMA 0.9999 with warmup, CFG label drop 0.1 per
 * batch. Its row also reports `steps_per_s`.
 *
 * Impl `oclt-cpu-no-column-sums` (only when named in `--impls`): the ablation case with the fast sum's column
 * path off (one pool call per row, as before issue 21's fix), interleaved with `oclt-cpu` in the same process.
 * Impl `oclt-cpu-no-winograd` (likewise): both UNet cases with Winograd F(2x2, 3x3) off (im2col + GEMM for every
 * conv, as before), interleaved with `oclt-cpu`; rows report `speedup_vs_no_winograd`.
 *
 * `--profile`: after timing, each case's step runs once more under `profile()` (modules as scopes, shapes in the
 * keys) and its table (by kind, by phase, top entries) is printed.
 */
import { Generator, matmul, profile, randn, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { ArrayDataset, countFlops, DDPMScheduler, ImageDataset, smallUNetConfig, Trainer, UNet2D } from '@oclt/diffusion';
// The same module instance as @oclt/tensor's under `--conditions=source` (how `npm run bench` runs).
import { sumPaths } from '../../../packages/tensor/src/backends/cpu/wasm/vector.js';
import { winogradPaths } from '../../../packages/tensor/src/backends/cpu/wasm/winograd.js';
import { interleave, round, selected, type BenchRow, type Contender, type Suite } from '../harness.js';

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

const ABLATION_BATCH = 64;
const ABLATION_SIZE = 16;

/** The ablation's model and trainer, as `oclt train --model unet --channels 16` (defaults) builds them. */
export function makeAblationTrainer(): Trainer {
  const g = new Generator(0);
  const n = 640;
  const S = ABLATION_SIZE;
  const data = Float32Array.from({ length: n * S * S }, () => g.integer(0, 256) / 127.5 - 1);
  const dataset = new ArrayDataset(data, [1, S, S], Int32Array.from({ length: n }, (_, i) => i % 10), 10);
  const model = new UNet2D({
    sampleSize: S,
    inChannels: 1,
    baseChannels: 16,
    channelMult: [1, 2],
    numResBlocks: 1,
    attentionResolutions: [S / 2],
    dropout: 0.1,
    numClasses: 10,
    numGroups: 8,
    seed: 0,
  });
  return new Trainer({
    model,
    scheduler: new DDPMScheduler(),
    dataset,
    config: { batchSize: ABLATION_BATCH, numSteps: 1_000_000, lr: 1e-3, warmupSteps: 100, emaDecay: 0.9999, emaWarmup: true, labelDropProb: 0.1, labelDropMode: 'per-batch', seed: 0 },
  });
}

function stepFlops(trainer: Trainer, batch: number, size: number): { trainingStep: number; forward: number } {
  const x = randn([batch, 1, size, size], new Generator(1));
  return countFlops(trainer.model, () => trainer.model.forward(x, new Int32Array(batch).fill(500), new Int32Array(batch).fill(3)));
}

/** Prints the profile of one more step of `trainer` (by kind, by phase, top entries). */
export function printStepProfile(name: string, trainer: Trainer, top = 30): string {
  const p = profile(() => trainer.step(), { modules: trainer.model.modules(), shapes: true });
  const text = `### profile: ${name} (one step, ${round(p.wallMs, 1)} ms)\n\n${p.toMarkdown({ top })}\n`;
  console.log(text);
  return text;
}

export const trainStepSuite: Suite = {
  name: 'train-step',
  description: 'one training step of the reference small UNet (28x28x1, ch 32, [1,2,2], batch 32) and of the ablation UNet (16x16x1, ch 16, [1,2], batch 64): ms, steps/s, GFLOP/s, peak RSS; vs matmul-512; --profile prints where each step goes',
  async run(opts): Promise<BenchRow[]> {
    const { quick } = opts;
    const trainer = makeTrainer();
    const flops = stepFlops(trainer, BATCH, 28);
    const ablation = makeAblationTrainer();
    const ablationFlops = stepFlops(ablation, ABLATION_BATCH, ABLATION_SIZE);
    const a: Tensor = randn([512, 512], new Generator(2));
    const b: Tensor = randn([512, 512], new Generator(3));
    const contenders: Contender[] = [
      { case: 'unet-small-b32', impl: 'oclt-cpu', flops: flops.trainingStep, run: () => trainer.step() },
      { case: 'unet-ablation-b64', impl: 'oclt-cpu', flops: ablationFlops.trainingStep, run: () => ablation.step() },
      ...(opts.impls?.includes('oclt-cpu-no-column-sums')
        ? [
            {
              case: 'unet-ablation-b64',
              impl: 'oclt-cpu-no-column-sums',
              flops: ablationFlops.trainingStep,
              run: () => {
                sumPaths.columnSums = false;
                try {
                  ablation.step();
                } finally {
                  sumPaths.columnSums = true;
                }
              },
            },
          ]
        : []),
      ...(opts.impls?.includes('oclt-cpu-no-winograd')
        ? ([['unet-small-b32', trainer, flops], ['unet-ablation-b64', ablation, ablationFlops]] as const).map(([name, t, f]) => ({
            case: name,
            impl: 'oclt-cpu-no-winograd',
            flops: f.trainingStep,
            run: () => {
              winogradPaths.enabled = false;
              try {
                t.step();
              } finally {
                winogradPaths.enabled = true;
              }
            },
          }))
        : []),
      {
        case: 'matmul-512',
        impl: 'oclt-cpu',
        flops: MATMUL_REPS * 2 * 512 ** 3,
        run: () => {
          for (let i = 0; i < MATMUL_REPS; i++) matmul(a, b).dataSync();
        },
      },
    ].filter((c) => selected(opts, c));
    const rows = await interleave(contenders, { rounds: opts.rounds ?? (quick ? 2 : 5), warmup: 1 });
    const mm = rows.find((r) => r.case === 'matmul-512');
    if (mm) {
      mm.median_ms = round(mm.median_ms / MATMUL_REPS, 4); // per product; gflops already counts all MATMUL_REPS
      mm.products_per_sample = MATMUL_REPS;
    }
    for (const [name, t, f] of [['unet-small-b32', trainer, flops], ['unet-ablation-b64', ablation, ablationFlops]] as const) {
      for (const step of rows.filter((r) => r.case === name)) {
        step.steps_per_s = round(1000 / step.median_ms, 4);
        step.flops_per_step = f.trainingStep;
        step.forward_gflop = round(f.forward / 1e9, 3);
        step.params = t.model.numParameters();
        step.peak_rss_mib = round(process.resourceUsage().maxRSS / 1024, 1);
        if (mm?.gflops && step.gflops) {
          step.matmul512_gflops = mm.gflops;
          step.ratio_vs_matmul512 = round(step.gflops / mm.gflops, 3);
          step.target_ratio = 0.4;
        }
      }
    }
    const before = rows.find((r) => r.impl === 'oclt-cpu-no-column-sums');
    const after = rows.find((r) => r.case === 'unet-ablation-b64' && r.impl === 'oclt-cpu');
    if (before && after) after.speedup_vs_no_column_sums = round(before.median_ms / after.median_ms, 3);
    for (const name of ['unet-small-b32', 'unet-ablation-b64']) {
      const off = rows.find((r) => r.case === name && r.impl === 'oclt-cpu-no-winograd');
      const on = rows.find((r) => r.case === name && r.impl === 'oclt-cpu');
      if (off && on) on.speedup_vs_no_winograd = round(off.median_ms / on.median_ms, 3);
    }
    if (opts.profile) {
      for (const [name, t] of [['unet-small-b32', trainer], ['unet-ablation-b64', ablation]] as const) {
        if (!rows.some((r) => r.case === name)) continue;
        printStepProfile(name, t);
        if (rows.some((r) => r.case === name && r.impl === 'oclt-cpu-no-winograd')) {
          winogradPaths.enabled = false;
          try {
            printStepProfile(`${name}, Winograd off`, t);
          } finally {
            winogradPaths.enabled = true;
          }
        }
      }
    }
    return rows;
  },
};
