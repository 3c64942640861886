/**
 * Benchmark contenders for the gpujs backend, for bench/ (the `gpujs` suite, and the `kernels` suite if it wants
 * these rows). Structurally the harness's `Contender`: { case, impl, flops, setup, run, teardown }.
 *
 * What is timed: one op on inputs already on the device (uploaded once in setup), plus reading the result back
 * to a host array, since GL work is only known to be done once its result is read. Impl names carry the mode
 * that really runs (`oclt-gpujs-headlessgl`, `oclt-gpujs-webasm`, `oclt-gpujs-cpu`); `info` says more (e.g.
 * that headlessgl here is mesa's llvmpipe software renderer).
 */
import { Tensor } from '../../tensor.js';
import { add, conv2d, conv2dBackwardInput, conv2dBackwardWeight, convGeometry, matmul, softmax, sum } from '../../index.js';
import type { GpujsMode } from './detect.js';
import { initGpujs, loadGpujs, type GpujsBackend } from './index.js';
import { disposeTensor } from './memory.js';

export interface GpujsBenchContender {
  case: string;
  impl: string;
  flops?: number;
  /** What really runs, e.g. `gpujs:headlessgl (mesa swrast_dri.so: llvmpipe software renderer)`. */
  info: string;
  setup?: () => unknown;
  run: () => unknown;
  teardown?: () => unknown;
}

/** The reference conv layer of the project's kernel benchmarks. */
export const BENCH_CONV = { n: 8, c: 64, o: 64, h: 32, w: 32, k: 3, pad: 1 };
const CONV_FLOPS = 2 * BENCH_CONV.n * BENCH_CONV.o * BENCH_CONV.c * BENCH_CONV.k * BENCH_CONV.k * BENCH_CONV.h * BENCH_CONV.w;
const M1 = 1 << 20;

export const GPUJS_BENCH_CASES = ['matmul-256', 'matmul-512', 'conv2d-fwd', 'conv2d-dinput', 'conv2d-dweight', 'add-1m', 'sum-1m', 'softmax-1024x1024'] as const;

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A case's input shapes, flop count and op (`matmul-<n>` for any n; the others as named in GPUJS_BENCH_CASES). */
function caseWork(name: string): { shapes: number[][]; flops?: number; op: (xs: Tensor[]) => Tensor } {
  const conv = BENCH_CONV;
  const geo = convGeometry('bench', [conv.n, conv.c, conv.h, conv.w], [conv.o, conv.c, conv.k, conv.k], { padding: conv.pad });
  const square = /^matmul-(\d+)$/.exec(name);
  if (square) {
    const n = Number(square[1]);
    return { shapes: [[n, n], [n, n]], flops: 2 * n ** 3, op: ([a, b]) => matmul(a!, b!) };
  }
  switch (name) {
    case 'conv2d-fwd':
      return { shapes: [[conv.n, conv.c, conv.h, conv.w], [conv.o, conv.c, conv.k, conv.k]], flops: CONV_FLOPS, op: ([x, w]) => conv2d(x!, w!, null, { padding: conv.pad }) };
    case 'conv2d-dinput':
      return { shapes: [[conv.n, conv.o, geo.oh, geo.ow], [conv.o, conv.c, conv.k, conv.k]], flops: CONV_FLOPS, op: ([dy, w]) => conv2dBackwardInput(dy!, w!, geo) };
    case 'conv2d-dweight':
      return { shapes: [[conv.n, conv.c, conv.h, conv.w], [conv.n, conv.o, geo.oh, geo.ow]], flops: CONV_FLOPS, op: ([x, dy]) => conv2dBackwardWeight(x!, dy!, geo) };
    case 'add-1m':
      return { shapes: [[1024, 1024], [1024, 1024]], op: ([a, b]) => add(a!, b!) };
    case 'sum-1m':
      return { shapes: [[M1]], op: ([a]) => sum(a!) };
    case 'softmax-1024x1024':
      return { shapes: [[1024, 1024]], op: ([a]) => softmax(a!, -1) };
    default:
      throw new Error(`gpujsBenchContenders: unknown case '${name}' (known: ${GPUJS_BENCH_CASES.join(', ')})`);
  }
}

/**
 * Contenders for the gpujs backend in each available mode (default: headlessgl where a GL context exists,
 * webasm, cpu). `notes` says which modes were left out and why. Each mode is registered as a backend named
 * `gpujs-bench-<mode>`.
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
      let inputs: Tensor[] = [];
      contenders.push({
        case: name,
        impl: `oclt-gpujs-${b.detection.runs}`,
        info: b.info(),
        flops: work.flops,
        setup: () => {
          inputs = work.shapes.map((shape, i) => b.toDevice(new Tensor(b.fromHost(values(shape.reduce((p, d) => p * d, 1), 17 + i)), shape)));
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
