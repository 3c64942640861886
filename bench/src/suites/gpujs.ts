/**
 * gpujs: the gpu.js backend of @oclt/tensor in every mode that runs here, next to the cpu backend (issue 9).
 *
 * Cases: matmul-256/512, conv2d-fwd / -dinput / -dweight (N=8, C=64->64, 32x32, 3x3, pad 1), add-1m, sum-1m,
 * softmax-1024x1024 (last axis). Impls: oclt-gpujs-<mode> with the mode that really runs (headlessgl only where a
 * GL context exists: run under `xvfb-run -a`; on a machine without a GPU that is mesa's llvmpipe, a software
 * renderer, and the `info` column says so), and oclt-cpu (the cpu backend's current kernels) as the baseline.
 *
 * What is timed: one op on inputs already on the device, plus reading the result back (GL work is only known to
 * be finished once read). A contender whose single run exceeds the budget (3 s quick, 20 s full) is skipped.
 */
import * as T from '@oclt/tensor';
import { disposeTensor, initGpujs, loadGpujs, type GpujsBackend, type GpujsMode } from '@oclt/tensor/gpujs';
import { interleave, type BenchRow, type Contender, type Suite } from '../harness.js';
import { BENCH_CONV, BENCH_CONV_FLOPS, randomArray } from './cases.js';

// ---------------------------------------------------------------- the gpujs backend's contenders

/**
 * A contender on a gpujs backend: the harness's Contender plus what really runs, e.g.
 * `gpujs:headlessgl (mesa swrast_dri.so: llvmpipe software renderer)`. Impl names carry the mode that really runs
 * (`oclt-gpujs-headlessgl`, `oclt-gpujs-webasm`, `oclt-gpujs-cpu`).
 */
export interface GpujsBenchContender extends Contender {
  info: string;
}

const M1 = 1 << 20;

export const GPUJS_BENCH_CASES = ['matmul-256', 'matmul-512', 'conv2d-fwd', 'conv2d-dinput', 'conv2d-dweight', 'add-1m', 'sum-1m', 'softmax-1024x1024'] as const;

/** A case's input shapes, flop count and op (`matmul-<n>` for any n; the others as named in GPUJS_BENCH_CASES). */
function caseWork(name: string): { shapes: number[][]; flops?: number; op: (xs: T.Tensor[]) => T.Tensor } {
  const conv = BENCH_CONV;
  const geo = T.convGeometry('bench', [conv.n, conv.c, conv.h, conv.w], [conv.o, conv.c, conv.k, conv.k], { padding: conv.pad });
  const square = /^matmul-(\d+)$/.exec(name);
  if (square) {
    const n = Number(square[1]);
    return { shapes: [[n, n], [n, n]], flops: 2 * n ** 3, op: ([a, b]) => T.matmul(a!, b!) };
  }
  switch (name) {
    case 'conv2d-fwd':
      return { shapes: [[conv.n, conv.c, conv.h, conv.w], [conv.o, conv.c, conv.k, conv.k]], flops: BENCH_CONV_FLOPS, op: ([x, w]) => T.conv2d(x!, w!, null, { padding: conv.pad }) };
    case 'conv2d-dinput':
      return { shapes: [[conv.n, conv.o, geo.oh, geo.ow], [conv.o, conv.c, conv.k, conv.k]], flops: BENCH_CONV_FLOPS, op: ([dy, w]) => T.conv2dBackwardInput(dy!, w!, geo) };
    case 'conv2d-dweight':
      return { shapes: [[conv.n, conv.c, conv.h, conv.w], [conv.n, conv.o, geo.oh, geo.ow]], flops: BENCH_CONV_FLOPS, op: ([x, dy]) => T.conv2dBackwardWeight(x!, dy!, geo) };
    case 'add-1m':
      return { shapes: [[1024, 1024], [1024, 1024]], op: ([a, b]) => T.add(a!, b!) };
    case 'sum-1m':
      return { shapes: [[M1]], op: ([a]) => T.sum(a!) };
    case 'softmax-1024x1024':
      return { shapes: [[1024, 1024]], op: ([a]) => T.softmax(a!, -1) };
    default:
      throw new Error(`gpujsBenchContenders: unknown case '${name}' (known: ${GPUJS_BENCH_CASES.join(', ')})`);
  }
}

/**
 * Contenders for the gpujs backend in each available mode (default: headlessgl where a GL context exists,
 * webasm, cpu). `notes` says which modes were left out and why. Each mode is registered as a backend named
 * `gpujs-bench-<mode>`. What is timed: one op on inputs already on the device (uploaded once in setup), plus
 * reading the result back to a host array, since GL work is only known to be done once its result is read.
 */
export async function gpujsBenchContenders(opts: { modes?: GpujsMode[]; cases?: readonly string[] } = {}): Promise<{ contenders: GpujsBenchContender[]; notes: string[]; backends: GpujsBackend[] }> {
  const notes: string[] = [];
  let GPU: { isHeadlessGLSupported: boolean };
  try {
    ({ GPU } = await loadGpujs());
  } catch (err) {
    return { contenders: [], notes: [`oclt-gpujs: ${(err as Error).message}`], backends: [] };
  }
  const modes = opts.modes ?? (['headlessgl', 'webasm', 'cpu'] as GpujsMode[]);
  const backends: GpujsBackend[] = [];
  for (const mode of modes) {
    if (mode === 'headlessgl' && !GPU.isHeadlessGLSupported) {
      notes.push('oclt-gpujs-headlessgl: no GL context (headless-gl not built, or no display; run under `xvfb-run -a`)');
      continue;
    }
    try {
      backends.push(await initGpujs({ mode, name: `gpujs-bench-${mode}`, probeWebGPU: false }));
    } catch (err) {
      notes.push(`oclt-gpujs-${mode}: ${(err as Error).message}`);
    }
  }
  const contenders: GpujsBenchContender[] = [];
  for (const name of opts.cases ?? GPUJS_BENCH_CASES) {
    const work = caseWork(name);
    for (const b of backends) {
      let inputs: T.Tensor[] = [];
      contenders.push({
        case: name,
        impl: `oclt-gpujs-${b.detection.runs}`,
        info: b.info(),
        flops: work.flops,
        setup: () => {
          inputs = work.shapes.map((shape, i) => b.toDevice(new T.Tensor(b.fromHost(randomArray(shape.reduce((p, d) => p * d, 1), 17 + i)), shape)));
        },
        run: () => {
          const y = work.op(inputs);
          const host = y.toTypedArray();
          disposeTensor(y);
          return host;
        },
        teardown: () => {
          disposeTensor(...inputs);
          inputs = [];
        },
      });
    }
  }
  return { contenders, notes, backends };
}

/** The flop count of a case (for baseline rows), undefined for memory-bound cases. */
export function gpujsBenchCaseFlops(name: string): number | undefined {
  return caseWork(name).flops;
}

// ---------------------------------------------------------------- the suite

/** Wraps setup so that a contender slower than `budgetMs` per run is skipped (the harness logs the reason). */
function withBudget(c: GpujsBenchContender, budgetMs: number): Contender {
  return {
    ...c,
    setup: async () => {
      await c.setup?.();
      const t0 = performance.now();
      await c.run();
      const ms = performance.now() - t0;
      if (ms > budgetMs) {
        await c.teardown?.();
        throw new Error(`one run took ${Math.round(ms)} ms, over the ${budgetMs} ms budget`);
      }
    },
  };
}

/** The cpu backend on the same cases and inputs, as the in-process baseline. */
function cpuContenders(cases: readonly string[]): Contender[] {
  return cases.map((name) => ({ case: name, impl: 'oclt-cpu', flops: gpujsBenchCaseFlops(name), run: () => cpuRun(name) }));
}

const cpuInputs = new Map<string, () => unknown>();
function cpuRun(name: string): unknown {
  let fn = cpuInputs.get(name);
  if (!fn) {
    const g = new T.Generator(1);
    const conv = BENCH_CONV;
    const geo = T.convGeometry('bench', [conv.n, conv.c, conv.h, conv.w], [conv.o, conv.c, conv.k, conv.k], { padding: conv.pad });
    const x = () => T.randn([conv.n, conv.c, conv.h, conv.w], g);
    const w = () => T.randn([conv.o, conv.c, conv.k, conv.k], g);
    const dy = () => T.randn([conv.n, conv.o, geo.oh, geo.ow], g);
    if (name.startsWith('matmul-')) {
      const n = Number(name.slice(7));
      const a = T.randn([n, n], g);
      const b = T.randn([n, n], g);
      fn = () => T.matmul(a, b);
    } else if (name === 'conv2d-fwd') {
      const [xs, ws] = [x(), w()];
      fn = () => T.conv2d(xs, ws, null, { padding: conv.pad });
    } else if (name === 'conv2d-dinput') {
      const [ds, ws] = [dy(), w()];
      fn = () => T.conv2dBackwardInput(ds, ws, geo);
    } else if (name === 'conv2d-dweight') {
      const [xs, ds] = [x(), dy()];
      fn = () => T.conv2dBackwardWeight(xs, ds, geo);
    } else if (name === 'add-1m') {
      const a = T.randn([1024, 1024], g);
      const b = T.randn([1024, 1024], g);
      fn = () => T.add(a, b);
    } else if (name === 'sum-1m') {
      const a = T.randn([1 << 20], g);
      fn = () => T.sum(a);
    } else {
      const a = T.randn([1024, 1024], g);
      fn = () => T.softmax(a, -1);
    }
    cpuInputs.set(name, fn);
  }
  return fn();
}

export const gpujsSuite: Suite = {
  name: 'gpujs',
  description: 'the gpu.js backend (headlessgl under xvfb-run, webasm, cpu modes) vs the cpu backend: matmul, conv2d (+ gradients), add, sum, softmax',
  async run({ quick }): Promise<BenchRow[]> {
    const prev = T.currentBackend();
    T.setBackend('cpu');
    const cases = quick ? GPUJS_BENCH_CASES.filter((c) => !c.startsWith('conv2d-d') && c !== 'matmul-512') : GPUJS_BENCH_CASES;
    const { contenders, notes, backends } = await gpujsBenchContenders({ cases });
    for (const n of notes) console.error(`[bench] ${n}`);
    const budgetMs = quick ? 3000 : 20000;
    const infoOf = new Map<string, string>();
    for (const c of contenders) infoOf.set(c.impl, c.info);
    infoOf.set('oclt-cpu', T.getBackend('cpu').info());
    const rows: BenchRow[] = [];
    try {
      // One interleaved group per case: modes of one case share the machine's slow and fast phases.
      for (const name of cases) {
        const group = [...contenders.filter((c) => c.case === name).map((c) => withBudget(c, budgetMs)), ...cpuContenders([name])];
        // The conv cases take seconds per run in gpu.js's modes here: fewer rounds keep the suite within minutes.
        const rounds = quick || name.startsWith('conv2d') ? 3 : 5;
        rows.push(...(await interleave(group, { rounds, warmup: 1 })));
      }
    } finally {
      for (const b of backends) b.destroy();
      T.setBackend(prev);
    }
    return rows.map((r) => ({ ...r, runs_on: infoOf.get(r.impl) }));
  },
};
