/**
 * Shared helpers for this package's tests (not exported from the package): an independent linear-beta DDPM
 * schedule, a noisy batch made the textbook way, a float64 brute-force reference of the Eq. 8 kernel, and the CLI
 * tests' setup (`cliTestSetup`: temporary directory, console mocks, `run`) with writers of IDX and CIFAR files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, vi } from 'vitest';
import { Generator, Tensor, randn, fromTypedArray } from '@oclt/tensor';

/** abar_t = prod_{s<=t} (1 - beta_s), linear betas 1e-4 .. 0.02 over T steps (DDPM), in float64. */
export function linearAlphasCumprod(T = 1000, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  const abar = new Float64Array(T);
  let running = 1;
  for (let t = 0; t < T; t++) {
    const beta = T === 1 ? betaStart : betaStart + ((betaEnd - betaStart) * t) / (T - 1);
    running *= 1 - beta;
    abar[t] = running;
  }
  return abar;
}

export interface NoisyBatch {
  x0: Tensor;
  xt: Tensor;
  noise: Tensor;
  timesteps: Int32Array;
}

/** x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps for given clean samples and times (float32 like training). */
export function makeNoisyBatch(x0: Tensor, timesteps: Int32Array, alphasCumprod: Float64Array, gen: Generator): NoisyBatch {
  const noise = randn(x0.shape, gen);
  const B = x0.shape[0]!;
  const D = x0.size / B;
  const a = x0.toTypedArray();
  const e = noise.toTypedArray();
  const out = new Float32Array(a.length);
  for (let i = 0; i < B; i++) {
    const abar = alphasCumprod[timesteps[i]!]!;
    for (let k = 0; k < D; k++) out[i * D + k] = Math.sqrt(abar) * a[i * D + k]! + Math.sqrt(1 - abar) * e[i * D + k]!;
  }
  return { x0, xt: fromTypedArray(out, x0.shape), noise, timesteps };
}

/**
 * Brute-force float64 reference of the Eq. 8 (Eq. 7 with logPrior) kernel: explicit loops over i, j and the
 * D pixels of x_t,i - sqrt(abar_i) x0_j, no Gram-matrix identity. Returns logits and probabilities [B][B].
 */
export function bruteForceSelection(xt: ArrayLike<number>, x0: ArrayLike<number>, B: number, D: number, alphaBar: ArrayLike<number>, logPrior?: ArrayLike<number>): { logits: number[][]; probabilities: number[][] } {
  const logits: number[][] = [];
  const probabilities: number[][] = [];
  for (let i = 0; i < B; i++) {
    const row: number[] = [];
    for (let j = 0; j < B; j++) {
      let d2 = 0;
      for (let k = 0; k < D; k++) {
        const diff = xt[i * D + k]! - Math.sqrt(alphaBar[i]!) * x0[j * D + k]!;
        d2 += diff * diff;
      }
      row.push(-d2 / (2 * (1 - alphaBar[i]!)) + (logPrior ? logPrior[j]! : 0));
    }
    const max = Math.max(...row);
    const exps = row.map((l) => Math.exp(l - max));
    const total = exps.reduce((s, v) => s + v, 0);
    logits.push(row);
    probabilities.push(exps.map((v) => v / total));
  }
  return { logits, probabilities };
}

/** Exact two-point transfer strength: along u = (m_j - m_i)/d it is E_{z ~ N(0,1)} sigmoid(log(w_j/w_i) + z d/s - d^2/(2 s^2)). */
export function twoPointTransferStrength(wi: number, wj: number, d: number, s: number): number {
  // Simpson's rule on [-12, 12]: the integrand is smooth and the Gaussian tail beyond 12 is below 1e-32.
  const n = 4000;
  const h = 24 / n;
  let acc = 0;
  for (let k = 0; k <= n; k++) {
    const z = -12 + k * h;
    const a = Math.log(wj / wi) + (z * d) / s - (d * d) / (2 * s * s);
    const f = (Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI)) / (1 + Math.exp(-a));
    acc += f * (k === 0 || k === n ? 1 : k % 2 === 1 ? 4 : 2);
  }
  return (acc * h) / 3;
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI tests' shared setup: a temporary directory, console mocks, running `main` and reading what it wrote.
// ---------------------------------------------------------------------------------------------------------------

/** What `cliTestSetup` gives a test file. `dir` is set once `beforeAll` has run (read it inside tests or hooks). */
export interface CliTestContext {
  /** The temporary directory of this test file (removed after all its tests). */
  readonly dir: string;
  /** A path inside `dir`. */
  file(...parts: string[]): string;
  /** Everything written with console.error since the last `run` (or since the mocks were cleared), one call a line. */
  stderr(): string;
  /** Runs the CLI (`main` of cli/main.ts) with stderr collected afresh: its exit code and what it wrote on stderr. */
  run(argv: readonly string[]): Promise<{ code: number; stderr: string }>;
  /** Parses a JSON file. */
  readJson(file: string): any;
}

/**
 * Registers, for the calling test file, a `beforeAll` that creates a temporary directory `oclt-<name>-XXXXXX` and
 * silences console.log / error / warn (spies: what the commands print stays readable through `stderr()` and
 * `vi.mocked(console.error)`), and an `afterAll` that restores the console and removes the directory.
 */
export function cliTestSetup(name: string): CliTestContext {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `oclt-${name}-`));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterAll(() => {
    vi.restoreAllMocks();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const stderr = () => vi.mocked(console.error).mock.calls.map((c) => c.join(' ')).join('\n');
  return {
    get dir() {
      if (!dir) throw new Error('cliTestSetup: the temporary directory exists only once beforeAll has run');
      return dir;
    },
    file: (...parts) => path.join(dir, ...parts),
    stderr,
    async run(argv) {
      // Imported here, not at the top: the other tests of this package use these helpers without the CLI.
      const { main } = await import('./cli/main.js');
      vi.mocked(console.error).mockClear();
      const code = await main([...argv]);
      return { code, stderr: stderr() };
    },
    readJson: (file) => JSON.parse(fs.readFileSync(file, 'utf8')),
  };
}

/** Writes an IDX file: type code (0x08 uint8, ...), dims, values as bytes (uint8 only), optionally gzipped. */
export function writeIdxFile(file: string, type: number, dims: readonly number[], values: ArrayLike<number>, gzip = false): void {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => new DataView(head.buffer).setUint32(4 + 4 * i, d, false));
  const bytes = Buffer.concat([head, Uint8Array.from(values)]);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(bytes) : bytes);
}

/**
 * Writes CIFAR binary records: each a label byte (CIFAR-100: coarse then fine) and 3 x 32 x 32 channel-major
 * pixel bytes from `pixel(record, channel, y, x)`.
 */
export function writeCifarFile(file: string, variant: 'cifar10' | 'cifar100', labels: readonly number[], pixel: (record: number, channel: number, y: number, x: number) => number): void {
  const head = variant === 'cifar10' ? 1 : 2;
  const rec = head + 3072;
  const bytes = new Uint8Array(labels.length * rec);
  labels.forEach((y, r) => {
    if (variant === 'cifar100') bytes[r * rec] = Math.floor(y / 5) % 20;
    bytes[r * rec + head - 1] = y;
    for (let c = 0; c < 3; c++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) bytes[r * rec + head + c * 1024 + i * 32 + j] = pixel(r, c, i, j);
  });
  fs.writeFileSync(file, bytes);
}
