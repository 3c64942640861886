/**
 * Node-only: crash-safe checkpoints. A checkpoint is two files in one directory:
 *   <prefix>-<step>.safetensors  the tensors (any bytes; the trainer writes safetensors)
 *   <prefix>-<step>.json         the manifest: step, metadata, the payload's SHA-256, and a SHA-256 of the manifest body
 * Each file is written to a temporary name, fsynced, then renamed into place (rename is atomic on POSIX), and the
 * manifest is written last: a checkpoint exists only once its manifest does, so a crash mid-write leaves at worst
 * an orphan temporary file, never a half checkpoint that looks whole. Only the last `keepLast` are kept.
 * Loading verifies both checksums; a corrupt checkpoint is refused with an error naming the file and, in
 * `loadLatest`, reported and skipped in favour of the previous one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class CheckpointCorruptError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`checkpoint ${file} is corrupt: ${reason}`);
    this.name = 'CheckpointCorruptError';
  }
}

export interface LoadedCheckpoint<M> {
  step: number;
  payload: Uint8Array;
  meta: M;
  manifestPath: string;
  payloadPath: string;
}

export interface CheckpointStoreOptions {
  /** How many checkpoints to keep (oldest deleted first); default 3. */
  keepLast?: number;
  /** File name prefix; default 'ckpt'. */
  prefix?: string;
}

export function sha256(bytes: Uint8Array | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** Writes `bytes` to `file` atomically: temporary file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  // Persist the rename itself (the directory entry); not all platforms allow opening directories.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

interface ManifestBody<M> {
  format: 'oclt-checkpoint';
  version: 1;
  step: number;
  payloadFile: string;
  payloadBytes: number;
  payloadSha256: string;
  meta: M;
}

export class CheckpointStore<M = unknown> {
  readonly dir: string;
  readonly keepLast: number;
  readonly prefix: string;

  constructor(dir: string, opts: CheckpointStoreOptions = {}) {
    this.dir = dir;
    this.keepLast = opts.keepLast ?? 3;
    this.prefix = opts.prefix ?? 'ckpt';
    if (!Number.isInteger(this.keepLast) || this.keepLast < 1) throw new RangeError(`CheckpointStore: keepLast must be a positive integer, got ${this.keepLast}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(this.prefix)) throw new RangeError(`CheckpointStore: prefix '${this.prefix}' may only hold letters, digits, '_', '.', '-'`);
  }

  private base(step: number): string {
    return `${this.prefix}-${String(step).padStart(8, '0')}`;
  }

  /** Saves a checkpoint for `step` and prunes old ones. Returns the manifest path. */
  save(step: number, payload: Uint8Array, meta: M): string {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`CheckpointStore.save: step must be a non-negative integer, got ${step}`);
    const base = this.base(step);
    const payloadFile = `${base}.safetensors`;
    writeFileAtomic(path.join(this.dir, payloadFile), payload);
    const body: ManifestBody<M> = { format: 'oclt-checkpoint', version: 1, step, payloadFile, payloadBytes: payload.length, payloadSha256: sha256(payload), meta };
    const bodyJson = JSON.stringify(body);
    const manifestPath = path.join(this.dir, `${base}.json`);
    writeFileAtomic(manifestPath, JSON.stringify({ body, bodySha256: sha256(bodyJson) }, null, 1) + '\n');
    this.prune();
    return manifestPath;
  }

  /** Steps of the checkpoints whose manifest exists, ascending. */
  steps(): number[] {
    if (!fs.existsSync(this.dir)) return [];
    const re = new RegExp(`^${this.prefix.replace(/[.]/g, '\\.')}-(\\d+)\\.json$`);
    return fs
      .readdirSync(this.dir)
      .map((f) => re.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /** Loads and verifies the checkpoint of `step`; throws CheckpointCorruptError when a check fails. */
  load(step: number): LoadedCheckpoint<M> {
    const manifestPath = path.join(this.dir, `${this.base(step)}.json`);
    if (!fs.existsSync(manifestPath)) throw new Error(`CheckpointStore.load: no checkpoint for step ${step} in ${this.dir} (have steps ${this.steps().join(', ') || 'none'})`);
    let parsed: { body: ManifestBody<M>; bodySha256: string };
    try {
      parsed = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    } catch (err) {
      throw new CheckpointCorruptError(manifestPath, `manifest is not valid JSON (${(err as Error).message})`);
    }
    if (!parsed || typeof parsed !== 'object' || !parsed.body || typeof parsed.bodySha256 !== 'string') throw new CheckpointCorruptError(manifestPath, 'manifest lacks body/bodySha256');
    if (sha256(JSON.stringify(parsed.body)) !== parsed.bodySha256) throw new CheckpointCorruptError(manifestPath, 'manifest checksum mismatch');
    const body = parsed.body;
    if (body.format !== 'oclt-checkpoint' || body.step !== step) throw new CheckpointCorruptError(manifestPath, `unexpected format '${body.format}' or step ${body.step}`);
    const payloadPath = path.join(this.dir, body.payloadFile);
    if (!fs.existsSync(payloadPath)) throw new CheckpointCorruptError(manifestPath, `payload ${body.payloadFile} is missing`);
    const payload = new Uint8Array(fs.readFileSync(payloadPath));
    if (payload.length !== body.payloadBytes) throw new CheckpointCorruptError(payloadPath, `${payload.length} bytes, manifest says ${body.payloadBytes}`);
    if (sha256(payload) !== body.payloadSha256) throw new CheckpointCorruptError(payloadPath, 'SHA-256 mismatch (the file was modified or truncated)');
    return { step, payload, meta: body.meta, manifestPath, payloadPath };
  }

  /**
   * The newest checkpoint that verifies. Corrupt ones are reported through `onCorrupt` (default: a warning on
   * stderr) and the previous one is tried. Returns null when there is none.
   */
  loadLatest(onCorrupt: (err: CheckpointCorruptError) => void = (e) => console.warn(`[checkpoint] ${e.message}; falling back to the previous checkpoint`)): LoadedCheckpoint<M> | null {
    const steps = this.steps();
    for (let i = steps.length - 1; i >= 0; i--) {
      try {
        return this.load(steps[i]!);
      } catch (err) {
        if (err instanceof CheckpointCorruptError) onCorrupt(err);
        else throw err;
      }
    }
    return null;
  }

  private prune(): void {
    const steps = this.steps();
    for (const step of steps.slice(0, Math.max(0, steps.length - this.keepLast))) {
      const base = path.join(this.dir, this.base(step));
      // manifest first: a checkpoint without its manifest is invisible, never half-present.
      fs.rmSync(`${base}.json`, { force: true });
      fs.rmSync(`${base}.safetensors`, { force: true });
    }
  }
}
