/**
 * Hostile sizes, limits and loops for the tensor engine (issue 20 items 4 and 5): each input must end with the right
 * answer or a clear error (naming the op or the setting, and the shape or value), never a wrong answer or lost
 * data. The counts (tried / right / clear error / unclear error / wrong / lost) per category are printed at the end
 * and asserted: unclear, wrong and lost must be 0.
 *
 * Categories:
 * - impossible sizes: creation ops and broadcasts / products whose result cannot exist (beyond V8's largest typed
 *   array, beyond 2^53 elements, invalid dimensions);
 * - does not fit: ops on tensors that do not fit in the fast kernels' memory (lowered with
 *   setKernelHeapCeilingForTests), random sizes and ceilings, against the reference kernels run without a ceiling;
 * - OCLT_CPU_HEAP_MB: random and hostile strings through the parser the environment goes through;
 * - cpuResultLimit: random and hostile values;
 * - loop without tidy: random exact ops keeping random results alive, a small result bound, event-loop turns and
 *   forced collections (the FinalizationRegistry backstop frees unreachable results): a live result that changes
 *   afterwards is lost data.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import * as T from './index.js';
import { fallbackCounts, parseHeapMb, setKernelHeapCeilingForTests } from './backends/cpu/wasm/index.js';
import { rearmResultsFullWarning, resultsFullWarning } from './backends/cpu/wasm/runtime.js';
import { fmtShape } from './shape.js';
import { nodeCollector } from './backends/cpu/wasm/pool-node.js';

interface Counts {
  tried: number;
  right: number;
  clear: number;
  unclear: number;
  wrong: number;
  lost: number;
}
const counts = new Map<string, Counts>();
const problems: string[] = [];
function tally(category: string, outcome: Exclude<keyof Counts, 'tried'>, detail?: string): void {
  let c = counts.get(category);
  if (!c) counts.set(category, (c = { tried: 0, right: 0, clear: 0, unclear: 0, wrong: 0, lost: 0 }));
  c.tried++;
  c[outcome]++;
  if (outcome === 'unclear' || outcome === 'wrong' || outcome === 'lost') problems.push(`${category}: ${outcome}: ${detail}`);
}

afterAll(() => {
  const rows = [...counts].map(([k, c]) => `| ${k} | ${c.tried} | ${c.right} | ${c.clear} | ${c.unclear} | ${c.wrong} | ${c.lost} |`);
  console.log(['| category | tried | right answer | clear error | unclear error | wrong | lost |', '|---|---:|---:|---:|---:|---:|---:|', ...rows].join('\n'));
});
afterEach(() => {
  setKernelHeapCeilingForTests(null);
  T.cpuResultLimit(1024 * 2 ** 20);
  T.setCpuKernels('fast');
  vi.restoreAllMocks();
});

/** A small deterministic generator (the cases are the same on every run; the seed can be changed to explore). */
function lcg(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <X>(xs: readonly X[]) => xs[Math.floor(next() * xs.length)]! };
}

/** A full collection (V8's gc, exposed at run time where the process was not started with --expose-gc). */
const forceGc = (): void => nodeCollector()!();
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Runs `fn`, which must throw: a TensorError / RangeError whose message starts with `op:` and contains every `needle` is clear. */
function expectClear(category: string, what: string, fn: () => unknown, op: string, needles: string[]): void {
  let err: unknown = null;
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    err = e;
  }
  if (err === null) {
    tally(category, 'wrong', `${what}: no error (got ${String(result)})`);
    return;
  }
  const msg = (err as Error).message ?? String(err);
  const clear = msg.startsWith(`${op}:`) && needles.every((n) => msg.includes(n));
  tally(category, clear ? 'clear' : 'unclear', `${what}: ${msg.slice(0, 200)}`);
}

describe('hostile sizes (item 4)', () => {
  it('impossible sizes: every one is refused, naming the op and the shape', () => {
    const start = problems.length;
    const cat = 'item 4: impossible sizes';
    const g = new T.Generator(0);
    const creators: [string, (s: number[]) => unknown][] = [
      ['zeros', (s) => T.zeros(s)],
      ['full', (s) => T.ones(s)],
      ['full', (s) => T.full(s, 2.5, 'float64')],
      ['randn', (s) => T.randn(s, g)],
      ['rand', (s) => T.rand(s, g)],
      ['randint', (s) => T.randint(0, 5, s, g)],
    ];
    const huge = [[2 ** 33], [2 ** 32 + 1], [2 ** 17, 2 ** 17], [2 ** 27, 2 ** 27], [2 ** 40, 2 ** 20], [Number.MAX_SAFE_INTEGER], [2 ** 53], [3, 2 ** 52], [2 ** 20, 2 ** 20, 2 ** 20], [1e300], [2 ** 31, 2 ** 31, 0, 5].filter((d) => d !== 0)];
    for (const [op, make] of creators) {
      for (const s of huge) expectClear(cat, `${op}(${fmtShape(s)})`, () => make(s), op, [fmtShape(s)]);
      for (const s of [[-1], [2, -3], [1.5], [NaN], [Infinity], [2, -Infinity]]) {
        expectClear(cat, `${op}(${fmtShape(s)})`, () => make(s), op, [`invalid dimension ${s.find((d) => !Number.isInteger(d) || d < 0)}`]);
      }
    }
    expectClear(cat, 'eye(2^27)', () => T.eye(2 ** 27), 'eye', ['[134217728, 134217728]']);
    expectClear(cat, 'eye(2^33, 1)', () => T.eye(2 ** 33, 1), 'eye', ['[8589934592, 1]']);
    // Broadcasts and products whose result is beyond the largest typed array: the op and both input shapes named.
    const binaries: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor][] = [
      ['add', (a, b) => a.add(b)],
      ['mul', (a, b) => a.mul(b)],
      ['sub', (a, b) => a.sub(b)],
      ['div', (a, b) => a.div(b)],
    ];
    for (const mode of ['fast', 'reference'] as const) {
      T.setCpuKernels(mode);
      for (const [p, q] of [[17, 17], [16, 18], [20, 14], [12, 22]] as const) {
        const a = T.zeros([2 ** p, 1]);
        const b = T.zeros([1, 2 ** q]);
        for (const [op, f] of binaries) expectClear(cat, `${mode} ${op} [2^${p},1] x [1,2^${q}]`, () => f(a, b), op, [fmtShape(a.shape), fmtShape(b.shape), `[${2 ** p}, ${2 ** q}]`]);
        expectClear(cat, `${mode} matmul [2^${p},1] @ [1,2^${q}]`, () => T.matmul(a, b), 'matmul', [fmtShape(a.shape), fmtShape(b.shape), `[${2 ** p}, ${2 ** q}]`]);
      }
    }
    expect(problems.slice(start)).toEqual([]);
  });

  it('does not fit: random ops under random lowered ceilings give the reference kernels answer', () => {
    const start = problems.length;
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    const cat = 'item 4: does not fit in kernel memory';
    const r = lcg(20);
    const ops: [string, (x: T.Tensor, y: T.Tensor) => T.Tensor, (n: number, m: number) => [number[], number[]]][] = [
      ['add', (x, y) => x.add(y), (n, m) => [[n, m], [n, m]]],
      ['add broadcast', (x, y) => x.add(y), (n, m) => [[n, m], [m]]],
      ['mul scalar', (x) => x.mul(3), (n, m) => [[n, m], [1]]],
      ['sub of a transposed view', (x) => x.transpose().sub(1), (n, m) => [[n, m], [1]]],
      ['exp', (x) => x.exp(), (n, m) => [[n, m], [1]]],
      ['silu', (x) => x.silu(), (n, m) => [[n, m], [1]]],
      ['sum', (x) => x.sum(), (n, m) => [[n, m], [1]]],
      ['sum axis 0', (x) => x.sum(0), (n, m) => [[n, m], [1]]],
      ['sum axis 1', (x) => x.sum(1), (n, m) => [[n, m], [1]]],
      ['max axis 1', (x) => x.max(1), (n, m) => [[n, m], [1]]],
      ['softmax', (x) => x.softmax(-1), (n, m) => [[n, m], [1]]],
      ['logSoftmax', (x) => x.logSoftmax(-1), (n, m) => [[n, m], [1]]],
      ['matmul', (x, y) => T.matmul(x, y), (n, m) => [[n, m], [m, r.int(1, 300)]]],
      ['outer product', (x, y) => T.matmul(x, y), (n) => [[n, 1], [1, r.int(200, 2000)]]],
    ];
    const ceilings = [64 * 1024, 256 * 1024, 2 ** 20, 4 * 2 ** 20, 16 * 2 ** 20];
    let fellBack = 0;
    for (let i = 0; i < 140; i++) {
      const [name, f, shapes] = ops[i % ops.length]!;
      const n = r.int(8, 700);
      const m = r.int(8, 700);
      const [sx, sy] = shapes(n, m);
      const mk = (s: number[]) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => r.next() * 6 - 3);
      const xs = mk(sx!);
      const ys = mk(sy!);
      const inHeap = r.next() < 0.5;
      const ceiling = r.pick(ceilings);
      const what = `${name} ${fmtShape(sx!)} ${fmtShape(sy!)} ceiling ${ceiling} ${inHeap ? 'heap' : 'ordinary'} inputs`;
      T.setCpuKernels('reference');
      const ref = f(T.fromTypedArray(xs, sx), T.fromTypedArray(ys, sy)).toTypedArray();
      // A product accumulates k terms in float32 on the fast kernels: |error| <= k 2^-24 (|X| |Y|)_ij (the standard
      // bound of a dot product), computed from |X| |Y| on the reference kernels; doubled for the reference's own
      // final rounding (it accumulates in float64) and as margin.
      const k = sx![1]!;
      const absProduct = name.includes('matmul') || name.includes('outer') ? T.matmul(T.fromTypedArray(xs, sx).abs(), T.fromTypedArray(ys, sy).abs()).toTypedArray() : null;
      T.setCpuKernels('fast');
      const x = inHeap ? T.tensor(xs).reshape(sx!) : T.fromTypedArray(xs.slice(), sx);
      const y = inHeap ? T.tensor(ys).reshape(sy!) : T.fromTypedArray(ys.slice(), sy);
      const before = fallbackCounts.estimate + fallbackCounts.backstop;
      setKernelHeapCeilingForTests(ceiling);
      let got: ArrayLike<number>;
      try {
        const out = f(x, y);
        got = out.toTypedArray();
        T.dispose(out);
      } catch (e) {
        tally(cat, 'wrong', `${what}: threw ${(e as Error).message}`);
        continue;
      } finally {
        setKernelHeapCeilingForTests(null);
        T.dispose(x, y);
      }
      const fell = fallbackCounts.estimate + fallbackCounts.backstop > before;
      if (fell) fellBack++;
      // The fallback runs the reference kernels: bit for bit their answer. An op that still fit ran on the fast
      // kernels, whose documented agreement with the reference is a few float32 ulp (sums: float64 in another
      // order; exp: a polynomial); 1e-5 relative + 1e-6 catches garbage (freed or foreign memory) with margin.
      let bad = got.length !== ref.length ? 1 : 0;
      const c = k;
      for (let j = 0; j < got.length && !bad; j++) {
        const a = got[j]!;
        const b = ref[j]!;
        const tol = absProduct ? 2 * c * 2 ** -24 * absProduct[j]! + 1e-6 : 1e-5 * Math.abs(b) + 1e-6;
        if (fell ? !Object.is(a, b) : !(Math.abs(a - b) <= tol)) bad = j + 1;
      }
      tally(cat, bad ? 'wrong' : 'right', `${what}: element ${bad - 1} ${got[bad - 1]} vs ${ref[bad - 1]} (fell back: ${fell})`);
    }
    // The cases are not all trivially on one path: both the fallback and the fast kernels were exercised.
    expect(fellBack).toBeGreaterThan(20);
    expect(fellBack).toBeLessThan(140);
    expect(problems.slice(start)).toEqual([]);
  });

  it('OCLT_CPU_HEAP_MB: random and hostile strings are either a plain MiB count in (0, 2048] or refused naming it', () => {
    const start = problems.length;
    const cat = 'item 4: OCLT_CPU_HEAP_MB values';
    const r = lcg(4);
    const alphabet = '0123456789 .-+eExXabc,_\t\n';
    const inputs = ['abc', '0', '-1', '4096', '2049', '2048', '2048.0000001', '1', '0.5', '1e3', '0x10', '0b1', 'Infinity', '-Infinity', 'NaN', '12MB', '1,5', ' 64 ', '+64', '064', '.5', '5.', '1_000', '\u0661\u0662', '٣', '  ', '9'.repeat(400), '0.0000001', '1e-300'];
    for (let i = 0; i < 300; i++) inputs.push(Array.from({ length: r.int(1, 7) }, () => r.pick([...alphabet])).join(''));
    for (const raw of inputs) {
      // The oracle, written apart from the parser: ASCII digits with an optional fraction, surrounding blanks, a
      // value in (0, 2048] MiB. Empty or blank strings mean "unset" (the default).
      const t = raw.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
      const plain = /^[0-9]+(\.[0-9]+)?$/.test(t);
      const valid = t === '' || (plain && Number(t) > 0 && Number(t) <= 2048);
      let got: number | Error;
      try {
        got = parseHeapMb(raw);
      } catch (e) {
        got = e as Error;
      }
      if (got instanceof Error) {
        const clear = got.message.startsWith('OCLT_CPU_HEAP_MB:') && got.message.includes(JSON.stringify(raw));
        if (valid) tally(cat, 'wrong', `${JSON.stringify(raw)} refused: ${got.message}`);
        else tally(cat, clear ? 'clear' : 'unclear', `${JSON.stringify(raw)}: ${got.message}`);
      } else {
        const want = t === '' ? 1024 * 2 ** 20 : Math.floor(Number(t) * 2 ** 20);
        tally(cat, valid && got === want ? 'right' : 'wrong', `${JSON.stringify(raw)} accepted as ${got} bytes`);
      }
    }
    expect(problems.slice(start)).toEqual([]);
  });

  it('cpuResultLimit: random and hostile values are either a whole byte count in (0, 2 GiB] or refused naming it', () => {
    const start = problems.length;
    const cat = 'item 4: cpuResultLimit values';
    const r = lcg(5);
    const values: unknown[] = [0, -0, -1, 1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 31 + 1, 2 ** 32, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, '1024', '', null, true, [], {}, [1024], 5n, Symbol('x')];
    for (let i = 0; i < 200; i++) values.push(r.pick([() => r.int(-100, 2 ** 31 + 100), () => r.next() * 2 ** 33 - 2 ** 32, () => 2 ** r.int(0, 40), () => r.int(0, 2 ** 31) + r.pick([0, 0.5, 1e-9])])());
    for (const v of values) {
      const valid = typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 2 ** 31;
      let got: number | Error;
      try {
        got = T.cpuResultLimit(v as number);
      } catch (e) {
        got = e as Error;
      }
      const what = typeof v === 'symbol' ? v.toString() : typeof v === 'bigint' ? `${v}n` : JSON.stringify(v) ?? String(v);
      if (got instanceof Error) {
        if (valid) tally(cat, 'wrong', `${what} refused: ${got.message}`);
        else tally(cat, got.message.startsWith('cpuResultLimit:') && / got /.test(got.message) ? 'clear' : 'unclear', `${what}: ${got.message}`);
      } else {
        tally(cat, valid && got === v ? 'right' : 'wrong', `${what} accepted as ${got}`);
      }
      T.cpuResultLimit(1024 * 2 ** 20);
    }
    expect(problems.slice(start)).toEqual([]);
  });
});

describe('a loop without tidy (item 5)', () => {
  it('random exact ops, results kept or dropped, a small bound, turns and collections: no live result changes, every value right', async () => {
    const start = problems.length;
    if (!T.cpuKernelsInfo().startsWith('cpu:wasm')) return;
    const cat = 'item 5: loop without tidy';
    const r = lcg(55);
    rearmResultsFullWarning();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    T.cpuResultLimit(2 * 2 ** 20); // 2 MiB: filled after a few dozen kept results, so heap and ordinary results mix
    // Live tensors with the values they must keep (a copy made when each was checked right).
    let live: { t: T.Tensor; want: Float32Array; what: string }[] = [];
    const n = () => r.pick([2048, 4096, 10_000, 30_000, 65_536]);
    const fresh = (len: number) => Float32Array.from({ length: len }, () => Math.round(r.next() * 64 - 32) / 4);
    for (let i = 0; i < 400; i++) {
      const src = live.length > 0 && r.next() < 0.7 ? r.pick(live) : null;
      const a = src ?? { t: T.tensor(fresh(n())), want: new Float32Array(0), what: 'input' };
      if (!src) a.want = a.t.toTypedArray().slice() as Float32Array;
      const len = a.want.length;
      const b = fresh(len);
      const k = r.int(-3, 3);
      // Exact in float64, then rounded once: what a correctly rounded float32 op gives.
      const kinds: [string, () => T.Tensor, (x: number, j: number) => number][] = [
        ['add', () => a.t.add(T.fromTypedArray(b)), (x, j) => x + b[j]!],
        ['sub', () => a.t.sub(T.tensor(b)), (x, j) => x - b[j]!],
        ['mul', () => a.t.mul(k), (x) => x * k],
        ['mul tensor', () => a.t.mul(T.fromTypedArray(b)), (x, j) => x * b[j]!],
        ['neg', () => a.t.neg(), (x) => -x],
        ['maximum', () => T.maximum(a.t, T.fromTypedArray(b)), (x, j) => Math.max(x, b[j]!)],
      ];
      const [name, run, oracle] = r.pick(kinds);
      const what = `step ${i} ${name} of ${len}`;
      const out = run();
      const got = out.toTypedArray();
      let bad = -1;
      // Equal values (+0 and -0 equal: the sign of max(-0, +0) is not specified by IEEE 754 or by us).
      for (let j = 0; j < len && bad < 0; j++) if (got[j] !== Math.fround(oracle(a.want[j]!, j))) bad = j;
      tally(cat, bad < 0 ? 'right' : 'wrong', `${what}: element ${bad} ${got[bad]} vs ${Math.fround(oracle(a.want[bad]!, bad))}`);
      // Keep about half of the results (referenced: must survive everything), drop the rest (the collector's).
      if (r.next() < 0.5) live.push({ t: out, want: got.slice() as Float32Array, what });
      if (live.length > 60) live = live.filter(() => r.next() < 0.7);
      if (i % 25 === 24) {
        await turn();
        if (i % 100 === 99) forceGc();
        await turn();
        for (const l of live) {
          const now = l.t.toTypedArray();
          let changed = now.length !== l.want.length;
          for (let j = 0; j < now.length && !changed; j++) changed = !Object.is(now[j], l.want[j]);
          tally('item 5: kept results rechecked after turns and collections', changed ? 'lost' : 'right', `${l.what}: changed by step ${i}`);
        }
      }
    }
    // And the memory of the dropped results came back (the FinalizationRegistry backstop) while the kept ones stayed.
    live = [];
    forceGc();
    await turn();
    await turn();
    expect(T.cpuMemoryInfo().resultBytes).toBeLessThan(2 ** 20);
    expect(warn.mock.calls.filter((c) => c[0] === resultsFullWarning).length).toBeLessThanOrEqual(1);
    expect(problems.slice(start)).toEqual([]);
  }, 120_000);
});
