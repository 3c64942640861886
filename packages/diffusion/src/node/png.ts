/** Node-only: encode a Canvas as PNG and write it atomically. */
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { Canvas } from '../plot/canvas.js';

export function encodePng(canvas: Canvas): Buffer {
  const png = new PNG({ width: canvas.width, height: canvas.height });
  png.data = Buffer.from(canvas.pixels.buffer, canvas.pixels.byteOffset, canvas.pixels.byteLength);
  return PNG.sync.write(png);
}

/** Writes the PNG to a temporary file, fsyncs it, then renames it into place. */
export function savePng(file: string, canvas: Canvas): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, encodePng(canvas));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
