/** Node-only: reads IDX files from disk, gzipped (detected by the gzip magic) or raw. */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { parseIdx, type IdxArray } from '../data/idx.js';

export function readIdxFile(file: string): IdxArray {
  let bytes: Uint8Array = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new Error(`readIdxFile: ${file} looks gzipped but does not decompress: ${(err as Error).message}`);
    }
  }
  return parseIdx(bytes, file);
}
