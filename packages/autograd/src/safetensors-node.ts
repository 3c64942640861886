/**
 * Node-only safetensors file I/O: atomic save (write a temporary file beside the target, fsync it, rename it over
 * the target, fsync the directory) so that a crash never leaves a half-written checkpoint under the real name;
 * load reads the whole file and decodes it with errors that name the file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Tensor } from '@oclt/tensor';
import { decodeSafetensors, encodeSafetensors, type SafetensorsContent } from './safetensors.js';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Flushes a directory entry (the rename) to disk; some platforms cannot open directories, which is fine. */
function fsyncDirSync(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows and some file systems refuse: the rename is still atomic, only its durability is weaker.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Writes `tensors` (+ metadata) to `path` atomically. */
export async function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`saveSafetensors (${path}): ${(err as Error).message}`, { cause: err });
  }
  fsyncDirSync(dirname(path));
}

/** Synchronous `saveSafetensors`. */
export function saveSafetensorsSync(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`saveSafetensorsSync (${path}): ${(err as Error).message}`, { cause: err });
  }
  fsyncDirSync(dirname(path));
}

/** Reads and validates a safetensors file; errors name the file and the field. */
export async function loadSafetensors(path: string): Promise<SafetensorsContent> {
  return decodeSafetensors(await readFile(path), path);
}

export function loadSafetensorsSync(path: string): SafetensorsContent {
  return decodeSafetensors(readFileSync(path), path);
}
