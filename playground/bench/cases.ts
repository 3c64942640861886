/**
 * The two workloads of the Chromium-vs-Node measurement, one module for both sides: a 512x512 float32 matmul
 * (16 per sample) and one training step of the reference small UNet (bench/src/suites/train-step.ts: 28x28x1, ch 32,
 * mult [1, 2, 2], attention at 7x7, 10 classes, batch 32, through the diffusion Trainer). Relaxed SIMD on in both
 * (native in Chromium, V8's flag on Node 20), so both run the same kernel bytes.
 */
import { cpuThreads, cpuThreadsReady, Generator, getBackend, matmul, randn, setCpuKernels, type Tensor } from '@oclt/tensor';
import '@oclt/autograd';
import { DDPMScheduler, ImageDataset, smallUNetConfig, Trainer, UNet2D } from '@oclt/diffusion';
import { fallbackCounts } from '../../packages/tensor/src/backends/cpu/wasm/index.js';

const MATMUL_REPS = 16;
let a: Tensor;
let b: Tensor;
let trainer: Trainer;

export async function setup(threads: number): Promise<{ info: string }> {
  setCpuKernels('fast', { relaxedSimd: true });
  cpuThreads(threads);
  await cpuThreadsReady();
  const g = new Generator(0);
  a = randn([512, 512], g);
  b = randn([512, 512], g);
  const n = 256;
  const pixels = new Uint8Array(n * 28 * 28).map(() => g.integer(0, 256));
  const dataset = new ImageDataset(pixels, 1, 28, 28, Int32Array.from({ length: n }, (_, i) => i % 10), 10, { horizontalFlip: true });
  const model = new UNet2D(smallUNetConfig({ numClasses: 10 }));
  trainer = new Trainer({ model, scheduler: new DDPMScheduler(), dataset, config: { batchSize: 32, numSteps: 1_000_000, lr: 2e-4, warmupSteps: 100, seed: 0 } });
  // Warm-up: out of Liftoff into TurboFan, the heap at its working size.
  for (let i = 0; i < 2 * MATMUL_REPS; i++) matmul(a, b);
  trainer.step();
  trainer.step();
  return { info: getBackend().info() };
}

/** Milliseconds per 512x512 matmul (mean of MATMUL_REPS back to back). */
export function matmulSample(): number {
  const t0 = performance.now();
  for (let i = 0; i < MATMUL_REPS; i++) matmul(a, b);
  return (performance.now() - t0) / MATMUL_REPS;
}

/** Milliseconds of one UNet training step. */
export function unetSample(): number {
  const t0 = performance.now();
  trainer.step();
  return performance.now() - t0;
}

/** Ops that ran on the reference kernels because they did not fit the kernels' memory (should stay 0). */
export function fallbacks(): number {
  return fallbackCounts.estimate + fallbackCounts.backstop;
}
