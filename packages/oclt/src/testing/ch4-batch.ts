/**
 * The one batch of docs/04-long-tail-oc.md's gates and expected-target sections, as the page builds it, for the
 * tests that hold the page's checks (docs-gates.test.ts, docs-expected-targets.test.ts): the Appendix J toy from
 * Generator(0), a class-balanced batch of 16 (8 head, 8 tail) from exactlyBalancedSampler with Generator(1), noise
 * randn([16, 2]) from Generator(2), every row at t = 500 of the DDPM linear schedule, all in float64.
 */
import { Generator, randn } from '@oclt/tensor';
import { appendixJToy, DDPMScheduler } from '@oclt/diffusion';
import { classFrequencies, countClasses } from '../long-tailed-dataset.js';
import { exactlyBalancedSampler } from '../samplers.js';

export function chapter4Batch() {
  const toy = appendixJToy(new Generator(0));
  const labels = toy.labels!;
  const scheduler = new DDPMScheduler();
  const q = classFrequencies(countClasses(labels, 2));
  const batchRows = exactlyBalancedSampler(labels, 2, 16, new Generator(1)).nextBatch();
  const x0 = toy.batch(batchRows).x.astype('float64');
  const yBatch = Array.from(batchRows, (r) => labels[r]!);
  const eps = randn([16, 2], new Generator(2), 'float64');
  const tBatch = new Int32Array(16).fill(500);
  const xt = scheduler.addNoise(x0, eps, tBatch);
  return {
    scheduler,
    q,
    x0,
    yBatch,
    eps,
    tBatch,
    xt,
    abar500: scheduler.alphasCumprod[500]!,
    xtRows: xt.toArray() as number[][],
    x0Flat: x0.toTypedArray(),
    epsRows: eps.toArray() as number[][],
  };
}
