/**
 * The recording half of autograd. Every op goes through `record`: when gradients are enabled and an input
 * requires them, the output remembers which op made it, from which inputs and with which attributes. The
 * other half, the gradient table and the backward pass, lives in @oclt/autograd: this package only records.
 */
import type { Tensor } from './tensor.js';

export interface GradNode {
  /** The op name, the key of the gradient table. */
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly attrs: any;
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
export function record(op: string, inputs: readonly Tensor[], attrs: any, out: Tensor): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs: [...inputs], attrs };
  }
  return out;
}
