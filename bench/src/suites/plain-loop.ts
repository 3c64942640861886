/**
 * plain-loop (issue 20 item 5): the 300-step MLP training loop a user would write, PyTorch style, without `tidy` or
 * `dispose` ('plain'); the same as it ran at commit 8231063 ('plain-before': the kernels' memory grown by exactly
 * what each result needs, no collection hint; 'plain-grow-exact' and 'plain-no-hint' undo one change each, on
 * request with --impls); the same loop with each step in a `tidy` ('tidy'); and the plain loop
 * yielding to the event loop once per step, as a loop with an `await` of a timer or of I/O does ('plain-yield').
 * Per 50-step window: milliseconds per step (median over the rounds) and the bytes of live results in the fast
 * kernels' memory at the window's end; CPU time per step (all threads), memory.grow calls, and after the run
 * those bytes at once, after one turn of the event loop, and after a full garbage collection and a turn (is the
 * memory ever returned?), and whether the one-time "results fill the kernels' memory" warning fired.
 *
 * The model is `oclt train --model mlp` at its defaults: MLPDenoiser 784 -> 512 x 3 residual layers, 10 classes,
 * batch 64, AdamW lr 1e-3, epsilon prediction on a linear-beta schedule of 1000 steps, random images in [-1, 1].
 * Every run is a fresh child process (empty kernel memory, nothing grown or compiled: what a user's script
 * meets; the memory never shrinks, so a second run in one process would not show the growth), and the variants
 * run in rounds (plain, plain-grow-exact, tidy, plain-yield, plain, ...) so a slow phase of the machine hits all.
 *
 * Case `kernel-wrapper` (issue 20 item 4): the cost of the registry's `namedKernel` wrapper (backend.ts), which
 * turns an allocation failure into an error naming the op: `a.add(b)` of two 16-element tensors, many calls,
 * with the table entry as registered (wrapped) and with the bare reference kernel put in its place, interleaved.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AdamW, mseLoss } from '@oclt/autograd';
import { linearBetas, MLPDenoiser } from '@oclt/diffusion';
import * as T from '@oclt/tensor';
import { referenceKernels } from '../../../packages/tensor/src/backends/cpu/index.js';
import { collectionHints } from '../../../packages/tensor/src/backends/cpu/wasm/index.js';
import { memoryGrowth, rearmResultsFullWarning, resultsFullWarning } from '../../../packages/tensor/src/backends/cpu/wasm/runtime.js';
import { median, round, selected, type BenchRow, type Suite } from '../harness.js';
import { nodeCollector } from '../../../packages/tensor/src/backends/cpu/wasm/pool-node.js';

/** A full collection (V8's gc, exposed at run time where the process was not started with --expose-gc). */
const forceGc = (): void => nodeCollector()!();
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const mib = (bytes: number) => round(bytes / 2 ** 20, 1);

type Variant = 'plain' | 'plain-before' | 'plain-grow-exact' | 'plain-no-hint' | 'tidy' | 'plain-yield';
const STEPS = 300;
const WINDOW = 50;

interface RunResult {
  windowMs: number[];
  /** CPU time (all threads) per step over the run. */
  cpuMsPerStep: number;
  /** memory.grow calls of the kernels' memory during the run, and its size at the end. */
  grows: number;
  memoryBytes: number;
  windowResultBytes: number[];
  peakResultBytes: number;
  afterLoop: number;
  afterTurn: number;
  /** After 3 turns of 10 ms, still without a forced collection. */
  afterTurns3: number;
  afterGc: number;
  warned: boolean;
  loss: number;
}

/** One 300-step run from a fresh model and optimizer. */
async function runLoop(variant: Variant, steps: number): Promise<RunResult> {
  const batch = 64;
  const dim = 784;
  const gen = new T.Generator(1);
  const model = new MLPDenoiser({ dataDim: dim, hidden: 512, numLayers: 3, numClasses: 10, seed: 0 });
  const opt = new AdamW(model.namedParameters(), { lr: 1e-3 });
  const betas = linearBetas(1000);
  const abar = new Float64Array(1000);
  for (let t = 0, p = 1; t < 1000; t++) abar[t] = p *= 1 - betas[t]!;
  let warned = false;
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (args[0] === resultsFullWarning) warned = true;
    else warn(...args);
  };
  rearmResultsFullWarning();
  const windowMs: number[] = [];
  const windowResultBytes: number[] = [];
  let loss = NaN;
  const step = (): number => {
    // What a user writes: a batch, noise, a noised input, the loss, backward, an optimizer step.
    const x0 = T.rand([batch, dim], gen, 'float32', -1, 1);
    const t = T.randint(0, 1000, [batch], gen);
    const labels = T.randint(0, 10, [batch], gen);
    const ts = t.toTypedArray();
    const a = T.tensor(Float32Array.from(ts, (k) => Math.sqrt(abar[k]!))).reshape([batch, 1]);
    const s = T.tensor(Float32Array.from(ts, (k) => Math.sqrt(1 - abar[k]!))).reshape([batch, 1]);
    const noise = T.randn([batch, dim], gen);
    const xt = x0.mul(a).add(noise.mul(s));
    const l = mseLoss(model.forward(xt, t, labels), noise);
    opt.zeroGrad();
    l.backward();
    opt.step();
    return l.item();
  };
  // plain-before: as at commit 8231063 (memory grown by exactly what each result needs, no collection hint).
  memoryGrowth.ahead = variant !== 'plain-grow-exact' && variant !== 'plain-before';
  collectionHints.enabled = variant !== 'plain-no-hint' && variant !== 'plain-before';
  const memoryProto = (globalThis as unknown as { WebAssembly: { Memory: { prototype: { grow(delta: number): number } } } }).WebAssembly.Memory.prototype;
  const grow = memoryProto.grow;
  let grows = 0;
  memoryProto.grow = function (this: unknown, delta: number) {
    grows++;
    return grow.call(this, delta);
  };
  const cpu0 = process.cpuUsage();
  try {
    let t0 = performance.now();
    for (let i = 1; i <= steps; i++) {
      loss = variant === 'tidy' ? T.tidy(step) : step();
      if (variant === 'plain-yield') await turn();
      if (i % WINDOW === 0) {
        const now = performance.now();
        windowMs.push((now - t0) / WINDOW);
        windowResultBytes.push(T.cpuMemoryInfo().resultBytes);
        t0 = performance.now();
      }
    }
  } finally {
    console.warn = warn;
    memoryProto.grow = grow;
    memoryGrowth.ahead = true;
  }
  // (The collection hint stays as the variant set it: what happens after the loop is part of the variant.)
  const cpu = process.cpuUsage(cpu0);
  const info = T.cpuMemoryInfo();
  return { windowMs, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps, grows, memoryBytes: info.memoryBytes, windowResultBytes, peakResultBytes: info.peakResultBytes, afterLoop: info.resultBytes, afterTurn: NaN, afterTurns3: NaN, afterGc: NaN, warned, loss };
}

/** Runs a loop, drops it, and reads the kernels' memory after a turn and after a full collection. */
async function measured(variant: Variant, steps: number): Promise<RunResult> {
  const r = await runLoop(variant, steps);
  await turn();
  r.afterTurn = T.cpuMemoryInfo().resultBytes;
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setTimeout(resolve, 10));
  r.afterTurns3 = T.cpuMemoryInfo().resultBytes;
  forceGc();
  await turn();
  await turn();
  r.afterGc = T.cpuMemoryInfo().resultBytes;
  return r;
}

/** One run in a fresh process (what a user's script meets: empty kernel memory, nothing grown, nothing compiled). */
function runInChild(variant: Variant, steps: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, variant, String(steps)],
      { maxBuffer: 1 << 20, timeout: 1_200_000, env: { ...process.env, OCLT_CPU_HEAP_MB: '' } },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`plain-loop child ${variant}: ${err.message}\n${stderr}`));
        const line = stdout.trim().split('\n').at(-1)!;
        resolve(JSON.parse(line) as RunResult);
      },
    );
  });
}

const CHILD_FLAG = '--plain-loop-child';
const VARIANTS: Variant[] = ['plain', 'plain-before', 'plain-grow-exact', 'plain-no-hint', 'tidy', 'plain-yield'];
/** What runs without --impls (plain-grow-exact and plain-no-hint isolate one change each: ask for them by name). */
const DEFAULT_VARIANTS: Variant[] = ['plain', 'plain-before', 'tidy', 'plain-yield'];

async function plainLoopRows(quick: boolean, variants: Variant[]): Promise<BenchRow[]> {
  const rounds = quick ? 1 : 3;
  const steps = STEPS;
  const results = new Map<Variant, RunResult[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const res = await runInChild(v, steps);
      results.get(v)!.push(res);
      console.error(`[plain-loop] round ${r + 1}/${rounds} ${v}: ${res.windowMs.map((x) => x.toFixed(1)).join(' ')} ms/step; results ${res.windowResultBytes.map((x) => mib(x)).join(' ')} MiB`);
    }
  }
  const rows: BenchRow[] = [];
  for (const v of variants) {
    const rs = results.get(v)!;
    const windows = rs[0]!.windowMs.length;
    const row: BenchRow = { case: `mlp-${steps}-steps`, impl: v, median_ms: round(median(rs.map((x) => x.windowMs.reduce((a, b) => a + b, 0) / windows)), 2) };
    for (let w = 0; w < windows; w++) {
      row[`ms_steps_${w * WINDOW + 1}_${(w + 1) * WINDOW}`] = round(median(rs.map((x) => x.windowMs[w]!)), 2);
    }
    for (let w = 0; w < windows; w++) row[`results_mib_at_${(w + 1) * WINDOW}`] = mib(median(rs.map((x) => x.windowResultBytes[w]!)));
    row.cpu_ms_per_step = round(median(rs.map((x) => x.cpuMsPerStep)), 2);
    row.grows = median(rs.map((x) => x.grows));
    row.peak_results_mib = mib(median(rs.map((x) => x.peakResultBytes)));
    row.memory_mib = mib(median(rs.map((x) => x.memoryBytes)));
    row.results_mib_after_loop = mib(median(rs.map((x) => x.afterLoop)));
    row.results_mib_after_turn = mib(median(rs.map((x) => x.afterTurn)));
    row.results_mib_after_3_turns = mib(median(rs.map((x) => x.afterTurns3)));
    row.results_mib_after_gc = mib(median(rs.map((x) => x.afterGc)));
    row.warned = rs.filter((x) => x.warned).length + '/' + rs.length;
    row.final_loss = round(median(rs.map((x) => x.loss)), 4);
    rows.push(row);
  }
  return rows;
}

/** `a.add(b)` of 16 elements through the registry: the entry as registered (namedKernel around the kernel) vs the bare kernel. */
async function wrapperRows(quick: boolean): Promise<BenchRow[]> {
  T.setCpuKernels('reference'); // the table then holds namedKernel(referenceKernels.add): one layer apart from the bare kernel
  const kernels = T.getBackend('cpu').kernels as Record<string, T.KernelFn>;
  const registered = kernels.add!;
  const bare = referenceKernels.add!;
  if (registered === bare) throw new Error('plain-loop kernel-wrapper: the registered add kernel is not wrapped');
  const a = T.tensor(Float32Array.from({ length: 16 }, (_, i) => i));
  const b = T.tensor(Float32Array.from({ length: 16 }, (_, i) => 1 / (i + 1)));
  const calls = 20_000;
  const burst = () => {
    let s = 0;
    for (let i = 0; i < calls; i++) s += a.add(b).storage.length;
    return s;
  };
  // The attrs the op passes its kernel, to call the kernel directly too (no op-layer work around it).
  let attrs: unknown;
  kernels.add = (inputs, at) => ((attrs = at), bare(inputs, at));
  a.add(b);
  const direct = (fn: T.KernelFn) => () => {
    let s = 0;
    for (let i = 0; i < calls; i++) s += fn([a, b], attrs).storage.length;
    return s;
  };
  try {
    // Interleaved rounds, each sample a burst of `calls` calls timed by wall clock and by this process's CPU time:
    // on a machine shared with other work the CPU time is the steadier figure (descheduled time is not in it).
    const contenders: [string, string, () => unknown][] = [
      ['add-16-elements op', 'registered (namedKernel)', () => ((kernels.add = registered), burst())],
      ['add-16-elements op', 'bare kernel', () => ((kernels.add = bare), burst())],
      ['add-16-elements kernel call', 'registered (namedKernel)', direct(registered)],
      ['add-16-elements kernel call', 'bare kernel', direct(bare)],
    ];
    const wall = contenders.map(() => [] as number[]);
    const cpu = contenders.map(() => [] as number[]);
    for (const [, , run] of contenders) for (let i = 0; i < 3; i++) run();
    const rounds = quick ? 7 : 41;
    for (let r = 0; r < rounds; r++) {
      contenders.forEach(([, , run], i) => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        run();
        wall[i]!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[i]!.push((c.user + c.system) / 1000);
      });
    }
    const rows: BenchRow[] = contenders.map(([c, impl], i) => ({
      case: c,
      impl,
      median_ms: round(median(wall[i]!), 3),
      cpu_ms: round(median(cpu[i]!), 3),
      us_per_call: round((median(cpu[i]!) * 1000) / calls, 4),
      calls_per_sample: calls,
      rounds,
    }));
    for (const [w, n] of [[0, 1], [2, 3]] as const) {
      rows[w]!.wrapper_ns_per_call_cpu = round(((median(cpu[w]!) - median(cpu[n]!)) * 1e6) / calls, 1);
      rows[w]!.wrapper_ns_per_call_wall = round(((median(wall[w]!) - median(wall[n]!)) * 1e6) / calls, 1);
      rows[w]!.ratio_to_bare_cpu = round(median(cpu[w]!) / median(cpu[n]!), 4);
      // The spread of the paired differences (round by round): how far from 0 the figure is, in its own noise.
      const d = cpu[w]!.map((x, r) => ((x - cpu[n]![r]!) * 1e6) / calls).sort((a, b) => a - b);
      rows[w]!.diff_ns_p25_p75_cpu = `${round(d[Math.floor(d.length / 4)]!, 1)}..${round(d[Math.floor((3 * d.length) / 4)]!, 1)}`;
    }
    return rows;
  } finally {
    kernels.add = registered;
    T.setCpuKernels('fast');
  }
}

export const plainLoopSuite: Suite = {
  name: 'plain-loop',
  description: '300-step MLP loop without tidy vs with tidy vs yielding: ms per 50 steps, kernel memory, memory returned; namedKernel wrapper cost',
  async run(opts) {
    const rows: BenchRow[] = [];
    const variants = (opts.impls ? VARIANTS : DEFAULT_VARIANTS).filter((v) => selected(opts, { case: 'mlp-300-steps', impl: v }));
    if (variants.length > 0) rows.push(...(await plainLoopRows(opts.quick, variants)));
    if (!opts.cases || opts.cases.includes('kernel-wrapper')) rows.push(...(await wrapperRows(opts.quick)));
    return rows;
  },
};

// The child: `node --conditions=source --import tsx plain-loop.ts --plain-loop-child <variant> <steps>` prints one RunResult as JSON.
if (process.argv[2] === CHILD_FLAG && import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const variant = process.argv[3] as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`plain-loop child: unknown variant ${variant}`);
  measured(variant, Number(process.argv[4])).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
