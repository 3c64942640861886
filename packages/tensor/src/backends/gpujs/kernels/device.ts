/** What a gpujs kernel sees of the backend: run generated source over a flat output, wrap results as tensors. */
import type { KernelAttrs, KernelName } from '../../../kernel-names.js';
import type { Tensor } from '../../../tensor.js';

/** Device kernels compute in float32 with float32 index arithmetic: exact below 2^24 elements. */
export const MAX_DEVICE_ELEMENTS = 2 ** 24;

export interface Device {
  readonly name: string;
  /**
   * Runs kernel `source` (a `function (...)` string) with one thread per output element and the storages of
   * `args` as its array arguments (in order); returns a contiguous float32 tensor of `shape` on this backend.
   */
  run(source: string, shape: readonly number[], args: readonly Tensor[]): Tensor;
}

/**
 * The device kernel of `N` (kernel-names.ts), with its attributes typed from the declaration (`DeviceKernel`
 * alone: any device kernel, attributes untyped). It returns null when it does not handle these inputs (another
 * dtype, an empty or too large tensor); the backend then runs the cpu kernel instead.
 */
export type DeviceKernel<N extends KernelName = never> = (dev: Device, inputs: Tensor[], attrs: [N] extends [never] ? any : KernelAttrs<N>) => Tensor | null;

/** A device kernel per declared name that has one. */
export type DeviceKernelTable = { [N in KernelName]?: DeviceKernel<N> };

/** True when every tensor is float32, non-empty, and addressable with float32 indices. */
export function deviceCanRun(outSize: number, ...ts: Tensor[]): boolean {
  if (outSize === 0 || outSize >= MAX_DEVICE_ELEMENTS) return false;
  return ts.every((t) => t.dtype === 'float32' && t.size > 0 && t.storage.length < MAX_DEVICE_ELEMENTS);
}
