/**
 * The recording half of autograd. Every op goes through `record`: when gradients are enabled and an input
 * requires them, the output remembers which op made it, from which inputs and with which attributes. The
 * other half, the gradient table and the backward pass, lives in @oclt/autograd: this package only records.
 */
import type { OpAttrs, OpName } from './kernel-names.js';
import type { Tensor } from './tensor.js';

export interface GradNode<N extends OpName = OpName> {
  /** The op name (declared in kernel-names.ts), the key of the gradient table. */
  readonly op: N;
  readonly inputs: readonly Tensor[];
  /** What the op recorded for its gradient (typed from kernel-names.ts). */
  readonly attrs: OpAttrs<N>;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording (sync). Nested calls restore the previous mode. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const out = fn();
    if (out instanceof Promise) {
      throw new Error('noGrad: fn returned a Promise; use noGradAsync for async code');
    }
    return out;
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Runs an async `fn` without recording. Grad mode is a global flag, so other work interleaved on the event loop
 * while `fn` awaits also runs without recording: do not train concurrently with an async no-grad block.
 */
export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Sets grad mode explicitly (like torch.set_grad_enabled); returns the previous mode. */
export function setGradEnabled(enabled: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = enabled;
  return prev;
}

/** Marks `out` as produced by `op` when any input requires gradients. Returns `out`. */
export function record<N extends OpName>(op: N, inputs: readonly Tensor[], attrs: OpAttrs<N>, out: Tensor): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs: [...inputs], attrs };
  }
  return out;
}
