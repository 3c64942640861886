/**
 * `npm run bench -- metrics`: all generative metrics for 10,000 generated 16x16 images against the Fashion-MNIST
 * test set — feature extraction (bilinear resize to 28x28 + the feature network), FID, KID (100 subsets of 1000),
 * Inception-style score (10 splits), precision/recall (k = 3) and per-class FID. Target: under 2 minutes.
 *
 * The reference features (test set, prepared once like pytorch-fid's precomputed statistics) are built in setup;
 * the timed run starts from generated images. Stand-in "generated" images: the test images at 16x16 with Gaussian
 * noise (std 0.2), clipped, labelled with their classes. Falls back to random images when the dataset is missing
 * and to an untrained network when the weights are (same cost; noted in the row).
 */
import { Generator, fromTypedArray, type Tensor } from '@oclt/tensor';
import { FeatureNet, evaluateImages, featureSetOfImages, resizeBilinear, type FeatureSet, type MetricsReport } from '@oclt/metrics';
import { loadFashionMnist } from '@oclt/diffusion/node';
import { loadFeatureNet } from '@oclt/metrics/node';
import { interleave, round, type BenchRow, type Suite } from '../harness.js';

const IMAGE_SIZE = 16;

async function setup(n: number): Promise<{ net: FeatureNet; netName: string; reference: FeatureSet; generated: Tensor; labels: Int32Array; data: string }> {
  let net: FeatureNet;
  let netName: string;
  try {
    const loaded = await loadFeatureNet();
    net = loaded.net;
    netName = `${loaded.info.name} (${loaded.info.sha256.slice(0, 12)})`;
  } catch (err) {
    console.error(`[bench metrics] using an untrained feature network: ${(err as Error).message}`);
    net = new FeatureNet({ generator: new Generator(0) });
    netName = 'untrained';
  }
  const gen = new Generator(1);
  let real: Tensor;
  let labels: Int32Array;
  let data = 'fashion-mnist test';
  try {
    const test = loadFashionMnist({ split: 'test' });
    const idx = Array.from({ length: Math.min(n, test.size) }, (_, i) => i);
    const batch = test.batch(idx);
    real = resizeBilinear(batch.x, IMAGE_SIZE, IMAGE_SIZE);
    labels = Int32Array.from(batch.labels!);
  } catch (err) {
    console.error(`[bench metrics] using random images: ${(err as Error).message}`);
    data = 'random';
    const px = new Float32Array(n * IMAGE_SIZE * IMAGE_SIZE).map(() => gen.random() * 2 - 1);
    real = fromTypedArray(px, [n, 1, IMAGE_SIZE, IMAGE_SIZE]);
    labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  }
  const reference = featureSetOfImages(net, real, labels);
  const noisy = (real.toTypedArray() as Float32Array).slice();
  const noise = new Float32Array(noisy.length);
  gen.fillNormal(noise, 0, 0.2);
  for (let i = 0; i < noisy.length; i++) noisy[i] = Math.min(1, Math.max(-1, noisy[i]! + noise[i]!));
  return { net, netName, reference, generated: fromTypedArray(noisy, real.shape), labels, data };
}

export const metricsSuite: Suite = {
  name: 'metrics',
  description: 'FID, KID, IS, precision/recall and per-class FID of 10,000 generated 16x16 images, features included',
  async run({ quick }): Promise<BenchRow[]> {
    const n = quick ? 2000 : 10_000;
    const s = await setup(n);
    let report: MetricsReport | null = null;
    const rows = await interleave(
      [{ case: quick ? 'metrics-2k' : 'metrics-10k', impl: 'oclt-cpu', run: () => (report = evaluateImages(s.net, s.generated, s.labels, s.reference)) }],
      { rounds: quick ? 1 : 3, warmup: 0 },
    );
    const r = report as MetricsReport | null;
    return rows.map((row) => ({
      ...row,
      n,
      image_size: IMAGE_SIZE,
      data: s.data,
      feature_net: s.netName,
      ...(r
        ? {
            fid: round(r.fid, 4),
            kid: round(r.kid_mean, 6),
            is: round(r.is_mean ?? NaN, 4),
            precision: round(r.precision, 4),
            recall: round(r.recall, 4),
            per_class_fid_mean: round(r.per_class_fid?.mean ?? NaN, 4),
          }
        : {}),
    }));
  },
};
