/**
 * The project's fixed feature network for FID-style metrics on Fashion-MNIST: no ImageNet-pretrained Inception
 * network can be downloaded here, so we train a small CNN classifier on the balanced training set and use
 *   features      = its penultimate layer (128 values after ReLU),
 *   probabilities = softmax of its logits (for the Inception-style score).
 *
 * Architecture (v1), input [N, 1, 28, 28] in [-1, 1]:
 *   conv1 3x3, 1 -> 16, stride 2, pad 1 -> ReLU      [N, 16, 14, 14]
 *   conv2 3x3, 16 -> 32, stride 2, pad 1 -> ReLU     [N, 32, 7, 7]
 *   fc1 1568 -> 128 -> ReLU                          features [N, 128]
 *   fc2 128 -> 10                                    logits
 * Strided convolutions rather than pooling keep it ~0.9 MFLOP per image, so it trains in minutes on 2 CPU cores
 * and 10,000 images take seconds.
 *
 * Other image sizes (the experiments use 16x16) are resized to 28x28 by bilinear interpolation with
 * align_corners = false (half-pixel centres, like torch.nn.functional.interpolate(mode='bilinear')) before the
 * network; generated and real images of the same size go through the same resize, so the comparison is fair.
 */
import { Generator, Tensor, cast, fromTypedArray, noGrad, slice, tidy } from '@oclt/tensor';
import { Conv2d, Linear, Module, decodeSafetensors } from '@oclt/autograd';

export const FEATURE_NET_INPUT = 28;
export const FEATURE_DIM = 128;
export const FEATURE_NET_CLASSES = 10;
const CONV1_CHANNELS = 16;
const CONV2_CHANNELS = 32;

export interface FeatureNetOutput {
  /** Penultimate activations [N, 128]. */
  features: Tensor;
  /** Class logits [N, 10]. */
  logits: Tensor;
}

export class FeatureNet extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(opts: { generator: Generator }) {
    super();
    const g = opts.generator;
    // Parameter names read conv1.weight, conv1.bias, ..., fc2.bias (the safetensors keys).
    this.conv1 = this.addModule('conv1', new Conv2d(1, CONV1_CHANNELS, 3, { generator: g, stride: 2, padding: 1 }));
    this.conv2 = this.addModule('conv2', new Conv2d(CONV1_CHANNELS, CONV2_CHANNELS, 3, { generator: g, stride: 2, padding: 1 }));
    this.fc1 = this.addModule('fc1', new Linear(CONV2_CHANNELS * 7 * 7, FEATURE_DIM, { generator: g }));
    this.fc2 = this.addModule('fc2', new Linear(FEATURE_DIM, FEATURE_NET_CLASSES, { generator: g }));
  }

  /** x: [N, 1, 28, 28] float32 in [-1, 1]. */
  override forward(x: Tensor): FeatureNetOutput {
    if (x.ndim !== 4 || x.shape[1] !== 1 || x.shape[2] !== FEATURE_NET_INPUT || x.shape[3] !== FEATURE_NET_INPUT) {
      throw new RangeError(`FeatureNet.forward: expected images [N, 1, 28, 28], got [${x.shape}]; resize other sizes with resizeBilinear first`);
    }
    const n = x.shape[0]!;
    const h = this.conv2.forward(this.conv1.forward(x).relu()).relu();
    const features = this.fc1.forward(h.reshape([n, CONV2_CHANNELS * 7 * 7])).relu();
    return { features, logits: this.fc2.forward(features) };
  }
}

/**
 * Bilinear resize of images [N, C, H, W] (float32) to [N, C, outH, outW], align_corners = false: output pixel
 * centre (y + 0.5) * H / outH - 0.5 in input coordinates, clamped at the border (PyTorch's convention).
 */
export function resizeBilinear(x: Tensor, outH: number, outW: number): Tensor {
  if (x.ndim !== 4) throw new RangeError(`resizeBilinear: expected [N, C, H, W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h === outH && w === outW) return x;
  const src = cast(x, 'float32').contiguous().toTypedArray() as Float32Array;
  const out = new Float32Array(n * c * outH * outW);
  const axis = (size: number, outSize: number) => {
    const lo = new Int32Array(outSize);
    const hi = new Int32Array(outSize);
    const frac = new Float64Array(outSize);
    for (let o = 0; o < outSize; o++) {
      const s = Math.max((o + 0.5) * (size / outSize) - 0.5, 0);
      const l = Math.min(Math.floor(s), size - 1);
      lo[o] = l;
      hi[o] = Math.min(l + 1, size - 1);
      frac[o] = s - l;
    }
    return { lo, hi, frac };
  };
  const ys = axis(h, outH);
  const xs = axis(w, outW);
  for (let p = 0; p < n * c; p++) {
    const base = p * h * w;
    const obase = p * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const r0 = base + ys.lo[oy]! * w;
      const r1 = base + ys.hi[oy]! * w;
      const fy = ys.frac[oy]!;
      for (let ox = 0; ox < outW; ox++) {
        const x0 = xs.lo[ox]!;
        const x1 = xs.hi[ox]!;
        const fx = xs.frac[ox]!;
        const top = src[r0 + x0]! * (1 - fx) + src[r0 + x1]! * fx;
        const bottom = src[r1 + x0]! * (1 - fx) + src[r1 + x1]! * fx;
        out[obase + oy * outW + ox] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return fromTypedArray(out, [n, c, outH, outW]);
}

/** Checks images are [N, 1, H, W], finite and in [-1, 1] (the diffusion models' range), naming what is wrong. */
export function checkImages(x: Tensor, what: string): void {
  if (x.ndim !== 4 || x.shape[1] !== 1) throw new RangeError(`${what}: expected grayscale images [N, 1, H, W], got [${x.shape}]`);
  const [, , h, w] = x.shape as [number, number, number, number];
  if (h < 8 || w < 8 || h > 64 || w > 64) throw new RangeError(`${what}: image size ${h}x${w} is outside 8..64; the feature network expects Fashion-MNIST-like images (28x28, or e.g. 16x16 resized)`);
  const v = x.toTypedArray();
  // Allow float32 rounding at the ends; anything further out means a different range (e.g. [0, 255] or unclipped samples).
  const tol = 1e-4;
  for (let i = 0; i < v.length; i++) {
    const p = v[i]!;
    if (!(p >= -1 - tol && p <= 1 + tol)) {
      throw new RangeError(`${what}: pixel ${i} is ${p}; images must be finite and in [-1, 1] (map [0, 255] with x / 127.5 - 1, clip model samples)`);
    }
  }
}

/** Features [N, 128] and class probabilities [N, 10] (float64) of images [N, 1, H, W] in [-1, 1], in batches. */
export interface FeatureExtractionOptions {
  /** Images per forward pass (default 500). */
  batchSize?: number;
  /** Called after each batch with the number of images done so far (for progress bars). */
  onBatch?: (done: number, total: number) => void;
}

export function extractFeatures(net: FeatureNet, images: Tensor, opts: FeatureExtractionOptions = {}): { features: Float64Array; probs: Float64Array; n: number } {
  checkImages(images, 'extractFeatures');
  const n = images.shape[0]!;
  const batchSize = opts.batchSize ?? 500;
  const features = new Float64Array(n * FEATURE_DIM);
  const probs = new Float64Array(n * FEATURE_NET_CLASSES);
  noGrad(() => {
    for (let s = 0; s < n; s += batchSize) {
      // Each batch's tensors are released when it is done (tidy): only the float64 copies stay.
      tidy(() => {
        const e = Math.min(n, s + batchSize);
        const x = resizeBilinear(slice(images, [[s, e]]), FEATURE_NET_INPUT, FEATURE_NET_INPUT);
        const out = net.forward(cast(x, 'float32'));
        features.set(out.features.toTypedArray(), s * FEATURE_DIM);
        probs.set(out.logits.softmax(-1).toTypedArray(), s * FEATURE_NET_CLASSES);
      });
      opts.onBatch?.(Math.min(n, s + batchSize), n);
    }
  });
  return { features, probs, n };
}


/** Identity of a shipped feature network: report it with every metric computed from it. */
export interface FeatureNetInfo {
  name: string;
  file: string;
  sha256: string;
  testAccuracy: number;
  testAccuracy16: number;
  featureDim: number;
  [extra: string]: unknown;
}

/** Lower-case hex SHA-256 of bytes (Web Crypto: works in browsers and Node >= 20 alike). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // digest takes a view of an ordinary ArrayBuffer only: bytes over a SharedArrayBuffer are copied first.
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Builds the feature network from safetensors bytes, after checking their SHA-256 against the expected one:
 * metrics from a different (or corrupted) network would not be comparable, so a mismatch is an error.
 */
export async function featureNetFromSafetensors(bytes: Uint8Array, expectedSha256: string, source = 'feature network weights'): Promise<FeatureNet> {
  const actual = await sha256Hex(bytes);
  if (actual !== expectedSha256.toLowerCase()) {
    throw new Error(`featureNetFromSafetensors: SHA-256 of ${source} is ${actual}, expected ${expectedSha256}; the file is not the versioned network (re-checkout or retrain and update its JSON)`);
  }
  const net = new FeatureNet({ generator: new Generator(0) });
  net.loadStateDict(decodeSafetensors(bytes, source).tensors, true);
  return net.eval();
}
