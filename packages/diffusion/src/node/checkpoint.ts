/**
 * Node-only: crash-safe checkpoints. A checkpoint is two files in one directory:
 *   <prefix>-<step>.safetensors  the tensors (any bytes; the trainer writes safetensors)
 *   <prefix>-<step>.json         the manifest: step, metadata, the payload's SHA-256, and a SHA-256 of the manifest body
 * Each file is written to a temporary name, fsynced, then renamed into place (rename is atomic on POSIX), and the
 * manifest is written last: a checkpoint exists only once its manifest does, so a crash mid-write leaves at worst
 * an orphan temporary file, never a half checkpoint that looks whole. Only the last `keepLast` are kept.
 * Loading verifies both checksums; a corrupt checkpoint is refused with an error naming the file and, in
 * `loadLatest`, reported and skipped in favour of the previous one.
 *
 * The manifest is not trusted further than its checksum proves (anyone can recompute one): its payloadFile must
 * be a plain file name in the store's directory (no path separators, no '..'), the payload's size on disk is
 * checked against the manifest (and against MAX_PAYLOAD_BYTES) before a byte of it is read, a directory or other
 * non-file in its place is refused, and `validateMeta` may refuse the metadata; each of these is a
 * CheckpointCorruptError naming the file, so `loadLatest` falls back. Temporary files that a killed writer left
 * (`.<name>.tmp-<pid>-<hex>`) are removed when a store first saves, once their writer is gone.
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
  /** Checks a manifest's metadata; returns why it is unusable (a CheckpointCorruptError naming the manifest) or null. */
  validateMeta?: (meta: unknown) => string | null;
  /** Orphan temporary files of a live writer younger than this are left alone (default 10 minutes). */
  orphanMinAgeMs?: number;
}

/** The largest payload loaded (what one read of a file can return in Node): 2 GiB - 1. */
export const MAX_PAYLOAD_BYTES = 2 ** 31 - 1;
/** The largest manifest read (they hold a few KB of JSON). */
export const MAX_MANIFEST_BYTES = 64 * 2 ** 20;

/** A plain file name (no directory part, not '.' or '..'): what a manifest may name as its payload. */
function isPlainFileName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= 255 && /^[A-Za-z0-9_.-]+$/.test(name) && name !== '.' && name !== '..';
}

/** True when the process exists (a signal-0 probe; EPERM means it exists but is not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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
    try {
      fs.writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true }); // a failed write (disk full, ...) leaves no temporary file behind
    throw err;
  }
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
  private readonly validateMeta: ((meta: unknown) => string | null) | undefined;
  private readonly orphanMinAgeMs: number;
  private orphansChecked = false;

  constructor(dir: string, opts: CheckpointStoreOptions = {}) {
    this.dir = dir;
    this.keepLast = opts.keepLast ?? 3;
    this.prefix = opts.prefix ?? 'ckpt';
    this.validateMeta = opts.validateMeta;
    this.orphanMinAgeMs = opts.orphanMinAgeMs ?? 10 * 60 * 1000;
    if (!Number.isInteger(this.keepLast) || this.keepLast < 1) throw new RangeError(`CheckpointStore: keepLast must be a positive integer, got ${this.keepLast}`);
    if (!/^[A-Za-z0-9_.-]+$/.test(this.prefix)) throw new RangeError(`CheckpointStore: prefix '${this.prefix}' may only hold letters, digits, '_', '.', '-'`);
  }

  private base(step: number): string {
    return `${this.prefix}-${String(step).padStart(8, '0')}`;
  }

  /** Saves a checkpoint for `step` and prunes old ones. Returns the manifest path. */
  save(step: number, payload: Uint8Array, meta: M): string {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`CheckpointStore.save: step must be a non-negative integer, got ${step}`);
    if (!this.orphansChecked) {
      this.orphansChecked = true;
      this.removeOrphanTemporaries();
    }
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

  /**
   * Removes the temporary files that writers of this store's checkpoints left behind when they were killed
   * (`.<prefix>-<step>.<ext>.tmp-<pid>-<hex>`): those whose process is gone, and those older than
   * `orphanMinAgeMs` (a pid may have been reused). Returns the names removed. Called by the first `save`.
   */
  removeOrphanTemporaries(now = Date.now()): string[] {
    if (!fs.existsSync(this.dir)) return [];
    const re = new RegExp(`^\\.${this.prefix.replace(/[.]/g, '\\.')}-\\d+\\.(json|safetensors)\\.tmp-(\\d+)-[0-9a-f]+$`);
    const removed: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const m = re.exec(name);
      if (!m) continue;
      const pid = Number(m[2]);
      const file = path.join(this.dir, name);
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(file);
      } catch {
        continue; // gone meanwhile
      }
      if (!stat.isFile()) continue;
      const writerGone = pid !== process.pid && !processAlive(pid);
      if (writerGone || now - stat.mtimeMs > this.orphanMinAgeMs) {
        fs.rmSync(file, { force: true });
        removed.push(name);
      }
    }
    return removed;
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
    const manifestStat = fs.statSync(manifestPath);
    if (!manifestStat.isFile()) throw new CheckpointCorruptError(manifestPath, `manifest is not a regular file (${manifestStat.isDirectory() ? 'a directory' : 'a special file'})`);
    if (manifestStat.size > MAX_MANIFEST_BYTES) throw new CheckpointCorruptError(manifestPath, `manifest is ${manifestStat.size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`);
    try {
      parsed = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    } catch (err) {
      throw new CheckpointCorruptError(manifestPath, `manifest is not valid JSON (${(err as Error).message})`);
    }
    if (!parsed || typeof parsed !== 'object' || !parsed.body || typeof parsed.bodySha256 !== 'string') throw new CheckpointCorruptError(manifestPath, 'manifest lacks body/bodySha256');
    if (sha256(JSON.stringify(parsed.body)) !== parsed.bodySha256) throw new CheckpointCorruptError(manifestPath, 'manifest checksum mismatch');
    const body = parsed.body;
    if (typeof body !== 'object' || Array.isArray(body)) throw new CheckpointCorruptError(manifestPath, 'manifest body is not an object');
    if (body.format !== 'oclt-checkpoint' || body.step !== step) throw new CheckpointCorruptError(manifestPath, `unexpected format '${body.format}' or step ${body.step}`);
    if (!isPlainFileName(body.payloadFile)) {
      throw new CheckpointCorruptError(manifestPath, `payloadFile ${JSON.stringify(body.payloadFile)} is not a plain file name in the checkpoint directory (no path separators or '..')`);
    }
    if (!Number.isSafeInteger(body.payloadBytes) || body.payloadBytes < 0) throw new CheckpointCorruptError(manifestPath, `payloadBytes ${JSON.stringify(body.payloadBytes)} is not a byte count`);
    if (body.payloadBytes > MAX_PAYLOAD_BYTES) throw new CheckpointCorruptError(manifestPath, `payloadBytes ${body.payloadBytes} exceeds the ${MAX_PAYLOAD_BYTES}-byte limit of a checkpoint payload`);
    if (typeof body.payloadSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(body.payloadSha256)) throw new CheckpointCorruptError(manifestPath, 'payloadSha256 is not a SHA-256 hex digest');
    const metaProblem = this.validateMeta?.(body.meta) ?? null;
    if (metaProblem !== null) throw new CheckpointCorruptError(manifestPath, metaProblem);
    const payloadPath = path.join(this.dir, body.payloadFile);
    // The size on disk first: a payload larger than the manifest says is refused before it is read.
    let stat: fs.Stats;
    try {
      stat = fs.statSync(payloadPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CheckpointCorruptError(manifestPath, code === 'ENOENT' ? `payload ${body.payloadFile} is missing` : `payload ${body.payloadFile} cannot be read (${(err as Error).message})`);
    }
    if (!stat.isFile()) throw new CheckpointCorruptError(payloadPath, `is not a regular file (${stat.isDirectory() ? 'a directory' : 'a special file'})`);
    if (stat.size !== body.payloadBytes) throw new CheckpointCorruptError(payloadPath, `${stat.size} bytes, manifest says ${body.payloadBytes}`);
    let payload: Uint8Array;
    try {
      payload = new Uint8Array(fs.readFileSync(payloadPath));
    } catch (err) {
      throw new CheckpointCorruptError(payloadPath, `cannot be read (${(err as Error).message})`);
    }
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
