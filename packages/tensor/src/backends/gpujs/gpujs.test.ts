/**
 * Every gpujs device kernel against the cpu reference kernels (float64 accumulation) on random shapes and views,
 * in gpu.js's cpu and webasm modes always, and in headlessgl mode where a GL context exists (CI runs the suite
 * under `xvfb-run -a`; elsewhere the headlessgl block is skipped and says why).
 *
 * Tolerances. The device computes in float32 (u = 2^-24); the reference accumulates in float64 and rounds once.
 * A float32 sum of m terms is off by at most about m u sum|terms| (Higham, recursive summation), so dot products,
 * convolutions and sums are checked against (m + 2) * 4u * sum|terms| (factor 4: GLSL does not promise
 * correctly rounded arithmetic), with sum|terms| computed by the reference on |inputs|. Transcendentals (exp,
 * log, sin, tanh, ...) in GLSL/WebAssembly are accurate to a few ulp; we allow 2e-6 absolute + 1e-5 relative
 * (~100 ulp). max/min must be exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { abs, conv2d, conv2dBackwardInput, conv2dBackwardWeight, convGeometry, currentBackend, Generator, matmul, randn, setBackend, Tensor, tensor } from '../../index.js';
import { referenceKernels } from '../cpu/index.js';
import type { KernelFn } from '../../backend.js';
import type { KernelAttrs, KernelName } from '../../kernel-names.js';
import { deviceScope, disposeTensor, initGpujs, isDeviceResident, liveTextureCount, loadGpujs, selectBackend, type GpujsBackend, type GpujsMode } from './index.js';

const U = 2 ** -24;
/** Shader compilation under software GL costs ~10-50 ms per distinct shape: fewer runs there. */
const runsFor = (mode: string) => (mode === 'headlessgl' ? 6 : 12);

let loadError: string | null = null;
let headlessGL = false;
try {
  const { GPU } = await loadGpujs();
  headlessGL = Boolean(GPU.isHeadlessGLSupported);
} catch (err) {
  loadError = (err as Error).message;
}

const EXPECTED_CLASS: Record<string, string> = { cpu: 'CPUKernel', webasm: 'WebAssemblyKernel', headlessgl: 'HeadlessGLKernel' };
const modes: { mode: GpujsMode; skip: string | null }[] = [
  { mode: 'cpu', skip: loadError },
  { mode: 'webasm', skip: loadError },
  { mode: 'headlessgl', skip: loadError ?? (headlessGL ? null : 'no GL context (headless-gl not built, or no display: run under `xvfb-run -a`)') },
];

/** Host values of a tensor on any backend, as float64 for comparisons. */
function values(t: Tensor): Float64Array {
  return Float64Array.from(t.toTypedArray());
}

/** Asserts |got - want| <= tol_i elementwise, naming the worst element. */
function expectClose(got: Tensor, want: Tensor, tol: (i: number) => number, what: string): void {
  expect(got.shape, `${what}: shape`).toEqual(want.shape);
  const g = values(got);
  const w = values(want);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < w.length; i++) {
    const err = Math.abs(g[i]! - w[i]!);
    const excess = Number.isNaN(err) ? Infinity : err - tol(i);
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) expect.fail(`${what}: element ${worst} is ${g[worst]}, reference ${w[worst]} (tolerance ${tol(worst)})`);
}

/** The bound (m + 2) 4u sum|terms| for float32 accumulation of m terms; `absTerms` = reference on |inputs|. */
function accumulationTol(absTerms: Tensor, m: number): (i: number) => number {
  const s = values(absTerms);
  return (i) => (m + 2) * 4 * U * s[i]! + 1e-30;
}

const dims = (max: number) => fc.integer({ min: 1, max });
const seed = fc.integer({ min: 1, max: 2 ** 30 });

for (const { mode, skip } of modes) {
  describe.skipIf(skip !== null)(`gpujs backend, mode ${mode}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const RUNS = runsFor(mode);
    let b: GpujsBackend;
    const name = `gpujs-test-${mode}`;
    beforeAll(async () => {
      b = await initGpujs({ mode, name, probeWebGPU: mode === 'cpu' });
    });
    afterAll(() => b?.destroy());

    /** A copy of a cpu tensor on the backend under test: host-resident, or (resident) already on the device. */
    const dev = (t: Tensor, resident = false): Tensor => {
      const host = new Tensor(b.fromHost(t.toTypedArray()), t.shape);
      return resident ? b.toDevice(host) : host;
    };
    const ref = <N extends KernelName>(op: N, inputs: Tensor[], attrs: KernelAttrs<N>): Tensor => (referenceKernels[op] as KernelFn<N>)(inputs, attrs);

    it('reports what really runs', () => {
      expect(b.detection.kernelClass).toBe(EXPECTED_CLASS[mode]);
      expect(b.detection.runs).toBe(mode);
      expect(b.info()).toMatch(new RegExp(`^gpujs:${mode} \\(`));
      if (mode === 'headlessgl') {
        // Under Xvfb, mesa renders in software: the backend must not call that a GPU.
        if (/swrast|llvmpipe/.test(b.detection.renderer)) expect(b.detection.realGpu).toBe(false);
      } else {
        expect(b.detection.realGpu).toBe(false);
      }
      if (mode === 'cpu') expect(typeof b.detection.webGPU.detail).toBe('string'); // a reason, never a crash
    });

    it('matmul (batched, broadcast batch, transposed views) matches the reference', () => {
      fc.assert(
        fc.property(dims(3), dims(6), dims(6), dims(6), fc.boolean(), fc.boolean(), seed, (nb, m, k, n, transposeB, broadcastA, s) => {
          const g = new Generator(s);
          const a = randn(broadcastA ? [m, k] : [nb, m, k], g);
          const bt = randn([nb, n, k], g); // stored as [n, k], used transposed when asked
          const bm = transposeB ? bt.transpose(-1, -2) : bt.transpose(-1, -2).contiguous();
          const attrs = { batch: [nb], m, n, k, dtype: 'float32' as const };
          const before = b.stats.device.matmul ?? 0;
          const got = b.kernels.matmul!([dev(a, transposeB), transposeB ? dev(bt).transpose(-1, -2) : dev(bm)], attrs);
          expect(b.stats.device.matmul).toBe(before + 1);
          const want = ref('matmul', [a, bm], attrs);
          expectClose(got, want, accumulationTol(ref('matmul', [abs(a), abs(bm)], attrs), k), 'matmul');
        }),
        { numRuns: RUNS },
      );
    });

    it('conv2d and both gradients match the reference (stride, padding, dilation, groups)', () => {
      fc.assert(
        fc.property(
          fc.record({ n: dims(2), groups: dims(2), cg: dims(2), og: dims(2), h: dims(7), w: dims(7), kh: dims(3), kw: dims(3), s: dims(2), p: fc.integer({ min: 0, max: 2 }), d: dims(2) }),
          seed,
          (c, s) => {
            const opts = { stride: c.s, padding: c.p, dilation: c.d, groups: c.groups };
            const C = c.cg * c.groups;
            const O = c.og * c.groups;
            let geo;
            try {
              geo = convGeometry('conv2d', [c.n, C, c.h, c.w], [O, c.cg, c.kh, c.kw], opts);
            } catch {
              return; // the kernel does not fit: nothing to compare
            }
            const g = new Generator(s);
            const x = randn([c.n, C, c.h, c.w], g);
            const w = randn([O, c.cg, c.kh, c.kw], g);
            const dy = randn([c.n, O, geo.oh, geo.ow], g);
            const attrs = { geo, dtype: 'float32' as const };
            const taps = c.cg * c.kh * c.kw;
            const y = b.kernels.conv2d!([dev(x), dev(w, true)], attrs);
            expectClose(y, ref('conv2d', [x, w], attrs), accumulationTol(ref('conv2d', [abs(x), abs(w)], attrs), taps), 'conv2d');
            const dx = b.kernels.conv2dBackwardInput!([dev(dy, true), dev(w)], attrs);
            expectClose(dx, ref('conv2dBackwardInput', [dy, w], attrs), accumulationTol(ref('conv2dBackwardInput', [abs(dy), abs(w)], attrs), c.og * c.kh * c.kw), 'conv2dBackwardInput');
            const dw = b.kernels.conv2dBackwardWeight!([dev(x), dev(dy)], attrs);
            const terms = c.n * geo.oh * geo.ow;
            expectClose(dw, ref('conv2dBackwardWeight', [x, dy], attrs), accumulationTol(ref('conv2dBackwardWeight', [abs(x), abs(dy)], attrs), terms), 'conv2dBackwardWeight');
          },
        ),
        { numRuns: RUNS },
      );
      expect(b.stats.device.conv2d).toBeGreaterThan(0);
      expect(b.stats.device.conv2dBackwardWeight).toBeGreaterThan(0);
    });

    it('binary elementwise ops broadcast like the reference, on views', () => {
      const ops = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
      fc.assert(
        fc.property(fc.array(dims(4), { minLength: 0, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.constantFrom(...ops), fc.boolean(), seed, (shape, ones, op, sliced, s) => {
          const g = new Generator(s);
          // b's shape: some axes set to 1 (broadcast), and sometimes fewer leading axes.
          const bShape = shape.map((d, i) => (ones[i] ? 1 : d)).slice(ones[3] ? 1 : 0);
          const a = randn(sliced ? [...shape, 3] : shape, g);
          const aView = sliced ? a.narrow(shape.length, 1, 1).squeeze(shape.length) : a;
          let y = randn(bShape, g);
          if (op === 'div') y = referenceKernels.add!([abs(y), tensor(0.5)], { shape: bShape, dtype: 'float32', computeDtype: 'float32' }); // away from 0
          const attrs = { shape, dtype: 'float32', computeDtype: 'float32' } as const;
          const aDev = sliced ? dev(a).narrow(shape.length, 1, 1).squeeze(shape.length) : dev(a);
          const got = b.kernels[op]!([aDev, dev(y, true)], attrs);
          const want = ref(op, [aView.contiguous(), y], attrs);
          // One float32 operation, rounded: half an ulp each (x4 slack for GLSL).
          const w = values(want);
          expectClose(got, want, (i) => 4 * U * Math.abs(w[i]!) + 1e-30, op);
        }),
        { numRuns: RUNS * 2 },
      );
    });

    it('unary elementwise ops match the reference', () => {
      const ops = ['neg', 'abs', 'square', 'relu', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'silu'] as const;
      const positive = new Set(['log', 'sqrt', 'rsqrt', 'reciprocal']);
      fc.assert(
        fc.property(fc.array(dims(5), { minLength: 0, maxLength: 3 }), fc.constantFrom(...ops), seed, (shape, op, s) => {
          let x = randn(shape, new Generator(s));
          if (positive.has(op)) x = referenceKernels.add!([abs(x), tensor(0.1)], { shape, dtype: 'float32', computeDtype: 'float32' });
          const got = b.kernels[op]!([dev(x)], { dtype: 'float32' });
          const want = ref(op, [x], { dtype: 'float32' });
          const w = values(want);
          expectClose(got, want, (i) => 2e-6 + 1e-5 * Math.abs(w[i]!), op);
        }),
        { numRuns: RUNS * 2 },
      );
    });

    it('sum, max and min over random axes match the reference (max/min exactly)', () => {
      fc.assert(
        fc.property(fc.array(dims(5), { minLength: 1, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean(), fc.constantFrom('sum', 'max', 'min'), fc.boolean(), seed, (shape, pick, keepdims, op, permuted, s) => {
          const x0 = randn(shape, new Generator(s));
          const x = permuted && shape.length > 1 ? x0.transpose(0, -1) : x0;
          const axes = x.shape.map((_, i) => i).filter((i) => pick[i]);
          const attrs = { axes, keepdims, dtype: 'float32' as const };
          const xd = permuted && shape.length > 1 ? dev(x0, true).transpose(0, -1) : dev(x0, true);
          const got = b.kernels[op]!([xd], attrs);
          const want = ref(op, [x], attrs);
          const m = axes.reduce((p, a) => p * x.shape[a]!, 1);
          const tol = op === 'sum' ? accumulationTol(ref('sum', [abs(x)], attrs), m) : () => 0;
          expectClose(got, want, tol, `${op} over [${axes}]`);
        }),
        { numRuns: RUNS * 2 },
      );
    });

    it('a large sum takes the two-pass path and stays within the float32 bound', () => {
      const x = randn([70_000], new Generator(7));
      const attrs = { axes: [0], keepdims: false, dtype: 'float32' as const };
      const compiled = b.stats.compiled;
      const got = b.kernels.sum!([dev(x)], attrs);
      expect(b.stats.compiled - compiled).toBe(2); // two passes, two kernels
      // Two float32 passes of ~sqrt(n) terms each: error <= (2 sqrt(n) + 2) 4u sum|x|.
      expectClose(got, ref('sum', [x], attrs), accumulationTol(ref('sum', [abs(x)], attrs), 2 * Math.sqrt(70_000)), 'sum 70k');
    });

    it('softmax and log-softmax along any axis match the reference', () => {
      fc.assert(
        fc.property(fc.array(dims(6), { minLength: 1, maxLength: 3 }), fc.nat(2), fc.boolean(), seed, (shape, axisPick, log, s) => {
          const axis = axisPick % shape.length;
          const x = referenceKernels.mul!([randn(shape, new Generator(s)), tensor(3)], { shape, dtype: 'float32', computeDtype: 'float32' });
          const op = log ? 'logSoftmax' : 'softmax';
          const got = b.kernels[op]!([dev(x)], { axis, dtype: 'float32' });
          const want = ref(op, [x], { axis, dtype: 'float32' });
          // exp and log to a few ulp, the row sum of <= 6 terms in float32: 2e-6 absolute + 1e-5 relative.
          const w = values(want);
          expectClose(got, want, (i) => 2e-6 + 1e-5 * Math.abs(w[i]!), op);
        }),
        { numRuns: RUNS },
      );
    });

    it('ops without a device kernel fall through to cpu and stay on this backend', () => {
      const prev = currentBackend();
      const x = randn([3, 4], new Generator(3));
      const xd = dev(x, true);
      const got = b.kernels.gelu!([xd], { dtype: 'float32' });
      expect(got.backend).toBe(name);
      expect(b.stats.cpu.gelu).toBeGreaterThan(0);
      expectClose(got, ref('gelu', [x], { dtype: 'float32' }), () => 0, 'gelu via cpu');
      // int32 tensors never go to the device.
      const i = new Tensor(b.fromHost(new Int32Array([1, 2, 3])), [3]);
      const s = b.kernels.sum!([i], { axes: [0], keepdims: false, dtype: 'int32' });
      expect(s.toArray()).toBe(6);
      expect(currentBackend()).toBe(prev);
    });

    it('whole ops run on the current backend when it is this one (views, contiguous, chains)', () => {
      const prev = currentBackend();
      setBackend(name);
      try {
        const g = new Generator(11);
        const a = randn([4, 5], g);
        const w = randn([5, 3], g);
        expect(a.backend).toBe(name);
        const y = matmul(a.T.contiguous().T, w).relu().add(1).softmax(0);
        const want = (() => {
          setBackend('cpu');
          const ac = tensor(a.toArray());
          const wc = tensor(w.toArray());
          return matmul(ac, wc).relu().add(1).softmax(0);
        })();
        setBackend(name);
        expect(y.backend).toBe(name);
        expectClose(y, want, () => 1e-5, 'chain');
        const x = randn([1, 2, 5, 5], g);
        const k = randn([3, 2, 3, 3], g);
        expect(conv2d(x, k, null, { padding: 1 }).shape).toEqual([1, 3, 5, 5]);
        const geo = convGeometry('conv2d', x.shape, k.shape, { padding: 1 });
        expect(conv2dBackwardInput(randn([1, 3, 5, 5], g), k, geo).shape).toEqual([1, 2, 5, 5]);
        expect(conv2dBackwardWeight(x, randn([1, 3, 5, 5], g), geo).shape).toEqual([3, 2, 3, 3]);
      } finally {
        setBackend(prev);
      }
    });

    it('results stay on the device until read, and dispose / deviceScope release them', async () => {
      const g = new Generator(5);
      const a = dev(randn([8, 8], g), true);
      const base = liveTextureCount();
      const y = b.kernels.relu!([b.kernels.matmul!([a, a], { batch: [], m: 8, n: 8, k: 8, dtype: 'float32' })], { dtype: 'float32' });
      // Only GL modes have device memory; webasm and cpu results are host arrays, and say so.
      expect(isDeviceResident(y)).toBe(mode === 'headlessgl');
      if (mode === 'headlessgl') expect(liveTextureCount()).toBe(base + 2);
      const first = values(y);
      expect(isDeviceResident(y)).toBe(false); // read back once, texture released
      expect(values(y)).toEqual(first);
      const z = b.kernels.exp!([a], { dtype: 'float32' });
      disposeTensor(z);
      expect(() => z.toTypedArray()).toThrow(/disposed/);

      const before = liveTextureCount();
      let inner: Tensor | null = null;
      const kept = await deviceScope(async () => {
        const t1 = b.kernels.exp!([a], { dtype: 'float32' });
        await new Promise((r) => setTimeout(r, 1));
        inner = b.kernels.neg!([t1], { dtype: 'float32' });
        const t3 = b.kernels.add!([inner, t1], { shape: [8, 8], dtype: 'float32', computeDtype: 'float32' });
        return { t3 };
      });
      if (mode === 'headlessgl') {
        expect(liveTextureCount()).toBe(before + 1); // only the returned t3 is left
        expect(isDeviceResident(kept.t3)).toBe(true);
        expect(() => inner!.toTypedArray()).toThrow(/disposed/);
      }
      expect(values(kept.t3).every((v) => v === 0)).toBe(true); // -exp(a) + exp(a)
    });

    it("selectBackend('auto') picks gpujs only for a real GPU", async () => {
      const prev = currentBackend();
      const warn = console.warn;
      console.warn = () => {};
      try {
        const r = await selectBackend('auto');
        expect(r.backend).toBe(r.reason.startsWith('a real GPU') ? 'gpujs' : 'cpu');
        expect(currentBackend()).toBe(r.backend);
      } finally {
        console.warn = warn;
        setBackend(prev);
      }
    });
  });
}

describe('selectBackend', () => {
  it('reads OCLT_BACKEND when no choice is given, and rejects unknown names clearly', async () => {
    const prevEnv = process.env.OCLT_BACKEND;
    const prev = currentBackend();
    try {
      process.env.OCLT_BACKEND = 'cpu';
      expect((await selectBackend()).backend).toBe('cpu');
      process.env.OCLT_BACKEND = 'tpu';
      await expect(selectBackend()).rejects.toThrow(/unknown backend 'tpu'.*cpu, gpujs, gpujs:<mode> or auto/);
      await expect(initGpujs({ mode: 'webgpu' as GpujsMode, register: false })).rejects.toThrow(loadError ? /gpu.js could not be loaded/ : /'webgpu' is not supported.*asynchronously/);
    } finally {
      if (prevEnv === undefined) delete process.env.OCLT_BACKEND;
      else process.env.OCLT_BACKEND = prevEnv;
      setBackend(prev);
    }
  });
});
