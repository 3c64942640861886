/** conv2d and its two gradients via im2col / col2im + the WebAssembly GEMM. */
import type { KernelFn } from '../../../backend.js';
import type { WasmRuntime } from './runtime.js';

export function wasmConvKernels(_rt: () => WasmRuntime): Record<string, KernelFn> {
  return {};
}
