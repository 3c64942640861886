/** Tiling a batch of images into one grid image (RGBA bytes), the usual way to look at samples. Browser-safe. */
import type { Tensor } from '@oclt/tensor';
import { toUint8Images } from './dataset.js';

export interface GridOptions {
  /** Images per row (default ceil(sqrt(N))). */
  nrow?: number;
  /** Pixels between images (default 2). */
  padding?: number;
  /** Gray level of the padding, 0-255 (default 255). */
  padValue?: number;
  /** Integer upscaling of the whole grid, nearest neighbour (default 1: one pixel per image pixel). */
  scale?: number;
}

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8Array;
}

/** Images [N, C, H, W] in [-1, 1] (C = 1 gray or 3 RGB) as one RGBA grid. */
export function imageGrid(images: Tensor, opts: GridOptions = {}): RgbaImage {
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) {
    throw new Error(`imageGrid: images must be [N, 1 or 3, H, W], got [${images.shape}]`);
  }
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) throw new RangeError(`imageGrid: scale must be an integer in [1, 64], got ${scale}`);
  const nrow = opts.nrow ?? Math.ceil(Math.sqrt(n));
  const pad = opts.padding ?? 2;
  const rows = Math.ceil(n / nrow);
  const width = nrow * w + (nrow + 1) * pad;
  const height = rows * h + (rows + 1) * pad;
  const data = new Uint8Array(width * height * 4).fill(opts.padValue ?? 255);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  const px = toUint8Images(images);
  for (let k = 0; k < n; k++) {
    const ox = pad + (k % nrow) * (w + pad);
    const oy = pad + Math.floor(k / nrow) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = ((oy + y) * width + ox + x) * 4;
        for (let ch = 0; ch < 3; ch++) data[o + ch] = px[k * c * h * w + (c === 1 ? 0 : ch) * h * w + y * w + x]!;
      }
    }
  }
  return scale === 1 ? { width, height, data } : upscale({ width, height, data }, scale);
}

/** Nearest-neighbour integer upscaling: each pixel becomes a scale x scale block. */
function upscale(image: RgbaImage, scale: number): RgbaImage {
  const width = image.width * scale;
  const height = image.height * scale;
  const src = new Uint32Array(image.data.buffer, image.data.byteOffset, image.width * image.height);
  const out = new Uint8Array(width * height * 4);
  const dst = new Uint32Array(out.buffer);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / scale) * image.width;
    for (let x = 0; x < width; x++) dst[y * width + x] = src[row + Math.floor(x / scale)]!;
  }
  return { width, height, data: out };
}
