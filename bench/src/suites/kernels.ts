/**
 * kernels: the hot cpu kernels of @oclt/tensor against JavaScript-ecosystem peers (issue 4).
 *
 * Cases: matmul-256/512/1024 (square float32), conv2d-fwd / -dinput / -dweight (N=8, C=64->64, 32x32, 3x3,
 * pad 1), add-1m (same-shape), sum-1m (all elements), max-1024x1024 (of each row), transpose-1024x1024 (a
 * row-major copy of the transposed view), softmax-1024x1024 (last axis).
 * Impls: oclt-cpu (fast kernels as a user gets them on this engine, all threads), oclt-cpu-1t (one thread), for the
 * GEMM-based cases the path the default did not take: oclt-cpu-relaxed (relaxed-SIMD FMA, turning on V8's flag for
 * it on Node 20) or oclt-cpu-muladd (mul + add, where the engine's default is FMA), oclt-ref (plain TypeScript),
 * tfjs-cpu, tfjs-wasm (SIMD; tfjs cannot use threads in Node), onnxruntime (onnxruntime-node, native; one-node
 * models built in memory, ConvTranspose standing in for the conv input gradient), gpujs-webasm (gpu.js's
 * WebAssembly mode, matmul and add only), jax-js-wasm (@jax-js/jax on its WebAssembly device; no conv weight
 * gradient row, since jax-js has it only through autodiff).
 *
 * What is timed: one call producing the result where the library keeps it, and its release (oclt: the fast kernels'
 * WebAssembly memory, inputs included, released by tidy; tfjs-wasm: its wasm heap, disposed; tfjs-cpu: a JS
 * array; an ort output tensor); nothing is read back. tfjs and
 * onnxruntime use their native layouts (NHWC for tfjs conv). A peer without a kernel for a case gets no row; a
 * contender whose single run exceeds the time budget (1.5 s quick, 6 s full) is skipped with a note; --quick
 * leaves out the contenders known to need seconds per run on the large cases.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import * as T from '@oclt/tensor';
import { interleave, selected, type BenchRow, type Contender, type Suite } from '../harness.js';
import { onnxModel, type OnnxGraph } from './kernels-onnx.js';
import { BENCH_CONV, BENCH_CONV_FLOPS, randomArray } from './cases.js';

const require = createRequire(import.meta.url);

const M1 = 1 << 20;

/** Fails setup (so the harness skips the contender) when one run is over budget. */
async function guard(run: () => unknown, budgetMs: number): Promise<void> {
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  if (ms > budgetMs) throw new Error(`one run took ${(ms / 1000).toFixed(1)} s, over the ${(budgetMs / 1000).toFixed(1)} s budget`);
}

// ---------------------------------------------------------------- oclt

type OcltMode = 'fast' | 'fast-1t' | 'relaxed' | 'muladd' | 'reference';
let ocltMode: OcltMode | null = null;
const allThreads = (() => {
  T.setCpuKernels('fast');
  return T.cpuThreads();
})();
/** Whether the default ('auto') runs the GEMM with relaxed-SIMD FMA on this engine (Node >= 22: yes). */
const defaultIsRelaxed = T.cpuKernelsInfo().includes('relaxed');

function useOclt(mode: OcltMode): void {
  if (mode === ocltMode) return;
  T.setCpuKernels(mode === 'reference' ? 'reference' : 'fast', { relaxedSimd: mode === 'relaxed' ? true : mode === 'muladd' ? false : 'auto' });
  if (mode !== 'reference') T.cpuThreads(mode === 'fast-1t' ? 1 : allThreads);
  ocltMode = mode;
}

interface Work {
  case: string;
  flops?: number;
  /** Contenders known to take seconds per run here: left out of --quick (and `never` left out always). */
  slow?: string[];
  never?: string[];
  oclt: () => () => unknown;
  tfjs?: (tf: typeof import('@tensorflow/tfjs')) => () => { dispose(): void };
  onnx?: { graph: OnnxGraph; feeds: Record<string, Float32Array> };
  gpujs?: (gpu: any) => () => unknown;
  /** Builds the op on jax-js arrays; the call must pass its inputs as `.ref` (jax-js consumes arguments). */
  jax?: (jax: Jax) => () => JaxArray;
}

type Jax = typeof import('@jax-js/jax');
type JaxArray = { blockUntilReady(): Promise<unknown>; dispose(): void };

function ocltContenders(w: Work, budgetMs: number): Contender[] {
  const impls: [string, OcltMode][] = [['oclt-cpu', 'fast'], ['oclt-cpu-1t', 'fast-1t'], ['oclt-ref', 'reference']];
  // The GEMM-based cases also run the other GEMM path: FMA where the default is mul + add, and the reverse.
  if (w.flops) impls.splice(2, 0, defaultIsRelaxed ? ['oclt-cpu-muladd', 'muladd'] : ['oclt-cpu-relaxed', 'relaxed']);
  return impls.map(([impl, mode]) => {
    let fn: () => unknown = () => {};
    // The result is released when the run ends (tidy), as the tfjs contenders dispose theirs: both then reuse
    // warm memory, as a training loop does.
    const run = () => {
      useOclt(mode);
      T.noGrad(() => T.tidy(() => void fn()));
    };
    return {
      case: w.case,
      impl,
      flops: w.flops,
      setup: async () => {
        fn = w.oclt();
        await guard(run, budgetMs);
      },
      run,
    };
  });
}

// ---------------------------------------------------------------- tfjs

let tfPromise: Promise<typeof import('@tensorflow/tfjs')> | null = null;
export function loadTf(): Promise<typeof import('@tensorflow/tfjs')> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
    return tf;
  })();
  return tfPromise;
}

function tfjsContenders(w: Work, budgetMs: number): Contender[] {
  if (!w.tfjs) return [];
  return (['cpu', 'wasm'] as const).map((backend) => {
    let tf: typeof import('@tensorflow/tfjs');
    let fn: () => { dispose(): void } = () => ({ dispose() {} });
    const run = async () => {
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
      fn().dispose();
    };
    return {
      case: w.case,
      impl: `tfjs-${backend}`,
      flops: w.flops,
      setup: async () => {
        tf = await loadTf();
        await tf.setBackend(backend);
        fn = w.tfjs!(tf);
        await guard(run, budgetMs);
      },
      run,
    };
  });
}

// ---------------------------------------------------------------- onnxruntime

function onnxContender(w: Work, budgetMs: number): Contender[] {
  if (!w.onnx) return [];
  const { graph, feeds } = w.onnx;
  let session: any;
  let inputs: Record<string, unknown> = {};
  const run = () => session.run(inputs);
  return [{
    case: w.case,
    impl: 'onnxruntime',
    flops: w.flops,
    setup: async () => {
      const ort = await import('onnxruntime-node');
      // Its pool threads spin-wait after each run by default, which would steal the second core from the contender
      // timed next in the round: blocking waits keep the interleaving fair (and cost ort nothing measurable here).
      session = await ort.InferenceSession.create(onnxModel(graph), { graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } });
      inputs = Object.fromEntries(graph.inputs.map((i) => [i.name, new ort.Tensor('float32', feeds[i.name]!, i.shape)]));
      await guard(run, budgetMs);
    },
    run,
    teardown: () => session?.release?.(),
  }];
}

// ---------------------------------------------------------------- gpu.js

function gpujsContender(w: Work, budgetMs: number): Contender[] {
  if (!w.gpujs) return [];
  let fn: () => unknown = () => {};
  const run = () => fn();
  return [{
    case: w.case,
    impl: 'gpujs-webasm',
    flops: w.flops,
    setup: async () => {
      const { GPU } = require('gpu.js');
      const gpu = new GPU({ mode: 'webasm' });
      fn = w.gpujs!(gpu);
      await guard(run, budgetMs);
    },
    run,
  }];
}

// ---------------------------------------------------------------- jax-js

let jaxPromise: Promise<Jax> | null = null;
function loadJax(): Promise<Jax> {
  jaxPromise ??= (async () => {
    const jax = await import('@jax-js/jax');
    // init() with no device named also probes WebGPU through `navigator`, which Node 20 does not have.
    await jax.init('wasm');
    jax.defaultDevice('wasm');
    return jax;
  })();
  return jaxPromise;
}

function jaxContender(w: Work, budgetMs: number): Contender[] {
  if (!w.jax) return [];
  let fn: () => JaxArray = () => ({ blockUntilReady: async () => {}, dispose() {} });
  // jax-js runs ops lazily: the result is waited for, then released, as the other contenders' are.
  const run = async () => {
    const y = fn();
    await y.blockUntilReady();
    y.dispose();
  };
  return [{
    case: w.case,
    impl: 'jax-js-wasm',
    flops: w.flops,
    setup: async () => {
      fn = w.jax!(await loadJax());
      await guard(run, budgetMs);
    },
    run,
  }];
}

// ---------------------------------------------------------------- cases

function matmulWork(n: number): Work {
  const a = randomArray(n * n, 1);
  const b = randomArray(n * n, 2);
  return {
    case: `matmul-${n}`,
    flops: 2 * n ** 3,
    slow: n >= 512 ? ['oclt-ref', 'tfjs-cpu', 'gpujs-webasm'] : [],
    oclt: () => {
      const ta = T.tensor(a).reshape(n, n);
      const tb = T.tensor(b).reshape(n, n);
      return () => T.matmul(ta, tb);
    },
    tfjs: (tf) => {
      const ta = tf.tensor2d(a, [n, n]);
      const tb = tf.tensor2d(b, [n, n]);
      return () => tf.matMul(ta, tb);
    },
    onnx: { graph: { op: 'MatMul', inputs: [{ name: 'a', shape: [n, n] }, { name: 'b', shape: [n, n] }], output: { name: 'y', shape: [n, n] } }, feeds: { a, b } },
    gpujs: (gpu) => {
      const kernel = gpu.createKernel(function (this: any, x: number[][], y: number[][]) {
        let s = 0;
        for (let k = 0; k < this.constants.n; k++) s += x[this.thread.y][k] * y[k][this.thread.x];
        return s;
      }).setOutput([n, n]).setConstants({ n });
      const { input } = require('gpu.js');
      const ia = input(a, [n, n]);
      const ib = input(b, [n, n]);
      return () => kernel(ia, ib);
    },
    jax: ({ numpy: np }) => {
      const ja = np.array(a).reshape([n, n]);
      const jb = np.array(b).reshape([n, n]);
      return () => np.matmul(ja.ref, jb.ref);
    },
  };
}

function convWorks(): Work[] {
  const { n, c, o, h, w, k, pad } = BENCH_CONV;
  const x = randomArray(n * c * h * w, 3);
  const wt = randomArray(o * c * k * k, 4);
  const dy = randomArray(n * o * h * w, 5);
  const convAttrs = [{ name: 'kernel_shape', ints: [k, k] }, { name: 'pads', ints: [pad, pad, pad, pad] }, { name: 'strides', ints: [1, 1] }];
  const ocltInputs = () => ({
    x: T.tensor(x).reshape(n, c, h, w),
    wt: T.tensor(wt).reshape(o, c, k, k),
    dy: T.tensor(dy).reshape(n, o, h, w),
    geo: T.convGeometry('conv2d', [n, c, h, w], [o, c, k, k], { padding: pad }),
  });
  // tfjs works in NHWC with HWIO filters: the same numbers, transposed once outside the timing.
  const tfInputs = (tf: typeof import('@tensorflow/tfjs')) => ({
    x: tf.tidy(() => tf.tensor4d(x, [n, c, h, w]).transpose([0, 2, 3, 1])),
    f: tf.tidy(() => tf.tensor4d(wt, [o, c, k, k]).transpose([2, 3, 1, 0])),
    dy: tf.tidy(() => tf.tensor4d(dy, [n, o, h, w]).transpose([0, 2, 3, 1])),
  });
  return [
    {
      case: 'conv2d-fwd',
      flops: BENCH_CONV_FLOPS,
      slow: ['oclt-ref', 'tfjs-cpu'],
      oclt: () => {
        const i = ocltInputs();
        return () => T.conv2d(i.x, i.wt, null, { padding: pad });
      },
      tfjs: (tf) => {
        const i = tfInputs(tf);
        return () => tf.conv2d(i.x as any, i.f as any, 1, 'same');
      },
      jax: ({ numpy: np, lax }) => {
        const jx = np.array(x).reshape([n, c, h, w]);
        const jw = np.array(wt).reshape([o, c, k, k]);
        return () => lax.conv(jx.ref, jw.ref, [1, 1], [[pad, pad], [pad, pad]]);
      },
      onnx: { graph: { op: 'Conv', inputs: [{ name: 'x', shape: [n, c, h, w] }, { name: 'w', shape: [o, c, k, k] }], output: { name: 'y', shape: [n, o, h, w] }, attributes: convAttrs }, feeds: { x, w: wt } },
    },
    {
      case: 'conv2d-dinput',
      flops: BENCH_CONV_FLOPS,
      slow: ['oclt-ref', 'tfjs-cpu', 'tfjs-wasm'],
      oclt: () => {
        const i = ocltInputs();
        return () => T.conv2dBackwardInput(i.dy, i.wt, i.geo);
      },
      tfjs: (tf) => {
        const i = tfInputs(tf);
        return () => tf.conv2dTranspose(i.dy as any, i.f as any, [n, h, w, c], 1, 'same');
      },
      // The transposed convolution with the kernel flipped and its channel axes swapped: conv's input gradient
      // (checked against ours when this row was added: equal to 4e-6).
      jax: ({ numpy: np, lax }) => {
        const jdy = np.array(dy).reshape([n, o, h, w]);
        const jw = np.array(wt).reshape([o, c, k, k]);
        return () => lax.convTranspose(jdy.ref, jw.ref, [1, 1], [[pad, pad], [pad, pad]], { transposeKernel: true });
      },
      onnx: { graph: { op: 'ConvTranspose', inputs: [{ name: 'dy', shape: [n, o, h, w] }, { name: 'w', shape: [o, c, k, k] }], output: { name: 'dx', shape: [n, c, h, w] }, attributes: convAttrs }, feeds: { dy, w: wt } },
    },
    {
      case: 'conv2d-dweight',
      flops: BENCH_CONV_FLOPS,
      slow: ['oclt-ref'],
      // tfjs-cpu needs about 117 s per run on this layer (measured, DESIGN.md): not worth a benchmark slot.
      never: ['tfjs-cpu'],
      oclt: () => {
        const i = ocltInputs();
        return () => T.conv2dBackwardWeight(i.x, i.dy, i.geo);
      },
      // tfjs has the kernel on cpu only (wasm lacks it, so that contender is skipped).
      tfjs: (tf) => {
        const i = tfInputs(tf);
        const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: [k, k, c, o] };
        return () => tf.engine().runKernel('Conv2DBackpropFilter', { x: i.x, dy: i.dy }, attrs as any) as any;
      },
    },
  ];
}

function vectorWorks(): Work[] {
  const a = randomArray(M1, 6);
  const b = randomArray(M1, 7);
  const s = randomArray(M1, 8).map((v) => v * 8);
  return [
    {
      case: 'add-1m',
      oclt: () => {
        const ta = T.tensor(a);
        const tb = T.tensor(b);
        return () => T.add(ta, tb);
      },
      tfjs: (tf) => {
        const ta = tf.tensor1d(a);
        const tb = tf.tensor1d(b);
        return () => tf.add(ta, tb);
      },
      onnx: { graph: { op: 'Add', inputs: [{ name: 'a', shape: [M1] }, { name: 'b', shape: [M1] }], output: { name: 'y', shape: [M1] } }, feeds: { a, b } },
      gpujs: (gpu) => {
        const kernel = gpu.createKernel(function (this: any, x: number[], y: number[]) {
          return x[this.thread.x] + y[this.thread.x];
        }).setOutput([M1]);
        return () => kernel(a, b);
      },
      jax: ({ numpy: np }) => {
        const ja = np.array(a);
        const jb = np.array(b);
        return () => np.add(ja.ref, jb.ref);
      },
    },
    {
      case: 'sum-1m',
      oclt: () => {
        const ta = T.tensor(a);
        return () => T.sum(ta);
      },
      tfjs: (tf) => {
        const ta = tf.tensor1d(a);
        return () => tf.sum(ta);
      },
      jax: ({ numpy: np }) => {
        const ja = np.array(a);
        return () => np.sum(ja.ref);
      },
      onnx: { graph: { op: 'ReduceSum', inputs: [{ name: 'a', shape: [M1] }], output: { name: 'y', shape: [] }, attributes: [{ name: 'keepdims', int: 0 }] }, feeds: { a } },
    },
    {
      // The max of each row (as logsumexp and a stable cross-entropy take it).
      case: 'max-1024x1024',
      oclt: () => {
        const ts = T.tensor(s).reshape(1024, 1024);
        return () => T.max(ts, -1);
      },
      tfjs: (tf) => {
        const ts = tf.tensor2d(s, [1024, 1024]);
        return () => tf.max(ts, -1);
      },
      jax: ({ numpy: np }) => {
        const js = np.array(s).reshape([1024, 1024]);
        return () => np.max(js.ref, -1);
      },
      onnx: { graph: { op: 'ReduceMax', inputs: [{ name: 'x', shape: [1024, 1024] }], output: { name: 'y', shape: [1024] }, attributes: [{ name: 'axes', ints: [1] }, { name: 'keepdims', int: 0 }] }, feeds: { x: s } },
    },
    {
      // A row-major copy of a transposed view (contiguous(), as attention and permuted gradients need).
      case: 'transpose-1024x1024',
      oclt: () => {
        const ta = T.tensor(a).reshape(1024, 1024);
        return () => T.contiguous(T.transpose(ta));
      },
      tfjs: (tf) => {
        const ta = tf.tensor2d(a, [1024, 1024]);
        return () => tf.transpose(ta);
      },
      onnx: { graph: { op: 'Transpose', inputs: [{ name: 'a', shape: [1024, 1024] }], output: { name: 'y', shape: [1024, 1024] }, attributes: [{ name: 'perm', ints: [1, 0] }] }, feeds: { a } },
    },
    {
      case: 'softmax-1024x1024',
      oclt: () => {
        const ts = T.tensor(s).reshape(1024, 1024);
        return () => T.softmax(ts, -1);
      },
      tfjs: (tf) => {
        const ts = tf.tensor2d(s, [1024, 1024]);
        return () => tf.softmax(ts);
      },
      jax: ({ numpy: np, nn }) => {
        const js = np.array(s).reshape([1024, 1024]);
        return () => nn.softmax(js.ref, -1);
      },
      onnx: { graph: { op: 'Softmax', inputs: [{ name: 'x', shape: [1024, 1024] }], output: { name: 'y', shape: [1024, 1024] }, attributes: [{ name: 'axis', int: -1 }] }, feeds: { x: s } },
    },
  ];
}

export const kernelsSuite: Suite = {
  name: 'kernels',
  description: 'matmul, conv2d (+ both gradients), add, sum, softmax: oclt cpu kernels vs tfjs, tfjs-wasm, onnxruntime, gpu.js, jax-js',
  async run(opts) {
    const { quick } = opts;
    const budgetMs = quick ? 1500 : 6000;
    const rounds = quick ? 3 : 10;
    const warmup = quick ? 1 : 2;
    const works = [matmulWork(256), matmulWork(512), matmulWork(1024), ...convWorks(), ...vectorWorks()];
    const rows: BenchRow[] = [];
    for (const w of works) {
      const left = new Set([...(w.never ?? []), ...(quick ? w.slow ?? [] : [])]);
      const all = [...ocltContenders(w, budgetMs), ...tfjsContenders(w, budgetMs), ...onnxContender(w, budgetMs), ...gpujsContender(w, budgetMs), ...jaxContender(w, budgetMs)];
      const contenders = all.filter((c) => !left.has(c.impl) && selected(opts, c));
      if (contenders.length === 0) continue;
      const got = await interleave(contenders, { rounds, warmup, settleMs: quick ? 5 : 30, burstMs: quick ? 10 : 30 });
      useOclt('fast');
      const tfWasm = got.find((r) => r.impl === 'tfjs-wasm')?.median_ms;
      for (const r of got) {
        if (tfWasm) r.vs_tfjs_wasm = Math.round((tfWasm / r.median_ms) * 100) / 100;
        const mode = ({ 'oclt-cpu': 'fast', 'oclt-cpu-relaxed': 'relaxed', 'oclt-cpu-muladd': 'muladd' } as Record<string, OcltMode>)[r.impl];
        if (mode) {
          useOclt(mode);
          r.runs = T.cpuKernelsInfo();
          useOclt('fast');
        }
        rows.push(r);
      }
    }
    return rows;
  },
};
