/**
 * @oclt/tensor: a from-scratch tensor engine. See README.md at the repository root for a tour.
 */
import { registerBackend } from './backend.js';
import { createCpuBackend } from './backends/cpu/index.js';
import { initCpuKernels } from './backends/cpu/wasm/index.js';

registerBackend(createCpuBackend());
// The fast WebAssembly kernels override the hot reference kernels, unless OCLT_CPU=reference.
initCpuKernels();

export { Tensor, type TensorLike, setBackwardHook } from './tensor.js';
export * from './dtype.js';
export * from './shape.js';
export { Generator } from './random.js';
export { registerBackend, registerKernel, registerKernels, getBackend, setBackend, currentBackend, listBackends, findKernel, type Backend, type KernelFn, type KernelTable, type Storage } from './backend.js';
export * from './kernel-names.js';
export { tidy, keep, dispose } from './memory.js';
export { isGradEnabled, noGrad, noGradAsync, setGradEnabled, record, type GradNode } from './tape.js';
export * from './ops/creation.js';
export * from './ops/elementwise.js';
export * from './ops/movement.js';
export * from './ops/reduce.js';
export * from './ops/softmax.js';
export * from './ops/matmul.js';
export * from './ops/conv.js';
export * from './ops/pool.js';
export * from './ops/indexing.js';
export * from './ops/join.js';
export { referenceKernels, createCpuBackend } from './backends/cpu/index.js';
export { copyInto } from './backends/cpu/kernels/elementwise.js';
export { toNdarray, fromNdarray, type NdArrayLike } from './interop.js';
export { formatTensor } from './format.js';
export { profile, profileAsync, profileSection, profileScope, profileGradient, isProfiling, forwardScopeOf, kindOf, profileMarkdown, type Profile, type ProfileEntry, type ProfileTotal, type ProfileOptions } from './profile.js';
export { setCpuKernels, cpuThreads, cpuThreadsReady, cpuKernelsInfo, cpuResultLimit, cpuMemoryInfo, type CpuKernelMode, type CpuKernelOptions } from './backends/cpu/wasm/index.js';
