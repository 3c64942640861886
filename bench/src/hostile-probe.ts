/**
 * hostile-probe (issue 20): a seeded fuzz run of hostile inputs in seven categories, each outcome classified as
 *   right        a correct result (or a refusal where refusing is the only right answer, counted as 'clear error')
 *   clear error  an Error whose message names the offending thing (flag, file, field, op, value), per-case regex
 *   wrong        a silently incorrect result, or an error that names nothing (or the wrong thing)
 *   lost         a good file / checkpoint destroyed, or a non-finite checkpoint written
 *
 * Run (a few minutes on a 2-core machine):
 *   node --conditions=source --import tsx bench/src/hostile-probe.ts [--seed N] [--md PATH] [--json PATH]
 * Writes bench/results/hostile-probe.md and .json by default. A standalone script, not a bench suite: the suites
 * (bench/src/suites/index.ts) return timing rows, this returns case outcomes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ndarray from 'ndarray';
import * as T from '@oclt/tensor';
import { SafetensorsError, encodeSafetensors } from '@oclt/autograd';
import { loadSafetensorsSync } from '@oclt/autograd/node';
import { DDPMScheduler, MLPDenoiser, NonFiniteError, Trainer, gaussianMixtureDataset, type TrainerConfig } from '@oclt/diffusion';
import { checkpointStore, loadLatestUsable, runTraining, saveTrainerCheckpoint } from '@oclt/diffusion/node';
import { machineInfo } from './harness.js';

type Outcome = 'right' | 'clear error' | 'wrong' | 'lost';
interface CaseResult {
  category: string;
  id: string;
  input: string;
  outcome: Outcome;
  detail: string;
}

const args = process.argv.slice(2);
const opt = (flag: string, dflt: string) => {
  const i = args.indexOf(flag);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const SEED = Number(opt('--seed', '20'));
const MD = opt('--md', 'bench/results/hostile-probe.md');
const JSON_OUT = opt('--json', 'bench/results/hostile-probe.json');

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1)); // inclusive
const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]!;

const results: CaseResult[] = [];
const timings: Record<string, number> = {};
function record(category: string, id: string, input: string, outcome: Outcome, detail: string): void {
  results.push({ category, id, input: input.length > 300 ? `${input.slice(0, 297)}...` : input, outcome, detail: detail.length > 400 ? `${detail.slice(0, 397)}...` : detail });
}
const msgOf = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-hostile-probe-'));
const origCwd = process.cwd();
const realConsole = { log: console.log, error: console.error, warn: console.warn };
const captured: { error: string[]; warn: string[] } = { error: [], warn: [] };
function silence(): void {
  captured.error = [];
  captured.warn = [];
  console.log = () => {};
  console.error = (...a: unknown[]) => void captured.error.push(a.map(String).join(' '));
  console.warn = (...a: unknown[]) => void captured.warn.push(a.map(String).join(' '));
}
function unsilence(): void {
  Object.assign(console, realConsole);
}
const progress = (s: string) => process.stderr.write(`${s}\n`);

/** All files under dir (relative paths) with their SHA-256, for "nothing destroyed / nothing written" checks. */
function snapshotDir(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(path.relative(dir, p) + '/', 'dir');
        walk(p);
      } else if (e.isFile()) out.set(path.relative(dir, p), fs.statSync(p).size > 5e7 ? `big:${fs.statSync(p).size}` : crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
      else out.set(path.relative(dir, p), 'other');
    }
  };
  walk(dir);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. CLI flags
// ---------------------------------------------------------------------------------------------------------------
async function cliFlags(): Promise<void> {
  const { main } = await import('../../packages/oclt/src/cli/main.js');
  const cat = 'cli-flags';
  const cwd = path.join(ROOT, 'cli-cwd');
  fs.mkdirSync(cwd);
  process.chdir(cwd); // defaults that resolve against the current folder (runs/, results) land here: it must stay empty
  let n = 0;
  const base: Record<string, (out: string) => string[]> = {
    train: (out) => ['train', '--out', out, '--dataset', 'synthetic', '--image-size', '8', '--steps', '1', '--hidden', '16', '--layers', '1', '--batch-size', '8', '--grid-samples', '0'],
    sample: (out) => ['sample', '--run', path.join(out, 'no-run'), '--out', path.join(out, 's')],
    eval: (out) => ['eval', '--samples', path.join(out, 'none.safetensors'), '--out', path.join(out, 'm.json'), '--dataset', 'synthetic', '--feature-net', 'random-untrained'],
    ablation: (out) => ['ablation', '--out', out, '--results', path.join(out, 'res'), '--dataset', 'synthetic', '--image-size', '8', '--steps', '1', '--methods', 'U-base', '--hidden', '16', '--layers', '1', '--batch-size', '8', '--num-samples', '10', '--sample-steps', '1', '--feature-net', 'random-untrained'],
    study: (out) => ['study', 'plan', '--design', path.join(ROOT, 'no-such-design.json'), '--out', out, '--results', path.join(out, 'res')],
  };
  /** base argv without `flag` (and its value), then `extra`. */
  const build = (cmd: string, out: string, flag: string | null, extra: string[]) => {
    const b = base[cmd]!(out);
    const kept: string[] = [];
    for (let i = 0; i < b.length; i++) {
      if (flag !== null && b[i] === flag) {
        i++;
        continue;
      }
      kept.push(b[i]!);
    }
    return [...kept, ...extra];
  };
  const tryCase = async (cmd: string, flag: string | null, extra: string[], names: string, id: string) => {
    const out = path.join(ROOT, 'cli-out', `c${n++}`);
    const argv = build(cmd, out, flag, extra);
    if (cmd === 'train' && flag === '--channels') argv.push('--model', 'unet');
    const before = fs.readdirSync(cwd).length;
    silence();
    let code: number;
    try {
      code = await main(argv);
    } catch (e) {
      unsilence();
      record(cat, id, JSON.stringify(argv.slice(0, 1).concat(extra)), 'wrong', `main threw instead of returning an exit code: ${msgOf(e)}`);
      return;
    }
    unsilence();
    // The command's own message (progress lines such as '[ablation hh:mm:ss] ...' may come first).
    const lines = captured.error.join('\n').split('\n');
    const prefix = new RegExp(`^oclt ${esc(cmd)}( [a-z-]+)?: `); // a subcommand names itself: 'oclt study plan: '
    const first = (lines.find((l) => prefix.test(l)) ?? lines[0] ?? '').slice(0, 240);
    const created = fs.existsSync(out) || fs.readdirSync(cwd).length !== before;
    const input = `oclt ${cmd} ... ${extra.map((a) => JSON.stringify(a)).join(' ')}`;
    if (code === 2 && prefix.test(first) && first.includes(names) && !created) record(cat, id, input, 'clear error', first);
    else if (created && code !== 2) record(cat, id, input, 'wrong', `exit ${code} (not 2), after work had started: wrote ${fs.existsSync(out) ? [...snapshotDir(out).keys()].join(', ') || 'an empty --out folder' : 'files in the current folder'}; stderr: ${first.replaceAll(ROOT, '<tmp>')}`);
    else if (created) record(cat, id, input, 'wrong', `exit 2 but something was created; stderr: ${first}`);
    else record(cat, id, input, 'wrong', `exit ${code}, stderr does not name ${names}: ${first}`);
    fs.rmSync(out, { recursive: true, force: true });
    for (const f of fs.readdirSync(cwd)) fs.rmSync(path.join(cwd, f), { recursive: true, force: true });
  };

  const intFlags: Record<string, string[]> = {
    train: ['--steps', '--batch-size', '--warmup', '--seed', '--checkpoint-every', '--grid-samples', '--sample-steps', '--hidden', '--layers', '--channels', '--model-seed', '--num-classes', '--image-size', '--lt-seed'],
    sample: ['--num', '--steps', '--seed', '--grid-scale'],
    eval: ['--num-classes', '--image-size', '--lt-seed'],
    ablation: ['--steps', '--batch-size', '--warmup', '--num-samples', '--sample-steps', '--seed', '--checkpoint-every', '--hidden', '--layers', '--channels', '--model-seed', '--image-size', '--lt-seed'],
    study: ['--max-tier'],
  };
  const numFlags: Record<string, string[]> = {
    train: ['--lr', '--ema-decay', '--label-drop', '--imbalance', '--guidance', '--cbdm-tau', '--coral-weight'],
    sample: ['--guidance'],
    eval: ['--imbalance'],
    ablation: ['--lr', '--ema-decay', '--label-drop', '--guidance', '--imbalance'],
  };
  // Not integers in any reading a user could mean (NaN, hex, exponent, decimals, padding, separators, overflow).
  const badInts = ['0x10', '1e3', '', 'NaN', 'Infinity', '12.0', '1.5', ' 5', '5 ', 'abc', '5abc', '0b11', '0o7', '1_000', '1,000', '99999999999999999999', '+-3', '\u0663'];
  // Negative or zero: refused by every flag that needs a positive count (seeds may be any integer: not tried).
  // (--layers is documented 'min 0': zero residual layers is an architecture, so only -1 is tried for it.)
  const positive = new Set(['--steps', '--batch-size', '--checkpoint-every', '--sample-steps', '--hidden', '--channels', '--num', '--grid-scale', '--num-samples', '--max-tier', '--image-size']);
  const badNums = ['NaN', 'Infinity', '-Infinity', '0x10', '1e400', '', 'abc', '1.2.3', '0.5.'];
  for (const [cmd, flags] of Object.entries(intFlags)) {
    for (const flag of flags) {
      const values = [...badInts, ...(positive.has(flag) ? ['-1', '0', `-${randInt(2, 10 ** randInt(1, 9))}`] : flag === '--warmup' || flag === '--layers' ? ['-1'] : [])];
      for (const v of values) await tryCase(cmd, flag, [flag, v], flag, `${cmd} ${flag} ${JSON.stringify(v)}`);
      // The --flag=value form, with a random bad value.
      const v = pick(badInts.filter((x) => x !== ''));
      await tryCase(cmd, flag, [`${flag}=${v}`], flag, `${cmd} ${flag}=${JSON.stringify(v)}`);
      // Missing values: at the end, and followed by another option.
      await tryCase(cmd, flag, [flag], flag, `${cmd} ${flag} (no value, last)`);
      await tryCase(cmd, flag, [flag, '--progress'], flag, `${cmd} ${flag} (followed by --progress)`);
      // Given twice.
      await tryCase(cmd, flag, [flag, '3', flag, '4'], flag, `${cmd} ${flag} twice`);
    }
  }
  for (const [cmd, flags] of Object.entries(numFlags)) {
    for (const flag of flags) for (const v of badNums) await tryCase(cmd, flag, [flag, v], flag, `${cmd} ${flag} ${JSON.stringify(v)}`);
  }
  // Unknown options, options named after Object.prototype members, positional arguments, bad enum values.
  const unknown = ['--frobnicate', '--Steps', '--STEPS', '--step', '---steps', '--constructor', '--__proto__', '--toString', '--hasOwnProperty', '--valueOf', '--isPrototypeOf', `--x${randInt(0, 1e6)}`];
  for (const cmd of Object.keys(base)) {
    for (const u of unknown) await tryCase(cmd, null, [u, '1'], u, `${cmd} unknown ${u}`);
    await tryCase(cmd, null, ['extra'], 'extra', `${cmd} positional 'extra'`);
    await tryCase(cmd, null, ['-s', '3'], '-s', `${cmd} short option -s`);
  }
  const enums: [string, string, string][] = [
    ['train', '--model', 'transformer'], ['train', '--scheduler', 'euler'], ['train', '--clip-x0', '2'], ['train', '--dataset', 'imagenet'], ['train', '--prediction', 'v'],
    ['train', '--recipe', 'magic'], ['train', '--recipe', 't2h+cut=abc'], ['train', '--init-weights', 'both'], ['train', '--cbdm-labels', 'none'], ['train', '--resume=yes', ''],
    ['sample', '--weights', 'both'], ['sample', '--scheduler', 'euler'], ['sample', '--clip-x0', 'yes'], ['eval', '--dataset', 'mnist'], ['ablation', '--model', 'vit'], ['ablation', '--methods', 'U-nothing'], ['ablation', '--methods', 'u-base'], ['ablation', '--methods', 'U-base,C-nothing'], ['ablation', '--methods', ','], ['ablation', '--methods', ''],
    ['train', '--out=', ''], ['sample', '--run=', ''], ['ablation', '--out=', ''], ['study', '--design=', ''],
  ];
  for (const [cmd, flag, v] of enums) {
    const name = flag.replace(/=.*$/, '');
    const extra = v === '' ? [flag] : [flag, v];
    await tryCase(cmd, flag.includes('=') ? name : flag, extra, name, `${cmd} ${extra.join(' ')}`);
  }
  process.chdir(origCwd);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. safetensors files
// ---------------------------------------------------------------------------------------------------------------
const ST_BYTES: Record<string, number> = { F32: 4, F64: 8, I32: 4, BOOL: 1, F16: 2, BF16: 2, I64: 8 };

/** A file: 8-byte length (or `lenOverride`), the header text, the data. */
function rawSafetensors(header: string, data: Uint8Array, lenOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** An independent reading of the spec: null when the file is invalid, else the tensors (flat numbers) by name. */
function referenceDecode(bytes: Uint8Array): Map<string, { shape: number[]; values: number[] }> | null {
  if (bytes.length < 8) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n < 2 || 8 + n > bytes.length) return null;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    return null;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return null;
  const start = 8 + n;
  const bufLen = bytes.length - start;
  const out = new Map<string, { shape: number[]; values: number[] }>();
  const spans: [number, number][] = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof e !== 'object' || e === null || Array.isArray(e) || !Object.values(e).every((v) => typeof v === 'string')) return null;
      continue;
    }
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return null;
    const { dtype, shape, data_offsets: off } = e as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(ST_BYTES, dtype)) return null;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return null;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1] || off[1] > bufLen) return null;
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (numel * ST_BYTES[dtype]! !== off[1] - off[0]) return null;
    spans.push([off[0], off[1]]);
    const values: number[] = [];
    for (let i = 0; i < numel; i++) {
      const p = start + off[0] + i * ST_BYTES[dtype]!;
      let v: number;
      if (dtype === 'F32') v = dv.getFloat32(p, true);
      else if (dtype === 'F64') v = dv.getFloat64(p, true);
      else if (dtype === 'I32') v = dv.getInt32(p, true);
      else if (dtype === 'BOOL') {
        v = dv.getUint8(p);
        if (v > 1) return null;
      } else if (dtype === 'I64') {
        const b = dv.getBigInt64(p, true);
        if (b < -(2n ** 31n) || b >= 2n ** 31n) return null;
        v = Number(b);
      } else {
        const h = dv.getUint16(p, true);
        if (dtype === 'BF16') v = new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
        else {
          const s = h & 0x8000 ? -1 : 1;
          const ex = (h >> 10) & 0x1f;
          const m = h & 0x3ff;
          v = ex === 0 ? s * m * 2 ** -24 : ex === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (ex - 15);
        }
      }
      values.push(v);
    }
    out.set(name, { shape: shape as number[], values });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let expect = 0;
  for (const [b, e] of spans) {
    if (b !== expect) return null;
    expect = e;
  }
  if (expect !== bufLen) return null;
  return out;
}

function safetensorsFiles(): void {
  const cat = 'safetensors';
  const dir = path.join(ROOT, 'st');
  fs.mkdirSync(dir);
  let n = 0;
  const good = encodeSafetensors(
    { weight: T.tensor([[1.5, -2, 3], [4, 5e-3, -6e10]]), counts: T.tensor([1, 2, 3, -4], 'int32'), scale: T.tensor([Math.PI, -1e-300], 'float64') },
    { format: 'pt', note: 'x' },
  );
  const goodHeaderLen = Number(new DataView(good.buffer).getBigUint64(0, true));
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).join();
  /** Loads bytes from a file; `field` is the regex the message must match besides the file name; null: must load. */
  const tryBytes = (id: string, input: string, bytes: Uint8Array, field: RegExp | null) => {
    const file = path.join(dir, `case-${n++}.safetensors`);
    fs.writeFileSync(file, bytes);
    const ref = referenceDecode(bytes);
    let got: ReturnType<typeof loadSafetensorsSync> | null = null;
    let err: unknown = null;
    const t0 = performance.now();
    try {
      got = loadSafetensorsSync(file);
    } catch (e) {
      err = e;
    }
    const ms = Math.round(performance.now() - t0);
    fs.rmSync(file);
    if (err) {
      const m = err instanceof Error ? err.message : String(err);
      const named = err instanceof SafetensorsError && m.includes(file) && (field === null || field.test(m));
      if (ref !== null && field === null) record(cat, id, input, 'wrong', `a valid file was refused: ${msgOf(err)}`);
      else if (named) record(cat, id, input, 'clear error', `${m.replace(file, '<file>')} (${ms} ms)`);
      else record(cat, id, input, 'wrong', `error does not name the file/field (${field}): ${msgOf(err)}`);
      return;
    }
    // Accepted: must be a valid file per the spec and decode to exactly what it says.
    if (ref === null) {
      record(cat, id, input, 'wrong', `accepted a file the spec makes invalid; tensors: ${Object.keys(got!.tensors).join(', ')}`);
      return;
    }
    if (Object.getPrototypeOf(got!.tensors) !== null || Object.getPrototypeOf(got!.metadata) !== null) {
      record(cat, id, input, 'wrong', 'result maps have a prototype');
      return;
    }
    const names = Object.keys(got!.tensors).sort();
    const refNames = [...ref.keys()].sort();
    if (names.join('\u0000') !== refNames.join('\u0000')) {
      record(cat, id, input, 'wrong', `tensor names ${JSON.stringify(names)}, file has ${JSON.stringify(refNames)}`);
      return;
    }
    for (const name of names) {
      const t = got!.tensors[name]!;
      const r = ref.get(name)!;
      const vals = Array.from(t.toTypedArray() as ArrayLike<number>);
      if (t.shape.join() !== r.shape.join() || vals.length !== r.values.length || vals.some((v, i) => !Object.is(v, r.values[i]) && !(Number.isNaN(v) && Number.isNaN(r.values[i]!)))) {
        record(cat, id, input, 'wrong', `tensor '${name}' decodes to other values/shape than the file holds`);
        return;
      }
    }
    if (field !== null) record(cat, id, input, 'wrong', `expected a refusal (${field}) but it loaded`);
    else record(cat, id, input, 'right', `loaded ${names.length} tensors as the file says (${ms} ms)`);
  };
  const hdr = (o: unknown) => JSON.stringify(o);
  const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
  const e1 = (name: string, extra: Record<string, unknown> = {}) => ({ [name]: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra } });
  const two = f32([1, 2]);
  // Hand-written cases.
  const hand: [string, Uint8Array, RegExp | null][] = [
    ['empty file', new Uint8Array(0), /header length/],
    ['7 bytes', new Uint8Array(7), /header length/],
    ['length 0', rawSafetensors('', new Uint8Array(0)), /header length/],
    ['length 1', rawSafetensors('{', new Uint8Array(0)), /header length/],
    ['length 2^64-1', rawSafetensors('{}', new Uint8Array(0), 2n ** 64n - 1n), /header length/],
    ['length 2^53+1', rawSafetensors('{}', new Uint8Array(0), 2n ** 53n + 1n), /header length/],
    ['length 100000001', rawSafetensors('{}', new Uint8Array(0), 100000001n), /header length/],
    ['length past the end', rawSafetensors('{}', new Uint8Array(0), 50n), /header length/],
    ['header []', rawSafetensors('[]', new Uint8Array(0)), /header/],
    ['header null', rawSafetensors('null', new Uint8Array(0)), /header/],
    ['header 12', rawSafetensors('12', new Uint8Array(0)), /header/],
    ['header "x"', rawSafetensors('"x"', new Uint8Array(0)), /header/],
    ['header invalid UTF-8', (() => {
      const b = rawSafetensors('{"ab":1}', new Uint8Array(0));
      b[10] = 0xff; // a byte that never occurs in UTF-8
      return b;
    })(), /header: not valid UTF-8/],
    ['header not JSON', rawSafetensors('{"a":', new Uint8Array(0)), /header/],
    ['empty header {}', rawSafetensors('{}', new Uint8Array(0)), null],
    ['empty header {} with trailing data', rawSafetensors('{}', two), /data/],
    ['duplicate tensor', rawSafetensors('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}', two), /duplicate key 'a'/],
    ['duplicate dtype in an entry', rawSafetensors('{"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}', two), /tensor 'a'.*duplicate key 'dtype'/],
    ['duplicate shape in an entry', rawSafetensors('{"a":{"dtype":"F32","shape":[2],"shape":[1,2],"data_offsets":[0,8]}}', two), /duplicate key 'shape'/],
    ['duplicate metadata key', rawSafetensors('{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), /__metadata__.*duplicate key 'k'/],
    ['duplicate __metadata__', rawSafetensors('{"__metadata__":{},"__metadata__":{},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), /duplicate key '__metadata__'/],
    ['duplicate with escaped key', rawSafetensors('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), /duplicate key 'a'/],
    ['tensor named __proto__', rawSafetensors(hdr(e1('__proto__')), two), null],
    ['tensor named constructor', rawSafetensors(hdr(e1('constructor')), two), null],
    ['tensor named toString', rawSafetensors(hdr(e1('toString')), two), null],
    ['tensor named hasOwnProperty', rawSafetensors(hdr(e1('hasOwnProperty')), two), null],
    ['metadata key __proto__', rawSafetensors('{"__metadata__":{"__proto__":"x"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), null],
    ['entry with __proto__ dtype', rawSafetensors('{"a":{"__proto__":{"dtype":"F32"},"shape":[2],"data_offsets":[0,8]}}', two), /tensor 'a'\.dtype/],
    ['metadata not an object', rawSafetensors('{"__metadata__":[1],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), /__metadata__/],
    ['metadata value a number', rawSafetensors('{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', two), /__metadata__\.k/],
    ['entry not an object', rawSafetensors('{"a":[1,2]}', new Uint8Array(0)), /tensor 'a'/],
    ['entry null', rawSafetensors('{"a":null}', new Uint8Array(0)), /tensor 'a'/],
    ['bool > 1', rawSafetensors(hdr({ b: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }), new Uint8Array([0, 1, 2])), /tensor 'b'.*BOOL element 2/],
    ['I64 beyond int32', rawSafetensors(hdr({ c: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }), new Uint8Array(new BigInt64Array([2n ** 40n]).buffer)), /tensor 'c'.*I64 element 0/],
    ['I64 in range', rawSafetensors(hdr({ c: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }), new Uint8Array(new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n]).buffer)), null],
    ['F16 values', rawSafetensors(hdr({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }), new Uint8Array(new Uint16Array([0x3c00, 0x7c00, 0x0001, 0xfe00]).buffer)), null],
    ['BF16 values', rawSafetensors(hdr({ h: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }), new Uint8Array(new Uint16Array([0x3f80, 0xff80]).buffer)), null],
    ['zero-size tensor', rawSafetensors(hdr({ z: { dtype: 'F32', shape: [0, 5], data_offsets: [0, 0] }, ...e1('a') }), two), null],
    ['scalar tensor', rawSafetensors(hdr({ s: { dtype: 'F32', shape: [], data_offsets: [0, 4] } }), f32([7])), null],
    ['offsets out of range', rawSafetensors(hdr(e1('a', { data_offsets: [0, 800] })), two), /tensor 'a'\.data_offsets/],
    ['offsets reversed', rawSafetensors(hdr(e1('a', { data_offsets: [8, 0] })), two), /tensor 'a'\.data_offsets/],
    ['offsets negative', rawSafetensors(hdr(e1('a', { data_offsets: [-8, 0] })), two), /tensor 'a'\.data_offsets/],
    ['offsets floats', rawSafetensors(hdr(e1('a', { data_offsets: [0.5, 8.5] })), two), /tensor 'a'\.data_offsets/],
    ['offsets 2^53', rawSafetensors(hdr(e1('a', { data_offsets: [0, 2 ** 53] })), two), /tensor 'a'\.data_offsets/],
    ['offsets 1e300', rawSafetensors(hdr(e1('a', { data_offsets: [0, 1e300] })), two), /tensor 'a'\.data_offsets/],
    ['offsets three', rawSafetensors(hdr(e1('a', { data_offsets: [0, 4, 8] })), two), /tensor 'a'\.data_offsets/],
    ['offsets strings', rawSafetensors(hdr(e1('a', { data_offsets: ['0', '8'] })), two), /tensor 'a'\.data_offsets/],
    ['offsets missing', rawSafetensors(hdr({ a: { dtype: 'F32', shape: [2] } }), two), /tensor 'a'\.data_offsets/],
    ['span shorter than shape', rawSafetensors(hdr(e1('a', { shape: [3] })), two), /tensor 'a'\.data_offsets/],
    ['huge declared shape', rawSafetensors(hdr(e1('a', { shape: [2 ** 26, 2 ** 26] })), two), /tensor 'a'/],
    ['huge shape with matching huge offsets', rawSafetensors(hdr(e1('a', { shape: [2 ** 30, 2 ** 20], data_offsets: [0, 2 ** 52] })), two), /tensor 'a'\.data_offsets/],
    ['shape negative', rawSafetensors(hdr(e1('a', { shape: [-2] })), two), /tensor 'a'\.shape/],
    ['shape float', rawSafetensors(hdr(e1('a', { shape: [2.0000001] })), two), /tensor 'a'\.shape/],
    ['shape string', rawSafetensors(hdr(e1('a', { shape: '2' })), two), /tensor 'a'\.shape/],
    ['shape nested', rawSafetensors(hdr(e1('a', { shape: [[2]] })), two), /tensor 'a'\.shape/],
    ['shape missing', rawSafetensors(hdr({ a: { dtype: 'F32', data_offsets: [0, 8] } }), two), /tensor 'a'\.shape/],
    ['overlap', rawSafetensors(hdr({ ...e1('a'), b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), two), /overlaps|data_offsets/],
    ['gap', rawSafetensors(hdr({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }), two), /tensor 'a'\.data_offsets.*gap/],
    ['trailing bytes', rawSafetensors(hdr({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }), two), /data.*trailing/],
    ['deeply nested header', rawSafetensors(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, new Uint8Array(0)), /tensor 'a'|header/],
  ];
  for (const d of ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty', 'F8', 'I8', 'U8', 'U16', 'F128', 'f32', 'float32', '', ' F32', 'F32 ']) {
    hand.push([`dtype ${JSON.stringify(d)}`, rawSafetensors(hdr(e1('a', { dtype: d })), two), /tensor 'a'\.dtype: unknown or unsupported dtype/]);
  }
  for (const d of [null, 32, true, ['F32'], { F32: 1 }]) hand.push([`dtype ${JSON.stringify(d)}`, rawSafetensors(hdr(e1('a', { dtype: d })), two), /tensor 'a'\.dtype/]);
  for (const [id, bytes, field] of hand) tryBytes(id, id, bytes, field);

  // Generated: every kind of random damage to a good file.
  for (let i = 0; i < 40; i++) {
    const len = randInt(0, good.length - 1);
    tryBytes(`truncated to ${len} bytes`, `good file (${good.length} bytes) truncated to ${len}`, good.slice(0, len), /header length|header|data_offsets|data/);
  }
  for (let i = 0; i < 40; i++) {
    const b = good.slice();
    const p = randInt(8 + goodHeaderLen, good.length - 1);
    b[p] = randInt(0, 255);
    tryBytes(`data byte ${p} set`, `good file, data byte ${p} := ${b[p]}`, b, null);
  }
  for (let i = 0; i < 80; i++) {
    const b = good.slice();
    const p = randInt(8, 8 + goodHeaderLen - 1);
    const v = pick([randInt(0, 255), 0x22, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d, 0x30 + randInt(0, 9), 0x2d, 0x20]);
    b[p] = v;
    const ref = referenceDecode(b);
    tryBytes(`header byte ${p} set`, `good file, header byte ${p} (${JSON.stringify(String.fromCharCode(good[p]!))}) := ${JSON.stringify(String.fromCharCode(v))}`, b, ref === null ? /./ : null);
  }
  for (let i = 0; i < 20; i++) {
    const b = good.slice();
    const v = BigInt(Math.floor(rand() * 2 ** 32)) * (rand() < 0.5 ? 2n ** BigInt(randInt(0, 32)) : 1n);
    if (v === BigInt(goodHeaderLen)) continue;
    new DataView(b.buffer).setBigUint64(0, v & (2n ** 64n - 1n), true);
    tryBytes(`header length ${v}`, `good file, length field := ${v}`, b, /header length|header|data/);
  }
  // Random headers: random names (prototype names among them), dtypes, shapes and offsets; the oracle is the spec.
  const names = ['w', 'b', '__proto__', 'constructor', 'toString', 'ema.x', 'a.b.c', '\u00e9', '', ' '];
  const dtypes = ['F32', 'F64', 'I32', 'BOOL', 'F16', 'BF16', 'I64', 'U8', 'constructor', 'F8'];
  for (let i = 0; i < 60; i++) {
    const k = randInt(1, 3);
    const header: Record<string, unknown> = {};
    let pos = 0;
    const chunks: Uint8Array[] = [];
    for (let j = 0; j < k; j++) {
      const dt = rand() < 0.8 ? pick(dtypes.slice(0, 7)) : pick(dtypes);
      const shape = Array.from({ length: randInt(0, 3) }, () => (rand() < 0.9 ? randInt(0, 4) : pick([-1, 1.5, 2 ** 40])));
      const numel = shape.reduce((a, b) => a * b, 1);
      const bytes = Number.isSafeInteger(numel) && numel >= 0 && numel < 100 ? numel * (ST_BYTES[dt] ?? 4) : 4;
      const lie = rand() < 0.25 ? pick([-1, 1, 4, -4, 1000]) : 0;
      const data = new Uint8Array(Math.max(0, bytes));
      for (let q = 0; q < data.length; q++) data[q] = dt === 'BOOL' ? randInt(0, rand() < 0.9 ? 1 : 3) : dt === 'I64' && q % 8 >= 4 ? (rand() < 0.9 ? (data[q - 1]! & 0x80 ? 255 : 0) : randInt(0, 255)) : randInt(0, 255);
      header[pick(names)] = { dtype: dt, shape, data_offsets: [pos, pos + bytes + lie] };
      pos += bytes;
      chunks.push(data);
    }
    const data = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0) + (rand() < 0.1 ? 3 : 0));
    let o = 0;
    for (const c of chunks) {
      data.set(c, o);
      o += c.length;
    }
    const bytes = rawSafetensors(JSON.stringify(header), data);
    const ref = referenceDecode(bytes);
    tryBytes(`random header ${i}`, JSON.stringify(header), bytes, ref === null ? /tensor '|header|data/ : null);
  }
  const protoAfter = Object.getOwnPropertyNames(Object.prototype).join();
  const polluted = protoAfter !== protoBefore || ({} as Record<string, unknown>).dtype !== undefined || ({} as Record<string, unknown>).shape !== undefined;
  record(cat, 'Object.prototype untouched', 'after all safetensors cases', polluted ? 'wrong' : 'right', polluted ? 'Object.prototype was changed' : 'no property added to Object.prototype');
}

// ---------------------------------------------------------------------------------------------------------------
// 3. checkpoint manifests
// ---------------------------------------------------------------------------------------------------------------
const toyData = gaussianMixtureDataset([{ mean: [1, 1], std: 0.2, count: 30 }, { mean: [-1, 0], std: 0.2, count: 10 }], new T.Generator(3));
const trainerOptions = (config: Partial<TrainerConfig> = {}) => ({
  model: new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 1 }),
  scheduler: new DDPMScheduler({ numTrainTimesteps: 100 }),
  dataset: toyData,
  config: { batchSize: 8, numSteps: 4, lr: 1e-2, warmupSteps: 2, emaDecay: 0.9, seed: 9, ...config },
});
const quiet = { progress: false, logEvery: 1, handleSignals: false };

async function checkpointManifests(): Promise<void> {
  const cat = 'checkpoints';
  const pristine = path.join(ROOT, 'ckpt-pristine');
  await runTraining(new Trainer(trainerOptions()), { dir: pristine, ...quiet, checkpointEvery: 2, warn: () => {} });
  fs.writeFileSync(path.join(ROOT, 'outside-secret.txt'), 'secret outside the run');
  const M4 = 'ckpt-00000004.json';
  const P4 = 'ckpt-00000004.safetensors';
  const original = JSON.parse(fs.readFileSync(path.join(pristine, 'checkpoints', M4), 'utf8')) as { body: Record<string, any>; bodySha256: string };
  const sign = (body: unknown) => JSON.stringify({ body, bodySha256: crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex') });
  let n = 0;
  const outsideBefore = fs.readFileSync(path.join(ROOT, 'outside-secret.txt'), 'utf8');
  /**
   * Copies the pristine run, damages checkpoint 4 with `damage(ckptDir)`, then loads the newest usable checkpoint.
   * Must give step 2 with a warning matching `message` (which names the file) and keep step 2's files; `valid`:
   * the damage leaves checkpoint 4 equivalent (then loading step 4 is right).
   */
  const payloadOriginal = fs.readFileSync(path.join(pristine, 'checkpoints', P4));
  /** The damage left checkpoint 4 equivalent: the same manifest JSON and the same payload bytes. */
  const unchanged = (ck: string) => {
    try {
      return JSON.stringify(JSON.parse(fs.readFileSync(path.join(ck, M4), 'utf8'))) === JSON.stringify(original) && fs.readFileSync(path.join(ck, P4)).equals(payloadOriginal);
    } catch {
      return false;
    }
  };
  // The reference continuation: the pristine run resumed from 4 to 6 (its step-6 payload, bit for bit).
  const refRun = path.join(ROOT, 'ckpt-ref');
  fs.cpSync(pristine, refRun, { recursive: true });
  await runTraining(new Trainer(trainerOptions({ numSteps: 6 })), { dir: refRun, ...quiet, checkpointEvery: 2, warn: () => {} });
  const refPayload6 = sha(checkpointStore(refRun).load(6).payload);
  /**
   * Copies the pristine run, damages checkpoint 4 with `damage(ckptDir)`, then loads the newest usable checkpoint.
   * Must give step 2 with a warning matching `message` (which names the file) and keep step 2's files. When it
   * loads step 4 anyway: right if the damage left it equivalent; else the run is resumed to step 6 and must either
   * stop with an error naming the file or field, or end bit for bit where the undamaged run ends.
   * `resume`: also resume a run that fell back (it must go on from step 2 and finish).
   */
  const tryDamage = async (id: string, damage: (ckptDir: string) => void, message: RegExp, opts: { resume?: boolean; field?: RegExp } = {}) => {
    const run = path.join(ROOT, 'ckpt-cases', `r${n++}`);
    fs.cpSync(pristine, run, { recursive: true });
    const ck = path.join(run, 'checkpoints');
    damage(ck);
    const step2 = new Map([...snapshotDir(ck)].filter(([k]) => k.startsWith('ckpt-00000002')));
    const warnings: string[] = [];
    const t0 = performance.now();
    let res: ReturnType<typeof loadLatestUsable> = null;
    let err: unknown = null;
    try {
      res = loadLatestUsable(checkpointStore(run), (m) => warnings.push(m));
    } catch (e) {
      err = e;
    }
    const ms = Math.round(performance.now() - t0);
    const after = snapshotDir(ck);
    const lostStep2 = [...step2].some(([k, h]) => after.get(k) !== h);
    const lostOutside = fs.readFileSync(path.join(ROOT, 'outside-secret.txt'), 'utf8') !== outsideBefore;
    const w = warnings.join(' | ').replaceAll(ROOT, '<tmp>');
    const resume = () => runTraining(new Trainer(trainerOptions({ numSteps: 6 })), { dir: run, ...quiet, checkpointEvery: 2, warn: () => {} });
    if (lostStep2 || lostOutside) record(cat, id, id, 'lost', `${lostStep2 ? 'checkpoint 2 files changed or deleted' : 'a file outside the run changed'}`);
    else if (err) record(cat, id, id, 'wrong', `no fallback, threw: ${msgOf(err)}`);
    else if (res?.ckpt.step === 2 && message.test(w)) record(cat, id, id, 'clear error', `fell back to step 2 (${ms} ms): ${w}`);
    else if (res?.ckpt.step === 2) record(cat, id, id, 'wrong', `fell back to step 2 but the warning does not match ${message}: ${w}`);
    else if (res?.ckpt.step === 4 && unchanged(ck)) record(cat, id, id, 'right', `the damage left checkpoint 4 equivalent; loaded it`);
    else if (res?.ckpt.step === 4) {
      // Accepted at load time: what does resuming from it do?
      try {
        const r = await resume();
        const same = sha(checkpointStore(run).load(6).payload) === refPayload6;
        record(cat, id, id, same && r.resumedFrom === 4 ? 'right' : 'wrong', same ? `loaded checkpoint 4; the resumed run ends bit for bit like the undamaged one (the field is not needed)` : `loaded the damaged checkpoint 4 without a word and resumed from ${r.resumedFrom}: the step-6 weights differ from the undamaged run's`);
      } catch (e) {
        const m = (e as Error).message;
        const named = m.includes(M4) || m.includes(P4) || (opts.field?.test(m) ?? false);
        record(cat, id, id, named ? 'clear error' : 'wrong', `loaded without a word, then resuming threw${named ? ' naming it' : ' naming neither file nor field'}: ${msgOf(e).replaceAll(ROOT, '<tmp>').slice(0, 200)}`);
      }
      return;
    } else record(cat, id, id, 'wrong', `loaded ${res ? `step ${res.ckpt.step}` : 'nothing'}; warnings: ${w}`);
    if (opts.resume && !lostStep2 && res?.ckpt.step === 2) {
      // Resuming the run must go on from step 2 and end with finite checkpoints (or stop naming the damaged file).
      const label = `${id} / resume`;
      try {
        const r = await resume();
        const fin = loadLatestUsable(checkpointStore(run), () => {});
        if (r.resumedFrom === 2 && fin?.ckpt.step === 6) record(cat, label, label, 'right', `resumed from 2, finished at 6`);
        else record(cat, label, label, 'wrong', `resumedFrom ${r.resumedFrom}, newest usable ${fin?.ckpt.step}`);
      } catch (e) {
        const m = (e as Error).message;
        const named = m.includes(M4) || m.includes(P4);
        record(cat, label, label, named ? 'clear error' : 'wrong', `resume stopped: ${msgOf(e).replaceAll(ROOT, '<tmp>').slice(0, 240)}`);
      }
    }
  };
  const edit = (mutate: (b: Record<string, any>) => void, resign = true) => (ck: string) => {
    const body = structuredClone(original.body);
    mutate(body);
    fs.writeFileSync(path.join(ck, M4), resign ? sign(body) : JSON.stringify({ body, bodySha256: original.bodySha256 }));
  };
  const names = (s: string) => new RegExp(`${esc(s)} is corrupt`);
  const payloadSize = original.body.payloadBytes as number;
  const cases: [string, (ck: string) => void, RegExp, { resume?: boolean; field?: RegExp }?][] = [
    ['manifest deleted field format', edit((b) => delete b.format), names(M4)],
    ['manifest format wrong', edit((b) => void (b.format = 'other')), names(M4)],
    ['manifest step 5 in file of step 4', edit((b) => void (b.step = 5)), names(M4)],
    ['manifest step "4"', edit((b) => void (b.step = '4')), names(M4)],
    ['manifest without payloadFile', edit((b) => delete b.payloadFile), names(M4)],
    ['manifest without payloadBytes', edit((b) => delete b.payloadBytes), names(M4)],
    ['manifest without payloadSha256', edit((b) => delete b.payloadSha256), names(M4)],
    ['manifest without meta', edit((b) => delete b.meta), names(M4)],
    ['manifest meta null', edit((b) => void (b.meta = null)), names(M4)],
    ['manifest meta without trainer', edit((b) => void (b.meta = { run: {} })), /ckpt-00000004\.json is corrupt: meta\.trainer is missing/],
    ['manifest body an array', (ck) => fs.writeFileSync(path.join(ck, M4), sign([1, 2])), names(M4)],
    ['manifest body null', (ck) => fs.writeFileSync(path.join(ck, M4), sign(null)), names(M4)],
    ['manifest checksum not re-signed', edit((b) => void (b.payloadBytes = 10), false), /ckpt-00000004\.json is corrupt: manifest checksum mismatch/],
    ['manifest bodySha256 missing', (ck) => fs.writeFileSync(path.join(ck, M4), JSON.stringify({ body: original.body })), names(M4)],
    ['manifest empty', (ck) => fs.writeFileSync(path.join(ck, M4), ''), names(M4), { resume: true }],
    ['manifest "null"', (ck) => fs.writeFileSync(path.join(ck, M4), 'null'), names(M4)],
    ['manifest a directory', (ck) => {
      fs.rmSync(path.join(ck, M4));
      fs.mkdirSync(path.join(ck, M4));
    }, /ckpt-00000004\.json is corrupt: manifest is not a regular file \(a directory\)/, { resume: true }],
    ['manifest 100 MB (sparse)', (ck) => fs.truncateSync(path.join(ck, M4), 100 * 2 ** 20), /ckpt-00000004\.json is corrupt: manifest is \d+ bytes/],
    ['payload a directory', (ck) => {
      fs.rmSync(path.join(ck, P4));
      fs.mkdirSync(path.join(ck, P4));
    }, /ckpt-00000004\.safetensors is corrupt: is not a regular file \(a directory\)/, { resume: true }],
    ['payload missing', (ck) => fs.rmSync(path.join(ck, P4)), /ckpt-00000004\.json is corrupt: payload ckpt-00000004\.safetensors is missing/, { resume: true }],
    ['payload 1.5 GB sparse, manifest says the real size', (ck) => fs.truncateSync(path.join(ck, P4), 1.5e9), /ckpt-00000004\.safetensors is corrupt: 1500000000 bytes, manifest says/],
    ['payload 3 GB sparse, manifest says 3 GB', (ck) => {
      fs.truncateSync(path.join(ck, P4), 3e9);
      edit((b) => void (b.payloadBytes = 3e9))(ck);
    }, /ckpt-00000004\.json is corrupt: payloadBytes 3000000000 exceeds/],
    ['payload not safetensors, manifest re-signed to match', (ck) => {
      const junk = crypto.randomBytes(64);
      fs.writeFileSync(path.join(ck, P4), junk);
      edit((b) => Object.assign(b, { payloadBytes: 64, payloadSha256: crypto.createHash('sha256').update(junk).digest('hex') }))(ck);
    }, /ckpt-00000004\.safetensors is corrupt: safetensors/, { resume: true }],
    ['payloadFile points at checkpoint 2', edit((b) => void (b.payloadFile = 'ckpt-00000002.safetensors')), /ckpt-0000000[24]\.(json|safetensors) is corrupt/],
  ];
  for (const v of [-1, 0, 10, payloadSize - 1, payloadSize + 1, payloadSize + 0.5, `${payloadSize}`, null, 2 ** 31, 2 ** 53, 1e300, [payloadSize], true]) {
    cases.push([`payloadBytes ${JSON.stringify(v)}`, edit((b) => void (b.payloadBytes = v)), /ckpt-00000004\.(json|safetensors) is corrupt/]);
  }
  const segs = ['..', '.', '', 'checkpoints', 'run.json', 'outside-secret.txt', 'ckpt-00000004.safetensors', 'a', '%2e%2e', '\u0000'];
  const pf: unknown[] = ['../outside-secret.txt', '../../outside-secret.txt', '../run.json', '/etc/passwd', ROOT + '/outside-secret.txt', 'a/b', '.', '..', '', 'x'.repeat(300), 'nonexistent.safetensors', 'C:\\x', 'ckpt-00000004.safetensors\u0000', ' ckpt-00000004.safetensors', 42, null, ['ckpt-00000004.safetensors']];
  for (let i = 0; i < 15; i++) pf.push(Array.from({ length: randInt(1, 4) }, () => pick(segs)).join(pick(['/', '\\', '/'])));
  for (const v of pf) cases.push([`payloadFile ${JSON.stringify(v)}`, edit((b) => void (b.payloadFile = v)), /ckpt-00000004\.(json|safetensors) is corrupt/]);
  for (const v of ['', 'zz', original.body.payloadSha256.toUpperCase(), '0'.repeat(64), original.body.payloadSha256.slice(1), 7]) {
    cases.push([`payloadSha256 ${JSON.stringify(v).slice(0, 20)}`, edit((b) => void (b.payloadSha256 = v)), /ckpt-00000004\.(json|safetensors) is corrupt/]);
  }
  for (const k of Object.keys(original.body.meta.trainer ?? {})) {
    const field = new RegExp(`\\b${esc(k)}\\b`);
    cases.push([`meta.trainer without ${k}`, edit((b) => delete b.meta.trainer[k]), new RegExp(`ckpt-00000004\\.json is corrupt: meta\\.trainer\\.${esc(k)}`), { field }]);
    cases.push([`meta.trainer.${k} = "x"`, edit((b) => void (b.meta.trainer[k] = 'x')), new RegExp(`ckpt-00000004\\.json is corrupt: meta\\.trainer`), { field }]);
  }
  const manifestText = fs.readFileSync(path.join(pristine, 'checkpoints', M4), 'utf8');
  for (let i = 0; i < 20; i++) {
    const len = randInt(0, manifestText.length - 1);
    cases.push([`manifest truncated to ${len} bytes`, (ck) => fs.writeFileSync(path.join(ck, M4), manifestText.slice(0, len)), names(M4)]);
  }
  for (let i = 0; i < 25; i++) {
    const p = randInt(0, manifestText.length - 1);
    const c = String.fromCharCode(pick([randInt(32, 126), 0x30 + randInt(0, 9), 0x22, 0x20]));
    cases.push([`manifest char ${p} := ${JSON.stringify(c)}`, (ck) => fs.writeFileSync(path.join(ck, M4), manifestText.slice(0, p) + c + manifestText.slice(p + 1)), names(M4)]);
  }
  const payloadBytes = payloadOriginal;
  for (let i = 0; i < 10; i++) {
    const len = randInt(0, payloadBytes.length - 1);
    cases.push([`payload truncated to ${len} bytes`, (ck) => fs.writeFileSync(path.join(ck, P4), payloadBytes.subarray(0, len)), /ckpt-00000004\.safetensors is corrupt/, { resume: i < 2 }]);
  }
  for (let i = 0; i < 15; i++) {
    const p = randInt(0, payloadBytes.length - 1);
    const v = (payloadBytes[p]! + randInt(1, 255)) % 256;
    cases.push([`payload byte ${p} := ${v}`, (ck) => {
      const b = Buffer.from(payloadBytes);
      b[p] = v;
      fs.writeFileSync(path.join(ck, P4), b);
    }, /ckpt-00000004\.safetensors is corrupt: SHA-256 mismatch/]);
  }
  for (const [id, damage, message, o] of cases) await tryDamage(id, damage, message, o);
  // Orphans: after a save, the dead writer's temporary is gone and nothing else is.
  {
    const run = path.join(ROOT, 'ckpt-cases', 'orphan');
    fs.cpSync(pristine, run, { recursive: true });
    const orphan = path.join(run, 'checkpoints', '.ckpt-00000006.safetensors.tmp-999999-abcd');
    fs.writeFileSync(orphan, 'x');
    await runTraining(new Trainer(trainerOptions({ numSteps: 6 })), { dir: run, ...quiet, checkpointEvery: 2, warn: () => {} });
    const left = fs.readdirSync(path.join(run, 'checkpoints')).sort();
    const ok = !fs.existsSync(orphan) && left.filter((f) => f.endsWith('.json')).length === 3;
    record(cat, 'orphan temporary after a kill', 'a .ckpt-*.tmp-<dead pid>-* file, then a resumed run saves', ok ? 'right' : 'wrong', `left: ${left.join(', ')}`);
  }
  // Non-finite weights in a checkpoint written by an older version: refused naming file and tensor, fallback to 4.
  const { tensors, meta } = (() => {
    const tr = new Trainer(trainerOptions());
    const store = checkpointStore(pristine);
    const latest = store.load(4);
    void tr;
    return { tensors: loadLatestUsable(store, () => {})!.tensors, meta: latest.meta };
  })();
  const tensorNames = Object.keys(tensors);
  for (let i = 0; i < 12; i++) {
    const run = path.join(ROOT, 'ckpt-cases', `nan${i}`);
    fs.cpSync(pristine, run, { recursive: true });
    const name = pick(tensorNames);
    const t = tensors[name]!;
    const vals = Float32Array.from(t.toTypedArray());
    const idx = randInt(0, vals.length - 1);
    const bad = pick([NaN, Infinity, -Infinity]);
    vals[idx] = bad;
    const copy: Record<string, T.Tensor> = Object.assign(Object.create(null), tensors, { [name]: T.fromTypedArray(vals, t.shape) });
    checkpointStore(run).save(6, encodeSafetensors(copy), meta);
    const warnings: string[] = [];
    const res = loadLatestUsable(checkpointStore(run), (m) => warnings.push(m));
    const id = `checkpoint 6 with ${bad} in ${name}[${idx}]`;
    const re = new RegExp(`ckpt-00000006\\.safetensors holds non-finite weights: tensor ${esc(name)}`);
    if (res?.ckpt.step === 4 && re.test(warnings.join(' '))) record(cat, id, id, 'clear error', `fell back to 4: ${warnings[0]!.replaceAll(ROOT, '<tmp>').slice(0, 200)}`);
    else record(cat, id, id, 'wrong', `loaded ${res?.ckpt.step}; warnings: ${warnings.join(' | ').slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 4. casts
// ---------------------------------------------------------------------------------------------------------------
function casts(): void {
  const cat = 'casts';
  const special = [NaN, Infinity, -Infinity, 3e9, -3e9, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 2 ** 31 - 0.5, -(2 ** 31) - 0.5, -(2 ** 31) - 1, 2 ** 31 + 0.5, -0, 0, 5e-324, -5e-324, 1e-310, 1e-45, -1e-45, 1.4e-45, 0.9999999, -0.9999999, 1.5, -1.5, 2.5, -2.5, 1e300, -1e300, 3.4e38, -3.4e38, 16777217, 2 ** 53 + 1, 2147483647.9, -2147483648.9];
  const randoms = Array.from({ length: 140 }, () => (rand() < 0.5 ? -1 : 1) * 10 ** (rand() * 22 - 12) * (rand() < 0.1 ? 1e300 : 1));
  const values = [...special, ...randoms];
  for (const mode of ['fast', 'reference'] as const) {
    T.setCpuKernels(mode);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const v of values) {
        const len = randInt(1, 9);
        const at = randInt(0, len - 1);
        const arr = Array.from({ length: len }, (_, i) => (i === at ? v : randInt(-1000, 1000) + 0.25));
        const stored = dtype === 'float32' ? Math.fround(v) : v;
        const t = T.tensor(arr, dtype);
        const tr = Math.trunc(stored);
        const fits = tr >= -(2 ** 31) && tr <= 2 ** 31 - 1; // false for NaN and the infinities
        const id = `${mode} ${dtype} ${String(v)} at [${at}] of ${len} -> int32`;
        for (const how of ['astype', 'cast'] as const) {
          let got: number[] | null = null;
          let err: unknown = null;
          try {
            const r = how === 'astype' ? t.astype('int32') : T.cast(t, 'int32');
            got = Array.from(r.toTypedArray() as Int32Array);
            if (r.dtype !== 'int32') throw new Error(`result dtype ${r.dtype}`);
          } catch (e) {
            err = e;
          }
          const cid = `${id} (${how})`;
          if (fits) {
            const want = arr.map((x) => Math.trunc(dtype === 'float32' ? Math.fround(x) : x) | 0);
            if (got && got.every((g, i) => g === want[i])) record(cat, cid, cid, 'right', `${got[at]}`);
            else record(cat, cid, cid, 'wrong', got ? `got ${got[at]}, want ${want[at]}` : `refused a value int32 holds: ${msgOf(err)}`);
          } else {
            const re = new RegExp(`^cast: cannot convert ${esc(String(stored))} \\(element ${at}\\) to int32`);
            if (err instanceof T.CastRangeError && re.test(err.message)) record(cat, cid, cid, 'clear error', err.message.slice(0, 80));
            else if (err) record(cat, cid, cid, 'wrong', `error does not name op/value/element: ${msgOf(err)}`);
            else record(cat, cid, cid, 'wrong', `stored ${got![at]} for ${stored} silently`);
          }
        }
        // And back: the float tensor's own values survive int32 -> float (every int32 is a float64; float32 rounds).
        if (fits) {
          const back = T.tensor(arr, dtype).astype('int32').astype(dtype);
          const want = arr.map((x) => {
            const i = Math.trunc(dtype === 'float32' ? Math.fround(x) : x) | 0;
            return dtype === 'float32' ? Math.fround(i) : i;
          });
          const got = Array.from(back.toTypedArray() as ArrayLike<number>);
          const bid = `${id} -> ${dtype}`;
          record(cat, bid, bid, got.every((g, i) => Object.is(g, want[i]) || (g === 0 && want[i] === 0)) ? 'right' : 'wrong', `${got[at]} (want ${want[at]})`);
        }
      }
    }
    // Creation with dtype int32 follows the same rule (tensor, full).
    for (const v of special) {
      const tr = Math.trunc(v);
      const fits = tr >= -(2 ** 31) && tr <= 2 ** 31 - 1;
      for (const how of ['tensor', 'full'] as const) {
        const id = `${mode} ${how}(${String(v)}, int32)`;
        try {
          const r = how === 'tensor' ? T.tensor([v], 'int32') : T.full([2], v, 'int32');
          const g = (r.toTypedArray() as Int32Array)[0]!;
          record(cat, id, id, fits && g === (tr | 0) ? 'right' : 'wrong', `stored ${g}${fits ? '' : ' for an out-of-range value'}`);
        } catch (e) {
          const ok = !fits && e instanceof RangeError && (e as Error).message.includes(String(v));
          record(cat, id, id, ok ? 'clear error' : 'wrong', msgOf(e).slice(0, 120));
        }
      }
      // bool: NaN is true, -0 false.
      const bid = `${mode} ${String(v)} -> bool`;
      const b = (T.tensor([v], 'float64').astype('bool').toTypedArray() as Uint8Array)[0];
      record(cat, bid, bid, b === (v !== 0 ? 1 : 0) ? 'right' : 'wrong', `${b}`);
    }
    // int32 -> float32/float64 of random int32 values.
    const ints = Int32Array.from({ length: 200 }, () => randInt(-(2 ** 31), 2 ** 31 - 1));
    for (const dtype of ['float32', 'float64'] as const) {
      const got = T.fromTypedArray(ints, [ints.length]).astype(dtype).toTypedArray() as Float32Array | Float64Array;
      const bad = [...ints].findIndex((v, i) => got[i] !== (dtype === 'float32' ? Math.fround(v) : v));
      const id = `${mode} 200 random int32 -> ${dtype}`;
      record(cat, id, id, bad < 0 ? 'right' : 'wrong', bad < 0 ? 'all exact (float32: rounded to nearest)' : `element ${bad}: ${ints[bad]} -> ${got[bad]}`);
    }
  }
  T.setCpuKernels('fast');
}

// ---------------------------------------------------------------------------------------------------------------
// 5. large-magnitude reductions
// ---------------------------------------------------------------------------------------------------------------
function reductions(): void {
  const cat = 'reductions';
  const EPS = 2 ** -23;
  /** A hostile row: large offsets, ties of the maximum, wide spreads. */
  const makeRow = (): Float32Array => {
    const len = randInt(1, 300);
    const kind = randInt(0, 5);
    const big = 10 ** (rand() * 30);
    const sign = rand() < 0.5 ? -1 : 1;
    const row = new Float32Array(len);
    for (let i = 0; i < len; i++) {
      if (kind === 0) row[i] = sign * big; // all ties
      else if (kind === 1) row[i] = sign * big + (rand() - 0.5) * 8; // near a large offset
      else if (kind === 2) row[i] = (rand() * 2 - 1) * big; // wide spread
      else if (kind === 3) row[i] = rand() < 0.3 ? sign * big : sign * big - 10 ** (rand() * 31); // ties + far below
      else if (kind === 4) row[i] = (rand() < 0.5 ? 1 : -1) * 10 ** (rand() * 60 - 30); // mixed magnitudes
      else row[i] = i < 2 ? 1e8 : 1e8 - 10 ** randInt(0, 8); // the issue's case: two maxima at 1e8
    }
    return row;
  };
  const ops = ['logSoftmax', 'softmax', 'logsumexp', 'sum', 'max'] as const;
  for (let c = 0; c < 70; c++) {
    const rows = randInt(1, 6);
    const rowData = Array.from({ length: rows }, () => makeRow());
    const cols = Math.max(...rowData.map((r) => r.length));
    // Pad every row to `cols` with its own first value (keeps the row's character; ties grow).
    const x = new Float32Array(rows * cols);
    rowData.forEach((r, i) => {
      for (let j = 0; j < cols; j++) x[i * cols + j] = j < r.length ? r[j]! : r[0]!;
    });
    // Float64 references per row.
    const ref = Array.from({ length: rows }, (_, i) => {
      const r = Array.from(x.subarray(i * cols, (i + 1) * cols));
      const m = Math.max(...r);
      const s = r.reduce((a, v) => a + Math.exp(v - m), 0);
      const lse = m + Math.log(s);
      return { r, m, s, lse, sum: r.reduce((a, v) => a + v, 0), abs: r.reduce((a, v) => a + Math.abs(v), 0) };
    });
    const axisZero = rand() < 0.3; // reduce over axis 0 of the transpose (another kernel path)
    for (const mode of ['fast', 'reference'] as const) {
      T.setCpuKernels(mode);
      const base = T.fromTypedArray(x, [rows, cols]);
      const input = axisZero ? T.contiguous(base.transpose(0, 1)) : base;
      const axis = axisZero ? 0 : -1;
      for (const op of ops) {
        const id = `${mode} ${op} ${rows}x${cols}${axisZero ? ' axis 0' : ''} case ${c}`;
        const input0 = `rows start ${ref.map((q) => q.r.slice(0, 3).map((v) => v.toPrecision(4)).join(',')).join(' | ')}`;
        let out: Float32Array;
        try {
          const y = op === 'logSoftmax' ? T.logSoftmax(input, axis) : op === 'softmax' ? T.softmax(input, axis) : op === 'logsumexp' ? T.logsumexp(input, axis) : op === 'sum' ? T.sum(input, axis) : T.max(input, axis);
          const yy = axisZero && (op === 'logSoftmax' || op === 'softmax') ? T.contiguous(y.transpose(0, 1)) : y;
          out = Float32Array.from(yy.toTypedArray() as Float32Array);
        } catch (e) {
          record(cat, id, input0, 'wrong', `threw on finite input: ${msgOf(e)}`);
          continue;
        }
        let worst = 0;
        let where = '';
        const check = (got: number, want: number, tol: number, at: string) => {
          const err = Number.isFinite(got) ? Math.abs(got - want) / tol : Infinity;
          if (err > worst) {
            worst = err;
            where = `${at}: got ${got}, want ${want.toPrecision(8)} (tol ${tol.toPrecision(3)})`;
          }
        };
        for (let i = 0; i < rows; i++) {
          const q = ref[i]!;
          if (op === 'logSoftmax' || op === 'softmax') {
            for (let j = 0; j < cols; j++) {
              const d = q.r[j]! - q.m;
              const ls = d - Math.log(q.s);
              if (op === 'logSoftmax') check(out[i * cols + j]!, ls, 4 * EPS * (Math.abs(d) + Math.log(q.s)) + 1e-6, `[${i},${j}]`);
              else {
                const p = Math.exp(ls);
                check(out[i * cols + j]!, p, p * 8 * EPS * (2 + Math.abs(d) + Math.log(q.s)) + 1e-38, `[${i},${j}]`);
              }
            }
          } else if (op === 'logsumexp') check(out[i]!, q.lse, 4 * EPS * (Math.abs(q.m) + Math.log(q.s)) + 1e-6, `row ${i}`);
          else if (op === 'sum') check(out[i]!, q.sum, (cols + 2) * EPS * q.abs + 1e-38, `row ${i}`);
          else check(out[i]!, q.m, 1e-300, `row ${i}`);
        }
        if (worst <= 1) record(cat, id, input0, 'right', `worst error ${worst.toFixed(3)} of tolerance`);
        else record(cat, id, input0, 'wrong', `${(worst === Infinity ? 'non-finite' : worst.toExponential(2) + 'x tolerance')} at ${where}`);
      }
    }
  }
  T.setCpuKernels('fast');
}

// ---------------------------------------------------------------------------------------------------------------
// 6. interop views
// ---------------------------------------------------------------------------------------------------------------
function interop(): void {
  const cat = 'interop';
  const nd = (data: T.TypedArray, shape: number[], stride: number[], offset: number) => ndarray(data, shape, stride, offset);
  const allValues = (a: ReturnType<typeof nd>) => {
    const out: number[] = [];
    const idx = new Array(a.shape.length).fill(0);
    const total = a.shape.reduce((p: number, d: number) => p * d, 1);
    for (let k = 0; k < total; k++) {
      out.push(a.get(...idx));
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < a.shape[d]!) break;
        idx[d] = 0;
      }
    }
    return out;
  };
  const producers: [string, (x: T.Tensor) => T.Tensor][] = [
    ['mul', (x) => T.mul(x, 3)],
    ['add', (x) => T.add(x, x)],
    ['exp', (x) => T.exp(x)],
    ['matmul', (x) => T.matmul(x.reshape(x.shape[0]!, -1), T.transpose(x.reshape(x.shape[0]!, -1)))],
    ['transpose of mul', (x) => T.transpose(T.mul(x, -2))],
    ['reshape of add', (x) => T.add(x, 1).reshape(-1)],
    ['softmax', (x) => T.softmax(x, -1)],
    ['sum axis 0', (x) => T.sum(x, 0)],
    ['slice-like narrow of mul', (x) => T.mul(x, 5).reshape(-1).reshape(x.shape[0]!, -1).transpose(0, 1)],
  ];
  for (let c = 0; c < 60; c++) {
    const r = randInt(1, 120);
    const k = randInt(1, 120);
    const x = T.tensor(Float32Array.from({ length: r * k }, () => rand() * 4 - 2)).reshape(r, k);
    const [pname, produce] = pick(producers);
    const release = pick(['dispose', 'tidy', 'dispose input too', 'tidy nested'] as const);
    const mode = rand() < 0.8 ? 'fast' : 'reference';
    T.setCpuKernels(mode);
    const id = `${mode} ${pname} of ${r}x${k}, then ${release}`;
    let view: ReturnType<typeof nd> | null = null;
    let snapshot: number[] = [];
    try {
      if (release === 'dispose' || release === 'dispose input too') {
        const y = produce(x);
        view = T.toNdarray(y, nd);
        snapshot = allValues(view);
        T.dispose(y);
        if (release === 'dispose input too') T.dispose(x);
      } else {
        T.tidy(() => {
          const inner = () => {
            const y = produce(x);
            view = T.toNdarray(y, nd);
            snapshot = allValues(view);
          };
          if (release === 'tidy nested') T.tidy(inner);
          else inner();
          T.mul(T.ones([r * k]), 9); // more garbage in the same scope
        });
      }
      // Reuse the freed memory: results of the same size and others.
      const others = Array.from({ length: 6 }, (_, i) => produce(T.tensor(Float32Array.from({ length: r * k }, () => -7 - i)).reshape(r, k)));
      const after = allValues(view!);
      const changed = after.findIndex((v, i) => !Object.is(v, snapshot[i]));
      if (changed < 0) record(cat, id, id, 'right', `${after.length} values unchanged after the release and reuse`);
      else record(cat, id, id, 'wrong', `the ndarray changed at flat index ${changed}: ${snapshot[changed]} -> ${after[changed]}`);
      T.dispose(...others);
    } catch (e) {
      record(cat, id, id, 'wrong', `threw: ${msgOf(e)}`);
    }
  }
  T.setCpuKernels('fast');
}

// ---------------------------------------------------------------------------------------------------------------
// 7. divergence
// ---------------------------------------------------------------------------------------------------------------
async function divergence(): Promise<void> {
  const cat = 'divergence';
  const variants: { lr: number; warmup: number; every: number; keep: number; steps: number; seed: number; nanAt?: number }[] = [];
  for (const lr of [1e30, 1e38, 1e20, 1e15]) for (const warmup of [0, 2]) variants.push({ lr, warmup, every: randInt(1, 3), keep: randInt(1, 3), steps: 12, seed: randInt(0, 1000) });
  for (let i = 0; i < 6; i++) variants.push({ lr: 1e-2, warmup: 2, every: randInt(1, 3), keep: randInt(1, 3), steps: 12, seed: randInt(0, 1000), nanAt: randInt(1, 12) });
  for (const v of variants) {
    const dir = fs.mkdtempSync(path.join(ROOT, 'div-'));
    const id = v.nanAt ? `loss NaN from step ${v.nanAt}, ckpt every ${v.every}, keep ${v.keep}` : `lr ${v.lr}, warmup ${v.warmup}, ckpt every ${v.every}, keep ${v.keep}`;
    const make = () =>
      new Trainer({
        ...trainerOptions({ lr: v.lr, warmupSteps: v.warmup, numSteps: v.steps, seed: v.seed }),
        ...(v.nanAt ? { lossHook: (ctx: { prediction: T.Tensor; step: number }) => ctx.prediction.mul(0).sum().add(ctx.step + 1 >= v.nanAt! ? NaN : 0) } : {}),
      } as ConstructorParameters<typeof Trainer>[0]);
    let err: unknown = null;
    try {
      await runTraining(make(), { dir, ...quiet, checkpointEvery: v.every, keepLast: v.keep, warn: () => {} });
    } catch (e) {
      err = e;
    }
    // Every checkpoint left must be finite; the last good one named by the log must still be there.
    const store = checkpointStore(dir, v.keep);
    const nonFinite: string[] = [];
    for (const step of store.steps()) {
      try {
        loadLatestUsable(checkpointStore(dir), () => {});
        const ck = store.load(step);
        const { decodeSafetensors } = await import('@oclt/autograd');
        for (const [k, t] of Object.entries(decodeSafetensors(ck.payload).tensors)) if (!(t.toTypedArray() as Float32Array).every(Number.isFinite)) nonFinite.push(`step ${step} ${k}`);
      } catch (e) {
        nonFinite.push(`step ${step} unreadable: ${msgOf(e)}`);
      }
    }
    const events = fs.existsSync(path.join(dir, 'train.jsonl')) ? fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
    const last = events.at(-1);
    const good = last?.lastGoodCheckpoint;
    const goodKept = good === null || good === undefined || store.steps().includes(good);
    if (nonFinite.length) record(cat, id, id, 'lost', `non-finite checkpoint written: ${nonFinite.join('; ')}`);
    else if (!goodKept) record(cat, id, id, 'lost', `the log names checkpoint ${good} as the last good one but it is gone (left: ${store.steps().join(', ')})`);
    else if (!err) record(cat, id, id, v.lr >= 1e15 || v.nanAt ? 'wrong' : 'right', `finished without an error (steps kept ${store.steps().join(', ')})`);
    else {
      const m = (err as Error).message;
      const named = err instanceof NonFiniteError && /(NaN|Infinity|-Infinity) at step \d+/.test(m) && typeof (err as NonFiniteError).quantity === 'string' && m.includes(String((err as NonFiniteError).quantity)) && last?.event === 'diverged';
      record(cat, id, id, named ? 'clear error' : 'wrong', `${m.slice(0, 160)}; kept ${store.steps().join(', ') || 'none'}; last event ${last?.event}`);
    }
    // Resume: stops again, keeps the good checkpoints.
    if (err) {
      const before = store.steps().join();
      let again: unknown = null;
      try {
        await runTraining(make(), { dir, ...quiet, checkpointEvery: v.every, keepLast: v.keep, warn: () => {} });
      } catch (e) {
        again = e;
      }
      const rid = `${id} / resumed`;
      const after = store.steps().join();
      if (before !== after) record(cat, rid, rid, 'lost', `checkpoints ${before} became ${after}`);
      else record(cat, rid, rid, again instanceof NonFiniteError ? 'clear error' : 'wrong', again ? (again as Error).message.slice(0, 160) : 'resume finished without an error');
    }
  }
  // Configs that cannot train: refused up front naming lr.
  for (const lr of [NaN, Infinity, -Infinity, -1, -1e-30]) {
    const id = `Trainer lr ${lr}`;
    try {
      new Trainer(trainerOptions({ lr }));
      record(cat, id, id, 'wrong', 'accepted');
    } catch (e) {
      record(cat, id, id, /\blr\b/.test((e as Error).message) ? 'clear error' : 'wrong', msgOf(e).slice(0, 160));
    }
  }
  // saveTrainerCheckpoint refuses a trainer whose weights hold NaN (nothing written).
  {
    const dir = fs.mkdtempSync(path.join(ROOT, 'div-save-'));
    const t = new Trainer(trainerOptions());
    t.step();
    (t.optimizer.params[0]!.dataSync() as Float32Array)[0] = NaN;
    const store = checkpointStore(dir);
    const id = 'saveTrainerCheckpoint with a NaN weight';
    try {
      saveTrainerCheckpoint(t, store);
      record(cat, id, id, 'lost', `wrote ${store.steps().join(', ')}`);
    } catch (e) {
      record(cat, id, id, store.steps().length === 0 && /non-finite/.test((e as Error).message) ? 'clear error' : 'wrong', msgOf(e).slice(0, 160));
    }
  }
}

/** Things counted as 'clear error' that still deserve a look (found by their details). */
function observations(): string[] {
  const notes: string[] = [];
  const by = (f: (r: CaseResult) => boolean) => results.filter(f);
  const study = by((r) => r.category === 'cli-flags' && /^oclt study: oclt study /.test(r.detail));
  if (study.length) notes.push(`- cli-flags: ${study.length} \`oclt study <sub>\` refusals repeat the prefix ("${study[0]!.detail.slice(0, 60)}..."); the flag is named, so they count as clear errors, but the prefix is not single as it is for the other commands.`);
  const late = by((r) => r.category === 'checkpoints' && /loaded without a word, then resuming threw/.test(r.detail));
  if (late.length) notes.push(`- checkpoints: ${late.length} damaged manifests pass \`loadLatestUsable\` and are refused only when the trainer restores them (${late.map((r) => r.id).join('; ')}): the error names the manifest, but the run stops instead of falling back to checkpoint 2.`);
  const eisdir = by((r) => r.category === 'checkpoints' && /EISDIR/.test(r.detail));
  if (eisdir.length) notes.push(`- checkpoints: ${eisdir.length} resumes stop with Node's raw EISDIR error when a directory sits where the next checkpoint file goes (${eisdir.map((r) => r.id).join('; ')}); the path is named and nothing is lost.`);
  return notes.length ? ['Observations (counted as clear errors, worth a look):', '', ...notes, ''] : [];
}

// ---------------------------------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const machine = machineInfo();
  const t00 = performance.now();
  const run = async (name: string, f: () => void | Promise<void>) => {
    const t0 = performance.now();
    progress(`[hostile-probe] ${name} ...`);
    try {
      await f();
    } catch (e) {
      unsilence();
      process.chdir(origCwd);
      record(name, 'probe crashed', name, 'wrong', `the probe itself stopped in this category: ${(e as Error).stack?.slice(0, 300)}`);
    }
    timings[name] = Math.round((performance.now() - t0) / 100) / 10;
    progress(`[hostile-probe] ${name}: ${results.filter((r) => r.category === name).length} cases, ${timings[name]} s`);
  };
  await run('cli-flags', cliFlags);
  await run('safetensors', safetensorsFiles);
  await run('checkpoints', checkpointManifests);
  await run('casts', casts);
  await run('reductions', reductions);
  await run('interop', interop);
  await run('divergence', divergence);
  fs.rmSync(ROOT, { recursive: true, force: true });
  const totalS = Math.round((performance.now() - t00) / 100) / 10;

  const cats = [...new Set(results.map((r) => r.category))];
  const count = (c: string | null, o: Outcome) => results.filter((r) => (c === null || r.category === c) && r.outcome === o).length;
  const row = (c: string | null) => [c ?? '**all**', results.filter((r) => c === null || r.category === c).length, count(c, 'right'), count(c, 'clear error'), count(c, 'wrong'), count(c, 'lost'), c ? timings[c] : totalS];
  const table = ['| category | tried | right | clear error | wrong | lost | seconds |', '|---|---:|---:|---:|---:|---:|---:|', ...[...cats, null].map((c) => `| ${row(c).join(' | ')} |`)].join('\n');
  const bad = results.filter((r) => r.outcome === 'wrong' || r.outcome === 'lost');
  const md = [
    '# hostile-probe (issue 20)',
    '',
    'A seeded fuzz run of hostile inputs through the public APIs: CLI flags (`main` in-process), safetensors files',
    '(`loadSafetensorsSync`), checkpoint manifests (`loadLatestUsable` / `runTraining` resume), int32 casts, large-magnitude',
    'reductions (fast and reference kernels against float64), `toNdarray` views after `dispose`/`tidy`, and diverging',
    '`Trainer` runs. Outcomes: **right** (correct result), **clear error** (an Error naming the flag / file / field / op /',
    'value, checked by a per-case regex; correct refusals count here), **wrong** (silently incorrect, or an error naming',
    'nothing), **lost** (a good file destroyed or a non-finite checkpoint written).',
    '',
    `Rerun: \`node --conditions=source --import tsx bench/src/hostile-probe.ts --seed ${SEED}\` (writes this file and \`${path.basename(JSON_OUT)}\`). A standalone script: the bench CLI's suite table (\`bench/src/suites/index.ts\`) holds timing suites, not this.`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Node ${machine.node}, ${machine.platform}, ${machine.date}; seed ${SEED}; ${totalS} s in all.`,
    '',
    table,
    '',
    bad.length === 0 ? '**No case was classified wrong or lost.**' : `**${bad.length} case(s) classified wrong or lost:**`,
    '',
    ...bad.map((r) => `- [${r.category}] **${r.outcome}**: ${r.id}: ${r.detail.replace(/\n/g, ' ')}`),
    '',
    ...observations(),
    'Every case with its outcome and detail is in the JSON file.',
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(MD), { recursive: true });
  fs.writeFileSync(MD, md);
  // One case a line: the file stays diffable without the indentation of ~4,500 objects.
  const head = JSON.stringify({ machine, seed: SEED, seconds: totalS, timings, counts: Object.fromEntries(cats.map((c) => [c, { tried: row(c)[1], right: row(c)[2], clearError: row(c)[3], wrong: row(c)[4], lost: row(c)[5] }])) }, null, 1);
  fs.writeFileSync(JSON_OUT, `${head.slice(0, -2)},\n "cases": [\n${results.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n ]\n}\n`);
  process.stdout.write(`${table}\n\n${bad.map((r) => `[${r.category}] ${r.outcome}: ${r.id}: ${r.detail}`).join('\n')}\nwrote ${MD} and ${JSON_OUT}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    unsilence();
    console.error(e);
    process.exit(1);
  },
);
