/** Elementwise, reduction and softmax kernels on the WebAssembly runtime. */
import type { KernelFn } from '../../../backend.js';
import type { WasmRuntime } from './runtime.js';

export function wasmVectorKernels(_rt: () => WasmRuntime): Record<string, KernelFn> {
  return {};
}
