/**
 * The backend interface and the kernel registry.
 *
 * Ops (src/ops/) validate their arguments, compute output shapes and dtypes, then call `runKernel(name, ...)`.
 * The registry finds the kernel for the backend the inputs live on; a backend that lacks a kernel falls
 * through to the cpu backend (inputs are read back to host memory). Kernels receive whole tensors, with their
 * layout (shape, strides, offset), so views never have to be copied before a kernel runs.
 *
 * Registration is explicit: a backend object carries its kernel table, and `registerBackend` installs it. No
 * module registers anything as a side effect of being imported, except that index.ts installs the cpu backend.
 */
import { AllocationError, type DType, type TypedArray } from './dtype.js';
import type { Tensor } from './tensor.js';
import { setStorageReleaser } from './memory.js';
import { fmtShape, TensorError } from './shape.js';
import type { KernelAttrs, KernelName } from './kernel-names.js';

/** Memory owned by a backend. The cpu backend keeps a typed array in `data`; device backends keep a handle. */
export interface Storage {
  readonly backend: string;
  readonly dtype: DType;
  readonly length: number;
  /** Host copy; always present on cpu. */
  data: TypedArray | null;
  /** Device handle (texture, buffer), backend-specific. */
  handle?: unknown;
  /** Frees memory the garbage collector does not manage (a block of the fast cpu kernels' heap). */
  free?: () => void;
  /** Set when the storage was released (`dispose`, or the end of its `tidy`); reads then throw. */
  disposed?: boolean;
}

/**
 * The kernel of `N` (a name declared in kernel-names.ts), whose attributes are typed from its declaration.
 * `KernelFn` without a name is any kernel, with its attributes untyped: for code that handles kernels whatever
 * their name (wrappers such as the registry's and the profiler's), never for an implementation.
 */
export type KernelFn<N extends KernelName = never> = (inputs: Tensor[], attrs: [N] extends [never] ? any : KernelAttrs<N>) => Tensor;

/** A kernel per declared name; a backend's table is a Partial one (the cpu backend fills in what it lacks). */
export type KernelTable = { [N in KernelName]: KernelFn<N> };

/** The kernels `names`, each made by `make`: for a group of kernels with one implementation (unary, binary, ...). */
export function kernelsOf<K extends KernelName>(names: readonly K[], make: (name: K) => KernelFn<K>): { [N in K]: KernelFn<N> } {
  return Object.fromEntries(names.map((n) => [n, make(n)])) as { [N in K]: KernelFn<N> };
}

export interface Backend {
  readonly name: string;
  /** Wraps or uploads a host array as storage of this backend. */
  fromHost(data: TypedArray): Storage;
  /**
   * New storage of `length` elements whose host array (contents undefined) the caller fills at once, when the
   * backend has a better place for it than a plain array; null otherwise.
   */
  allocate?(dtype: DType, length: number): Storage | null;
  /** Returns the storage's content as a host typed array (may read back from a device). */
  toHost(storage: Storage): TypedArray;
  /** Releases the storage now (see memory.ts): later reads throw. */
  dispose?(storage: Storage): void;
  readonly kernels: Partial<KernelTable>;
  /** One line that says what actually runs, e.g. `cpu:wasm-simd x2 threads`. */
  info(): string;
}

const backends = new Map<string, Backend>();
setStorageReleaser((s) => backends.get(s.backend)?.dispose?.(s));
let current = 'cpu';

export function registerBackend(backend: Backend): void {
  const table = backend.kernels as Record<string, KernelFn>;
  for (const [name, fn] of Object.entries(table)) table[name] = namedKernel(name, fn);
  backends.set(backend.name, backend);
}

/** Kernels already wrapped by `namedKernel`. */
const named = new WeakSet<KernelFn>();

/**
 * `fn` as the kernel of op `name`: an array it cannot allocate (beyond the largest typed array, or out of memory)
 * becomes a TensorError naming the op, the result's shape and the inputs' shapes, instead of V8's bare "Invalid
 * typed array length". Costs one call and a try block per op.
 */
function namedKernel(name: string, fn: KernelFn): KernelFn {
  if (named.has(fn)) return fn;
  const k: KernelFn = (inputs, attrs) => {
    try {
      return fn(inputs, attrs);
    } catch (e) {
      throw allocationFailure(name, inputs, attrs, e) ?? e;
    }
  };
  named.add(k);
  return k;
}

function allocationFailure(name: string, inputs: readonly Tensor[], attrs: unknown, e: unknown): TensorError | null {
  const failed = e instanceof AllocationError || (e instanceof RangeError && /Invalid typed array length|Array buffer allocation failed|Invalid array buffer length/.test(e.message));
  if (!failed) return null;
  const a = attrs as { shape?: unknown; batch?: unknown; m?: unknown; n?: unknown } | null;
  // Elementwise ops pass their result's shape; matmul its batch, m and n.
  const shape = Array.isArray(a?.shape) ? a.shape : Array.isArray(a?.batch) && typeof a.m === 'number' && typeof a.n === 'number' ? [...a.batch, a.m, a.n] : null;
  const result = shape ? `a result of shape ${fmtShape(shape)}` : 'its result';
  const err = new TensorError(name, `cannot allocate memory for ${result} (inputs ${inputs.map((t) => fmtShape(t.shape)).join(', ') || 'none'}): ${e.message}`);
  (err as { cause?: unknown }).cause = e;
  return err;
}

export function getBackend(name: string = current): Backend {
  const b = backends.get(name);
  if (!b) throw new Error(`backend '${name}' is not registered (registered: ${[...backends.keys()].join(', ')})`);
  return b;
}

/** Chooses the backend new tensors are created on. */
export function setBackend(name: string): void {
  getBackend(name);
  current = name;
}

export function currentBackend(): string {
  return current;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}

/** Overrides or adds one kernel of a backend (used by the fast cpu kernels and by tests). */
export function registerKernel<N extends KernelName>(backend: string, name: N, fn: KernelFn<N>): void {
  (getBackend(backend).kernels as Record<string, KernelFn>)[name] = namedKernel(name, fn);
}

/** Overrides or adds every kernel of `table` on a backend (`registerKernel` for each, in the table's order). */
export function registerKernels(backend: string, table: Partial<KernelTable>): void {
  for (const [name, fn] of Object.entries(table) as [KernelName, KernelFn][]) registerKernel(backend, name, fn);
}

/** Finds the kernel for the inputs' backend, falling back to cpu. */
export function findKernel<N extends KernelName>(name: N, inputs: readonly Tensor[]): { fn: KernelFn<N>; backend: Backend } {
  const backendName = inputs.length > 0 ? inputs[0]!.storage.backend : current;
  for (const t of inputs) {
    if (t.storage.backend !== backendName) {
      throw new Error(`${name}: inputs live on different backends ('${backendName}' and '${t.storage.backend}'); move them with .to(backend)`);
    }
  }
  const b = getBackend(backendName);
  const fn = b.kernels[name];
  if (fn) return { fn, backend: b };
  const cpu = getBackend('cpu');
  const cpuFn = cpu.kernels[name];
  if (!cpuFn) throw new Error(`no kernel '${name}' on backend '${backendName}' or cpu`);
  return { fn: cpuFn, backend: cpu };
}
