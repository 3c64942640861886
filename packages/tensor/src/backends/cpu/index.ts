/**
 * The cpu backend. Storage is a plain typed array. `referenceKernels` are the plain-TypeScript kernels: readable,
 * float64-accumulating, and the oracle every faster kernel is tested against.
 */
import type { Backend, KernelTable, Storage } from '../../backend.js';
import { dtypeOfArray, type DType, type TypedArray } from '../../dtype.js';
import { disposedError } from '../../memory.js';
import { isHeapArray } from './wasm/heap.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { reduceKernels } from './kernels/reduce.js';
import { softmaxKernels } from './kernels/softmax.js';
import { matmulKernels } from './kernels/matmul.js';
import { convKernels } from './kernels/conv.js';
import { poolKernels } from './kernels/pool.js';
import { indexingKernels } from './kernels/indexing.js';

/** Every declared kernel (kernel-names.ts): the compiler checks that none is missing. */
export const referenceKernels: Readonly<KernelTable> = Object.freeze({
  ...elementwiseKernels,
  ...reduceKernels,
  ...softmaxKernels,
  ...matmulKernels,
  ...convKernels,
  ...poolKernels,
  ...indexingKernels,
});

/** Where new float32 storage may come from instead of a plain array (the fast kernels' heap); see wasm/index.ts. */
let storageAllocator: ((dtype: DType, length: number) => Storage | null) | null = null;
export function setCpuStorageAllocator(fn: typeof storageAllocator): void {
  storageAllocator = fn;
}

export function createCpuBackend(): Backend {
  return {
    name: 'cpu',
    kernels: { ...referenceKernels },
    fromHost(data: TypedArray): Storage {
      // An array in the fast kernels' memory belongs to another storage, which may free it: take a copy.
      if (isHeapArray(data)) data = data.slice() as TypedArray;
      return { backend: 'cpu', dtype: dtypeOfArray(data), length: data.length, data };
    },
    allocate(dtype: DType, length: number): Storage | null {
      return storageAllocator?.(dtype, length) ?? null;
    },
    toHost(storage: Storage): TypedArray {
      if (!storage.data) throw storage.disposed ? disposedError('read') : new Error('cpu storage without data');
      return storage.data;
    },
    dispose(storage: Storage): void {
      if (storage.disposed) return;
      storage.disposed = true;
      storage.data = null;
      storage.free?.();
    },
    info: () => 'cpu:reference (plain TypeScript)',
  };
}
