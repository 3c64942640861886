/** Node-only: writing samples as PNG grids (pngjs) and as raw tensors (safetensors), atomically. */
import { PNG } from 'pngjs';
import { encodeSafetensors } from '@oclt/autograd';
import type { Tensor } from '@oclt/tensor';
import { imageGrid, type GridOptions, type RgbaImage } from '../data/grid.js';
import { writeFileAtomic } from './checkpoint.js';

export function encodeRgbaPng(image: RgbaImage): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png);
}

/** Saves images [N, C, H, W] in [-1, 1] as one PNG grid. */
export function saveImageGrid(file: string, images: Tensor, opts: GridOptions = {}): void {
  writeFileAtomic(file, encodeRgbaPng(imageGrid(images, opts)));
}

/** Saves tensors (e.g. { samples, labels }) as a safetensors file, with optional string metadata. */
export function saveTensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
