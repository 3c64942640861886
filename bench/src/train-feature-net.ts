/**
 * Trains the fixed feature network for the generative metrics on the balanced Fashion-MNIST training set
 * (60,000 images, 6,000 per class) with this project's engine, and writes
 *   packages/metrics/assets/<version>.safetensors   the weights (float32)
 *   packages/metrics/assets/<version>.json             SHA-256, test accuracy (28x28 and 16x16 -> 28x28), recipe
 *
 *   node --conditions=source --import tsx bench/src/train-feature-net.ts [--epochs 6]
 *
 * Default recipe: Adam (lr 2e-3, cosine decay to 5% over all steps), batch 128, seed 0, cross entropy. Every 4th batch is
 * degraded to 16x16 and back to 28x28 (bilinear), so the features also behave on the 16x16 experiment images.
 * Options: --epochs N, --batch N, --lr X, --seed N, --degrade-every N (0: never), --limit N (first N training
 * images: smoke test), --out DIR, --version NAME, --data-dir DIR (Fashion-MNIST IDX files).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Generator, fromTypedArray, noGrad, tidy, type Tensor } from '@oclt/tensor';
import { Adam, crossEntropy } from '@oclt/autograd';
import { encodeSafetensors } from '@oclt/autograd';
import type { ImageDataset } from '@oclt/diffusion';
import { loadFashionMnist } from '@oclt/diffusion/node';
import { FEATURE_DIM, FEATURE_NET_INPUT, FeatureNet, resizeBilinear, sha256Hex } from '@oclt/metrics';
import { FEATURE_NET_VERSION, featureNetAssetsDir } from '@oclt/metrics/node';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

/** Down to 16x16 and back up: the pipeline 16x16 experiment images go through. */
function degrade16(x: Tensor): Tensor {
  return resizeBilinear(resizeBilinear(x, 16, 16), FEATURE_NET_INPUT, FEATURE_NET_INPUT);
}

function accuracy(net: FeatureNet, data: ImageDataset, size: 28 | 16): number {
  let correct = 0;
  noGrad(() => {
    for (let s = 0; s < data.size; s += 500) {
      tidy(() => {
        const idx = Array.from({ length: Math.min(500, data.size - s) }, (_, i) => s + i);
        const batch = data.batch(idx);
        const x = size === 16 ? degrade16(batch.x) : batch.x;
        const pred = net.forward(x).logits.argmax(-1).toTypedArray();
        idx.forEach((_, i) => (correct += pred[i] === batch.labels![i] ? 1 : 0));
      });
    }
  });
  return correct / data.size;
}

async function main(): Promise<void> {
  const epochs = Number(option('epochs', '6'));
  const batchSize = Number(option('batch', '128'));
  const lr0 = Number(option('lr', '2e-3'));
  const seed = Number(option('seed', '0'));
  const degradeEvery = Number(option('degrade-every', '4'));
  const version = option('version', FEATURE_NET_VERSION);
  const outDir = option('out', featureNetAssetsDir());
  const dataDir = process.argv.includes('--data-dir') ? option('data-dir', '') : undefined;
  let train = loadFashionMnist({ split: 'train', dir: dataDir });
  const test = loadFashionMnist({ split: 'test', dir: dataDir });
  const limit = Number(option('limit', String(train.size)));
  if (limit < train.size) train = train.subset(Array.from({ length: limit }, (_, i) => i));

  const gen = new Generator(seed);
  const net = new FeatureNet({ generator: gen });
  const opt = new Adam(net.parameters(), { lr: lr0 });
  const stepsPerEpoch = Math.floor(train.size / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const t0 = performance.now();
  let step = 0;
  let runningLoss = 0;
  console.log(`training ${version}: ${net.numParameters()} parameters, ${train.size} images, ${epochs} epochs x ${stepsPerEpoch} steps of ${batchSize}`);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = gen.permutation(train.size);
    for (let b = 0; b < stepsPerEpoch; b++, step++) {
      opt.lr = lr0 * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps)));
      runningLoss += tidy(() => {
        const batch = train.batch(order.subarray(b * batchSize, (b + 1) * batchSize));
        const x = degradeEvery > 0 && step % degradeEvery === degradeEvery - 1 ? degrade16(batch.x) : batch.x;
        const y = fromTypedArray(Int32Array.from(batch.labels!), [batchSize]);
        const loss = crossEntropy(net.forward(x).logits, y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item() as number;
      });
      if ((step + 1) % 50 === 0) {
        const elapsed = (performance.now() - t0) / 1000;
        const eta = (elapsed / (step + 1)) * (totalSteps - step - 1);
        console.log(`step ${step + 1}/${totalSteps} epoch ${epoch + 1} loss ${(runningLoss / 50).toFixed(4)} lr ${opt.lr.toExponential(2)} elapsed ${elapsed.toFixed(0)}s eta ${eta.toFixed(0)}s`);
        runningLoss = 0;
      }
    }
    console.log(`epoch ${epoch + 1}: test accuracy ${accuracy(net, test, 28).toFixed(4)}`);
  }
  net.eval();
  const testAccuracy = accuracy(net, test, 28);
  const testAccuracy16 = accuracy(net, test, 16);
  const trainSeconds = (performance.now() - t0) / 1000;
  console.log(`test accuracy: 28x28 ${testAccuracy.toFixed(4)}, 16x16 -> 28x28 ${testAccuracy16.toFixed(4)} (${trainSeconds.toFixed(0)} s)`);

  const metadata = { name: version, architecture: 'conv3x3/2(1->16) relu conv3x3/2(16->32) relu fc(1568->128) relu [features] fc(128->10)', test_accuracy: testAccuracy.toFixed(4) };
  const bytes = encodeSafetensors(Object.fromEntries(net.namedParameters()), metadata);
  fs.mkdirSync(outDir, { recursive: true });
  const file = `${version}.safetensors`;
  fs.writeFileSync(path.join(outDir, file), bytes);
  const info = {
    name: version,
    file,
    sha256: await sha256Hex(bytes),
    bytes: bytes.length,
    testAccuracy,
    testAccuracy16,
    featureDim: FEATURE_DIM,
    input: '[N, 1, 28, 28] in [-1, 1]; other sizes resized to 28x28 bilinear (align_corners = false)',
    architecture: metadata.architecture,
    recipe: { epochs, batchSize, lr: lr0, schedule: 'cosine to 5%', optimizer: 'Adam', seed, degrade16Every: degradeEvery, trainImages: train.size },
    trainSeconds: Math.round(trainSeconds),
    trainedWith: '@oclt/autograd (this repository), bench/src/train-feature-net.ts',
    date: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(outDir, `${version}.json`), `${JSON.stringify(info, null, 2)}\n`);
  console.log(`wrote ${path.join(outDir, file)} (${bytes.length} bytes, sha256 ${info.sha256})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
