/**
 * kernel-names.ts against the backends: the compiler checks names and attributes wherever a kernel is registered,
 * found or recorded; these tests check what it cannot see (tables built at run time), so that the declarations and
 * the backends cannot drift apart.
 */
import { describe, expect, it } from 'vitest';
import { findKernel, getBackend, registerKernel, tensor, type KernelFn } from './index.js';
import * as T from './index.js';
import { createCpuBackend, referenceKernels } from './backends/cpu/index.js';
import { fastKernelNames } from './backends/cpu/wasm/index.js';
import { deviceKernels } from './backends/gpujs/index.js';
import { BINARY_KERNELS, isKernelName, isOpName, KERNEL_NAMES, KERNELS, OP_NAMES, RECORDED_OPS, UNARY_KERNELS, type KernelName } from './kernel-names.js';

const sorted = (names: readonly string[]) => [...names].sort();

/** What the fast cpu kernels (WebAssembly) implement; every other kernel runs the reference one on cpu. */
const WASM_KERNELS: KernelName[] = [
  'matmul', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum',
  'neg', 'abs', 'square', 'sqrt', 'relu', 'exp', 'sigmoid', 'silu',
  'copy', 'sum', 'max', 'min', 'softmax', 'logSoftmax',
];

/** What the gpujs backend runs on the device; every other kernel runs on cpu (inputs read back). */
const GPUJS_KERNELS: KernelName[] = [
  'neg', 'abs', 'square', 'relu', 'exp', 'log', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'silu',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum',
  'copy', 'sum', 'max', 'min', 'softmax', 'logSoftmax', 'matmul', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight',
];

/** Recorded op names that are no kernel's: the view ops (no kernel runs) and clone (which runs `copy`). */
const OPS_WITHOUT_KERNEL = ['reshape', 'permute', 'expand', 'slice', 'flip', 'clone'];

describe('kernel-names: the declared kernels and the backends', () => {
  it('the reference kernels implement every declared kernel and nothing else', () => {
    expect(sorted(Object.keys(referenceKernels))).toEqual(sorted(KERNEL_NAMES));
    for (const name of KERNEL_NAMES) expect(typeof referenceKernels[name], name).toBe('function');
    expect(sorted(Object.keys(createCpuBackend().kernels))).toEqual(sorted(KERNEL_NAMES));
  });

  it('the cpu backend in use has every declared kernel and nothing else', () => {
    expect(sorted(Object.keys(getBackend('cpu').kernels))).toEqual(sorted(KERNEL_NAMES));
  });

  it('the fast cpu kernels (wasm) cover the kernels listed here, all declared', () => {
    const names = fastKernelNames();
    for (const name of names) expect(isKernelName(name), name).toBe(true);
    expect(sorted(names)).toEqual(sorted(WASM_KERNELS));
  });

  it('the gpujs device kernels cover the kernels listed here, all declared', () => {
    const names = Object.keys(deviceKernels);
    for (const name of names) expect(isKernelName(name), name).toBe(true);
    expect(sorted(names)).toEqual(sorted(GPUJS_KERNELS));
  });

  it('the groups are part of KERNELS, and every declaration lists its inputs', () => {
    for (const name of [...Object.keys(UNARY_KERNELS), ...Object.keys(BINARY_KERNELS)]) expect(isKernelName(name), name).toBe(true);
    for (const name of KERNEL_NAMES) expect(KERNELS[name].inputs.length, name).toBeGreaterThan(0);
    expect(isKernelName('toString')).toBe(false);
  });

  it('every recorded op is a kernel, except the view ops and clone', () => {
    expect(OP_NAMES.filter((n) => !isKernelName(n))).toEqual(OPS_WITHOUT_KERNEL);
    expect(sorted(Object.keys(RECORDED_OPS))).toEqual(sorted(OP_NAMES));
    expect(isOpName('constructor')).toBe(false);
  });

  it('a unary or binary op records exactly when its name is in RECORDED_OPS', () => {
    const x = tensor([0.5, 1.5]).requiresGrad_();
    const ops = T as unknown as Record<string, (...args: unknown[]) => T.Tensor>;
    for (const name of Object.keys(UNARY_KERNELS)) expect(ops[name]!(x).node !== null, name).toBe(isOpName(name));
    for (const name of Object.keys(BINARY_KERNELS)) expect(ops[name]!(x, x).node !== null, name).toBe(isOpName(name));
  });

  it('an unknown kernel name is a type error (and a run-time miss)', () => {
    // @ts-expect-error 'addd' is not a declared kernel name
    expect(() => findKernel('addd', [tensor([1])])).toThrow(/no kernel 'addd'/);
    const original: KernelFn<'neg'> = referenceKernels.neg;
    // @ts-expect-error a kernel of neg takes UnaryAttrs, not { axis: number }
    const wrong: KernelFn<'neg'> = (inputs, attrs: { axis: number }) => original(inputs, { dtype: attrs.axis === 0 ? 'float32' : 'float64' });
    expect(typeof wrong).toBe('function');
    // Registering under a declared name with its attrs type checks (and is undone at once).
    const before = getBackend('cpu').kernels.neg!;
    registerKernel('cpu', 'neg', (inputs, attrs) => original(inputs, attrs));
    registerKernel('cpu', 'neg', before);
    expect(getBackend('cpu').kernels.neg).toBe(before);
  });
});
