/**
 * The gpujs backend of @oclt/tensor: heavy ops (matmul, conv2d and its two gradients, elementwise with
 * broadcasting, sum/max/min, softmax/log-softmax, strided copies) as gpu.js kernels; every other op falls
 * through to the cpu kernels, which read the inputs back.
 *
 * Nothing happens on import. `await initGpujs({ mode })` loads gpu.js (dynamically: it is an optional
 * dependency, and its native parts, headless-gl and Dawn, may fail to load), finds out what really runs, and
 * registers the backend; `await selectBackend('auto' | 'gpujs' | 'cpu')` (default: env OCLT_BACKEND, else cpu)
 * also makes it current. `backendInfo()` says what runs, e.g. `gpujs:headlessgl (mesa swrast_dri.so: llvmpipe
 * software renderer)`. See README.md in this folder.
 */
import { currentBackend, getBackend, registerBackend, setBackend, type Backend, type KernelFn, type Storage } from '../../backend.js';
import { dtypeOfArray, type TypedArray } from '../../dtype.js';
import { sizeOf } from '../../shape.js';
import { Tensor } from '../../tensor.js';
import { createCpuBackend } from '../cpu/index.js';
import { glRenderer, probeWebGPU, type GpujsDetection, type GpujsMode } from './detect.js';
import { isTexture, makeStorage, readBack, disposeStorage, isGpujsStorage, type GpujsTexture } from './memory.js';
import type { Device, DeviceKernel, DeviceKernelTable } from './kernels/device.js';
import type { KernelName } from '../../kernel-names.js';
import { elementwiseDeviceKernels } from './kernels/elementwise.js';
import { reduceDeviceKernels } from './kernels/reduce.js';
import { matmulDeviceKernels } from './kernels/matmul.js';
import { convDeviceKernels } from './kernels/conv.js';

export { deviceScope, deviceScopeIsAsyncExact, disposeTensor, isDeviceResident, liveTextureCount } from './memory.js';
export type { GpujsDetection, GpujsMode } from './detect.js';
export { MAX_DEVICE_ELEMENTS } from './kernels/device.js';

/** Every device kernel, by kernel-registry name. */
export const deviceKernels: Readonly<DeviceKernelTable> = Object.freeze({
  ...elementwiseDeviceKernels,
  ...reduceDeviceKernels,
  ...matmulDeviceKernels,
  ...convDeviceKernels,
});

/** Counts of where each op ran, so that tests (and curious users) can check the device really did the work. */
export interface GpujsStats {
  device: Record<string, number>;
  cpu: Record<string, number>;
  /** Distinct gpu.js kernel classes that compiled kernels ended up with (gpu.js may degrade one to CPUKernel). */
  kernelClasses: Set<string>;
  compiled: number;
}

export interface GpujsBackend extends Backend {
  readonly detection: GpujsDetection;
  readonly stats: GpujsStats;
  /** Copies a tensor's elements into device memory once (a host tensor is otherwise uploaded at every use). */
  toDevice(t: Tensor): Tensor;
  /** Releases the gpu.js instance and its compiled kernels. */
  destroy(): void;
}

export interface GpujsOptions {
  /** gpu.js mode; 'auto' lets gpu.js choose (headlessgl, webgl2, webgl, then webasm). Default 'auto'. */
  mode?: GpujsMode | 'auto';
  /** Registry name; default 'gpujs'. Benchmarks register several modes side by side under other names. */
  name?: string;
  /** Register the backend (default true). */
  register?: boolean;
  /** Ask for a WebGPU adapter, to report it (default true). */
  probeWebGPU?: boolean;
  /** Compiled kernels kept per backend (least recently used ones are destroyed). Default 256. */
  cacheSize?: number;
}

// Types of the few gpu.js members used here (gpu.js's own typings lag its API).
interface GpuKernelRun {
  (...args: unknown[]): unknown;
  kernel?: { constructor: { name: string; mode?: string }; fallbackReason?: string | null; context?: unknown };
  destroy?(): void;
}
interface GpuInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpuKernelRun;
  destroy(): void;
}
interface GpuModule {
  GPU: { new (settings: { mode?: string }): GpuInstance; isHeadlessGLSupported: boolean };
}

let gpujsModule: Promise<GpuModule> | null = null;

/** Loads gpu.js once. A failure (not installed; a native part broken) rejects with the reason. */
export function loadGpujs(): Promise<GpuModule> {
  gpujsModule ??= (async () => {
    const spec = 'gpu.js';
    const mod = (await import(/* @vite-ignore */ spec)) as GpuModule & { default?: GpuModule };
    const GPU = mod.GPU ?? mod.default?.GPU;
    if (!GPU) throw new Error('gpu.js loaded but exports no GPU class');
    return { GPU };
  })().catch((err) => {
    gpujsModule = null;
    // gpu.js is an optional peer dependency (it pulls native builds a CPU user does not need): say how to get it.
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'gpu\.js'/.test((err as Error).message);
    const hint = missing ? ' (gpu.js is an optional peer dependency of @oclt/tensor: `npm install gpu.js` to use the gpujs backend)' : '';
    throw new Error(`gpu.js could not be loaded: ${(err as Error).message}${hint}`);
  });
  return gpujsModule;
}

/** HeadlessGLKernel inherits WebGLKernel's static mode, so the class name is what tells the modes apart. */
const MODE_OF_CLASS: Record<string, string> = {
  HeadlessGLKernel: 'headlessgl',
  WebGL2Kernel: 'webgl2',
  WebGLKernel: 'webgl',
  WebGPUKernel: 'webgpu',
  WebAssemblyKernel: 'webasm',
  CPUKernel: 'cpu',
};

const GL_MODES = new Set(['headlessgl', 'webgl', 'webgl2']);

/** Settings shared by every kernel: flat float32 outputs that stay on the device until read. */
function kernelSettings(length: number): Record<string, unknown> {
  return {
    output: [length],
    pipeline: true,
    immutable: true, // a new texture per call: results of earlier calls stay valid
    precision: 'single',
    tactic: 'precision',
    loopMaxIterations: 1 << 24,
  };
}

/** Runs a tiny kernel to find the class that really executes, and checks its answer. */
function probe(gpu: GpuInstance): { kernelClass: string; runs: string; fallbackReason: string | null; context: unknown } {
  const k = gpu.createKernel('function(a) { return a[this.thread.x] * 2.0 + 1.0; }', kernelSettings(3));
  const out = k(new Float32Array([1, 2, 3]));
  const values = isTexture(out) ? (out.toArray() as Float32Array) : (out as Float32Array);
  if (isTexture(out)) out.delete();
  if (Math.abs(values[0]! - 3) + Math.abs(values[1]! - 5) + Math.abs(values[2]! - 7) > 1e-6) {
    throw new Error(`gpu.js probe kernel computed [${Array.from(values)}], expected [3, 5, 7]`);
  }
  const kernel = k.kernel!;
  const kernelClass = kernel.constructor.name;
  const result = { kernelClass, runs: MODE_OF_CLASS[kernelClass] ?? kernel.constructor.mode ?? 'unknown', fallbackReason: kernel.fallbackReason ?? null, context: kernel.context };
  k.destroy?.();
  return result;
}

function describe(runs: string, renderer: string): string {
  if (GL_MODES.has(runs)) return `gpujs:${runs} (${renderer})`;
  if (runs === 'webasm') return 'gpujs:webasm (WebAssembly SIMD on the CPU, single thread; no GL context)';
  if (runs === 'cpu') return 'gpujs:cpu (gpu.js JavaScript kernels on the CPU)';
  return `gpujs:${runs}`;
}

/** Loads gpu.js, finds out what runs, and (by default) registers the backend. Does not make it current. */
export async function initGpujs(opts: GpujsOptions = {}): Promise<GpujsBackend> {
  const { GPU } = await loadGpujs();
  const requested = opts.mode ?? 'auto';
  if ((requested as string) === 'webgpu') {
    throw new Error("initGpujs: mode 'webgpu' is not supported: gpu.js runs webgpu kernels asynchronously, and ops here are synchronous (see the README)");
  }
  const gpu = new GPU({ mode: requested === 'auto' ? 'gpu' : requested });
  const p = probe(gpu);
  const gl = GL_MODES.has(p.runs) ? glRenderer(p.context) : { renderer: 'no GL', realGpu: false };
  const webGPU = opts.probeWebGPU === false ? { available: false, detail: 'not probed' } : await probeWebGPU();
  const detection: GpujsDetection = {
    requested: requested === 'auto' ? 'gpu' : requested,
    runs: p.runs,
    kernelClass: p.kernelClass,
    fallbackReason: p.fallbackReason,
    headlessGLSupported: Boolean(GPU.isHeadlessGLSupported),
    webGPU,
    renderer: gl.renderer,
    realGpu: gl.realGpu,
    summary: describe(p.runs, gl.renderer),
  };
  const backend = createGpujsBackend(gpu, detection, opts.name ?? 'gpujs', opts.cacheSize ?? 256);
  if (opts.register !== false) {
    // The cpu backend must exist for the fall-through path, even if only this entry point was imported.
    try {
      getBackend('cpu');
    } catch {
      registerBackend(createCpuBackend());
    }
    registerBackend(backend);
  }
  return backend;
}

function createGpujsBackend(gpu: GpuInstance, detection: GpujsDetection, name: string, cacheSize: number): GpujsBackend {
  const cache = new Map<string, GpuKernelRun>();
  const stats: GpujsStats = { device: {}, cpu: {}, kernelClasses: new Set(), compiled: 0 };

  const argOf = (t: Tensor): Float32Array | GpujsTexture => {
    const s = t.storage;
    if (s.backend !== name || !isGpujsStorage(s)) throw new Error(`${name}: kernel input lives on backend '${s.backend}'`);
    const st = s.handle;
    if (st.disposed) throw new Error(`${name}: a kernel input (shape [${t.shape}]) was disposed`);
    if (st.texture) return st.texture;
    const host = st.host!;
    if (!(host instanceof Float32Array)) throw new Error(`${name}: device kernels take float32, got ${s.dtype}`);
    return host;
  };

  const device: Device = {
    name,
    run(source, shape, args) {
      const length = Math.max(1, sizeOf(shape));
      const values = args.map(argOf);
      const signature = values.map((v, i) => `${isTexture(v) ? 't' : 'a'}${args[i]!.storage.length}`).join(',');
      const key = `${length}|${signature}|${source}`;
      let kernel = cache.get(key);
      if (kernel) {
        cache.delete(key); // re-insert: the Map's order is the recency order
      } else {
        kernel = gpu.createKernel(source, kernelSettings(length));
        stats.compiled++;
        if (cache.size >= cacheSize) {
          const [oldKey, old] = cache.entries().next().value as [string, GpuKernelRun];
          cache.delete(oldKey);
          old.destroy?.();
        }
      }
      cache.set(key, kernel);
      const result = kernel(...values) as Float32Array | GpujsTexture;
      if (kernel.kernel) stats.kernelClasses.add(kernel.kernel.constructor.name);
      return new Tensor(makeStorage(name, 'float32', length, result), shape);
    },
  };

  /** A cpu kernel's result, moved onto this backend if the current backend is another one. */
  const adopt = (out: Tensor): Tensor => {
    if (out.storage.backend === name) return out;
    const host = getBackend(out.storage.backend).toHost(out.storage);
    return new Tensor(makeStorage(name, dtypeOfArray(host), host.length, host), out.shape, out.strides, out.offset);
  };

  // (Any kernel: the device kernel and the cpu kernel of one name take the same attributes.)
  const kernelFor = (op: KernelName): KernelFn => {
    const dev: DeviceKernel | undefined = deviceKernels[op];
    return (inputs, attrs) => {
      if (dev) {
        const out = dev(device, inputs, attrs);
        if (out) {
          stats.device[op] = (stats.device[op] ?? 0) + 1;
          return out;
        }
      }
      const cpu: KernelFn | undefined = getBackend('cpu').kernels[op];
      if (!cpu) throw new Error(`${name}: no kernel '${op}' on the device or on cpu`);
      stats.cpu[op] = (stats.cpu[op] ?? 0) + 1;
      return adopt(cpu(inputs, attrs));
    };
  };

  // Every cpu kernel name gets an entry, so that results stay on this backend whatever the current backend is.
  let cpuNames: KernelName[] = [];
  try {
    cpuNames = Object.keys(getBackend('cpu').kernels) as KernelName[];
  } catch {
    cpuNames = Object.keys(createCpuBackend().kernels) as KernelName[];
  }
  const kernels: Record<string, KernelFn> = {};
  for (const op of new Set([...cpuNames, ...(Object.keys(deviceKernels) as KernelName[])])) kernels[op] = kernelFor(op);

  return {
    name,
    kernels,
    detection,
    stats,
    fromHost(data: TypedArray): Storage {
      return makeStorage(name, dtypeOfArray(data), data.length, data);
    },
    toHost(storage: Storage): TypedArray {
      if (!isGpujsStorage(storage)) throw new Error(`${name}: toHost got storage of backend '${storage.backend}'`);
      return readBack(storage.handle, storage.length, name);
    },
    dispose(storage: Storage): void {
      disposeStorage(storage);
    },
    info: () => detection.summary,
    toDevice(t: Tensor): Tensor {
      const copy = deviceKernels.copy!(device, [t], {});
      if (!copy) throw new Error(`${name}: toDevice needs a non-empty float32 tensor below 2^24 elements, got ${t.dtype} [${t.shape}]`);
      return copy;
    },
    destroy(): void {
      for (const k of cache.values()) k.destroy?.();
      cache.clear();
      gpu.destroy();
    },
  };
}

// ---- choosing the backend ----------------------------------------------------------------------------------

export type BackendChoice = 'cpu' | 'gpujs' | 'auto' | `gpujs:${GpujsMode}`;

let autoReasonLogged = false;

/**
 * Makes 'cpu', 'gpujs' (gpu.js's own choice of mode), 'gpujs:<mode>' or 'auto' the current backend. The
 * default comes from the environment variable OCLT_BACKEND, else 'cpu'. 'auto' picks gpujs only where kernels
 * run on a real GPU; otherwise cpu (its reference kernels beat gpu.js's CPU modes), logging the reason once.
 * Returns what was chosen and why.
 */
export async function selectBackend(choice?: BackendChoice): Promise<{ backend: string; info: string; reason: string }> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.OCLT_BACKEND;
  const wanted = (choice ?? env ?? 'cpu') as string;
  if (wanted === 'cpu') {
    setBackend('cpu');
    return { backend: 'cpu', info: backendInfo(), reason: 'asked for cpu' };
  }
  if (wanted === 'gpujs' || wanted.startsWith('gpujs:')) {
    const mode = wanted === 'gpujs' ? 'auto' : (wanted.slice(6) as GpujsMode);
    const b = await initGpujs({ mode });
    setBackend(b.name);
    return { backend: b.name, info: b.info(), reason: `asked for ${wanted}` };
  }
  if (wanted !== 'auto') throw new Error(`selectBackend: unknown backend '${wanted}'; expected cpu, gpujs, gpujs:<mode> or auto`);
  let reason: string;
  try {
    const b = await initGpujs({ mode: 'auto' });
    if (b.detection.realGpu) {
      setBackend(b.name);
      return { backend: b.name, info: b.info(), reason: `a real GPU answers: ${b.detection.renderer}` };
    }
    reason = `gpu.js would run ${b.info()}, not a real GPU`;
  } catch (err) {
    reason = (err as Error).message;
  }
  setBackend('cpu');
  if (!autoReasonLogged) {
    autoReasonLogged = true;
    console.warn(`[oclt] backend auto: using cpu (${reason})`);
  }
  return { backend: 'cpu', info: backendInfo(), reason };
}

/** One line saying what the current backend really runs. */
export function backendInfo(): string {
  return getBackend(currentBackend()).info();
}
