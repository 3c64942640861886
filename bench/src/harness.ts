/**
 * The benchmark harness: one row schema for every suite, interleaved timing, medians, machine description.
 *
 * Honest measurement on a noisy 2-core machine: contenders run in rounds (A, B, C, A, B, C, ...) so that a slow
 * phase of the machine hits all of them alike; each is warmed up first (WebAssembly starts in a baseline compiler);
 * we report medians and ratios from one process run, never a single absolute time.
 */
import os from 'node:os';

export interface BenchRow {
  case: string;
  impl: string;
  median_ms: number;
  gflops?: number;
  [extra: string]: unknown;
}

export interface SuiteOptions {
  quick: boolean;
  /** Only these cases / impls (`--cases a,b`, `--impls x,y`); suites that time several contenders honour them. */
  cases?: readonly string[];
  impls?: readonly string[];
  /** `--profile`: suites that support it also print a `profile()` table (by kind, by phase, top entries) per case. */
  profile?: boolean;
  /** `--rounds N`: timed rounds for suites that honour it (train-step), instead of their default. */
  rounds?: number;
}

/** Whether a contender passes the `--cases` / `--impls` filters. */
export function selected(opts: SuiteOptions, c: { case: string; impl: string }): boolean {
  return (!opts.cases || opts.cases.includes(c.case)) && (!opts.impls || opts.impls.includes(c.impl));
}

export interface Suite {
  name: string;
  description: string;
  run(opts: SuiteOptions): Promise<BenchRow[]>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_gib: number;
  node: string;
  platform: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One contender: `run` does the work once (sync or async). `flops` lets the harness report GFLOP/s. */
export interface Contender {
  case: string;
  impl: string;
  flops?: number;
  /** Called once before timing (compile, allocate, warm up). */
  setup?: () => unknown | Promise<unknown>;
  run: () => unknown | Promise<unknown>;
  /** Called once after timing (free native/device memory). */
  teardown?: () => unknown | Promise<unknown>;
}

/**
 * Times contenders interleaved in rounds and returns one row per contender with the median.
 * Each contender is warmed up `warmup` times, then timed once per round for `rounds` rounds, `settleMs` after
 * the previous timed run. With `burstMs`, a timed sample is a burst of back-to-back calls lasting about that long
 * (the call count fixed per contender from its warm-up), divided by the count, as timeit does: what is measured is
 * a call in a loop. A lone call after an idle pause first has to wake worker threads (ours, or a native pool's),
 * and on this VM an idle vCPU takes milliseconds to come back, a cost no loop pays.
 */
export async function interleave(contenders: readonly Contender[], opts: { rounds: number; warmup?: number; settleMs?: number; burstMs?: number }): Promise<BenchRow[]> {
  const warmup = opts.warmup ?? 2;
  // A pause before each timed run lets the previous contender's background work (V8's concurrent GC after a
  // large allocation, a native pool's spinning threads) finish instead of being billed to the next one.
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, opts.settleMs ?? 0));
  const live: Contender[] = [];
  const calls = new Map<Contender, number>();
  for (const c of contenders) {
    try {
      await c.setup?.();
      for (let i = 0; i < warmup; i++) await c.run();
      if (opts.burstMs) {
        const t0 = performance.now();
        await c.run();
        calls.set(c, Math.max(1, Math.round(opts.burstMs / Math.max(performance.now() - t0, 1e-3))));
      }
      live.push(c);
    } catch (err) {
      console.error(`[bench] ${c.case}/${c.impl} skipped: ${(err as Error).message}`);
    }
  }
  const times = new Map<Contender, number[]>(live.map((c) => [c, []]));
  for (let r = 0; r < opts.rounds; r++) {
    for (const c of live) {
      if (opts.settleMs) await settle();
      const k = calls.get(c) ?? 1;
      const t0 = performance.now();
      for (let i = 0; i < k; i++) await c.run();
      times.get(c)!.push((performance.now() - t0) / k);
    }
  }
  for (const c of live) await c.teardown?.();
  return live.map((c) => {
    const ms = median(times.get(c)!);
    const row: BenchRow = { case: c.case, impl: c.impl, median_ms: round(ms, 4) };
    if (opts.burstMs) row.calls_per_sample = calls.get(c)!;
    if (c.flops) row.gflops = round(c.flops / (ms * 1e6), 3);
    return row;
  });
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A Markdown table of rows; columns are the union of keys in first-seen order. */
export function markdownTable(rows: readonly BenchRow[]): string {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cell = (v: unknown) => (v === undefined ? '' : typeof v === 'number' ? String(v) : typeof v === 'string' ? v : JSON.stringify(v));
  return [`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`)].join('\n');
}
