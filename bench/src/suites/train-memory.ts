/**
 * train-memory: does a long training loop keep memory flat? (Issue 3: "No leak: a 500-step training loop keeps
 * memory flat.")
 *
 * A small denoising model with the layers of a DDPM UNet (Conv2d, GroupNorm, SiLU, strided Downsample,
 * attention block, nearest Upsample) trains for 500 steps with AdamW, gradient clipping, a warmup+cosine
 * schedule and an EMA, on fresh random batches each step, each step in a `tidy` (as `Trainer.step` does; without
 * it the fast kernels' results would wait for the event loop to be freed, see memory.ts). We force a full garbage collection before each
 * reading (V8's `gc`, enabled at run time with --expose-gc) so that the heap figures are live memory, not
 * garbage waiting for collection, and read heap/RSS after step 1 (start: optimizer state allocated),
 * step 250 (middle) and step 500 (end). A leak shows as steady growth: `heap_slope_kb_per_step` is the
 * least-squares slope of the heap over readings every 50 steps from step 100 to 500 (after warm-up), a figure
 * less noisy than a difference of two readings. ArrayBuffer memory (`external`) is freed by V8 in batches, so
 * it moves up and down by a few MB between readings without trending.
 */
import { AdamW, AttentionBlock2d, Conv2d, Downsample, EMA, GroupNorm, Module, SiLU, Upsample, clipGradNorm, mseLoss, warmupCosine } from '@oclt/autograd';
import { Generator, randn, tidy, type Tensor } from '@oclt/tensor';
import { median, round, type BenchRow, type Suite } from '../harness.js';
import { nodeCollector } from '../../../packages/tensor/src/backends/cpu/wasm/pool-node.js';

/** A full collection (V8's gc, exposed at run time where the process was not started with --expose-gc). */
const forceGc = (): void => nodeCollector()!();

interface MemoryReading {
  heap_mb: number;
  rss_mb: number;
  external_mb: number;
}
function readMemory(): MemoryReading {
  forceGc();
  const m = process.memoryUsage();
  return { heap_mb: m.heapUsed / 2 ** 20, rss_mb: m.rss / 2 ** 20, external_mb: (m.external + m.arrayBuffers) / 2 ** 20 };
}

class TinyDenoiser extends Module {
  inConv: Conv2d;
  norm: GroupNorm;
  act = new SiLU();
  down: Downsample;
  attn: AttentionBlock2d;
  up: Upsample;
  outConv: Conv2d;
  constructor(channels: number, gen: Generator) {
    super();
    this.inConv = this.addModule('in_conv', new Conv2d(1, channels, 3, { generator: gen, padding: 1 }));
    this.norm = this.addModule('norm', new GroupNorm(4, channels));
    this.down = this.addModule('down', new Downsample(channels, { generator: gen }));
    this.attn = this.addModule('attn', new AttentionBlock2d(channels, { generator: gen, numGroups: 4 }));
    this.up = this.addModule('up', new Upsample(channels, { generator: gen }));
    this.outConv = this.addModule('out_conv', new Conv2d(channels, 1, 3, { generator: gen, padding: 1 }));
  }
  override forward(x: Tensor): Tensor {
    const h = this.act.forward(this.norm.forward(this.inConv.forward(x)));
    return this.outConv.forward(this.up.forward(this.attn.forward(this.down.forward(h))).add(h));
  }
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxy / sxx;
}

export const trainMemorySuite: Suite = {
  name: 'train-memory',
  description: '500 training steps of a small UNet-like denoiser (AdamW, clipping, EMA): heap/RSS at start, middle, end',
  async run({ quick }) {
    const steps = 500;
    const batch = quick ? 4 : 8;
    const size = 8;
    const channels = 8;
    const gen = new Generator(0);
    const model = new TinyDenoiser(channels, gen);
    const opt = new AdamW(model.namedParameters(), { lr: 2e-3 });
    const schedule = warmupCosine(2e-3, 25, steps);
    const ema = new EMA(model, { decay: 0.999, warmup: true });
    const before = readMemory();
    const times: number[] = [];
    const readings: Record<string, MemoryReading> = {};
    const heapTrace: [number, number][] = [];
    let firstLoss = NaN;
    let lastLoss = NaN;
    for (let step = 1; step <= steps; step++) {
      const t0 = performance.now();
      // One step per tidy, as Trainer.step does: the kernels' results are released when it ends.
      lastLoss = tidy(() => {
        const clean = randn([batch, 1, size, size], gen);
        const noise = randn([batch, 1, size, size], gen);
        opt.lr = schedule(step - 1);
        opt.zeroGrad();
        const loss = mseLoss(model.forward(clean.add(noise)), noise);
        loss.backward();
        clipGradNorm(model.parameters(), 1);
        opt.step();
        ema.update(model);
        return loss.item();
      });
      times.push(performance.now() - t0);
      if (step === 1) firstLoss = lastLoss;
      if (step === 1) readings.start = readMemory();
      if (step === steps / 2) readings.middle = readMemory();
      if (step === steps) readings.end = readMemory();
      if (step >= 100 && step % 50 === 0) heapTrace.push([step, (step === steps / 2 ? readings.middle! : step === steps ? readings.end! : readMemory()).heap_mb]);
    }
    const { start, middle, end } = readings as Record<'start' | 'middle' | 'end', MemoryReading>;
    const mb = (x: number) => round(x, 2);
    const row: BenchRow = {
      case: `train-${steps}-steps`,
      impl: 'oclt-cpu',
      median_ms: round(median(times), 3),
      batch: `${batch}x1x${size}x${size}`,
      params: model.numParameters(),
      rss_before_mb: mb(before.rss_mb),
      rss_start_mb: mb(start.rss_mb),
      rss_mid_mb: mb(middle.rss_mb),
      rss_end_mb: mb(end.rss_mb),
      heap_start_mb: mb(start.heap_mb),
      heap_mid_mb: mb(middle.heap_mb),
      heap_end_mb: mb(end.heap_mb),
      heap_growth_mb: mb(end.heap_mb - start.heap_mb),
      heap_growth_second_half_mb: mb(end.heap_mb - middle.heap_mb),
      heap_slope_kb_per_step: round(slope(heapTrace) * 1024, 3),
      external_start_mb: mb(start.external_mb),
      external_end_mb: mb(end.external_mb),
      loss_first: round(firstLoss, 4),
      loss_last: round(lastLoss, 4),
    };
    return [row];
  },
};
