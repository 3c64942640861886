/** Stochastic gradient descent with momentum, as `torch.optim.SGD` computes it. */
import type { TypedArray } from '@oclt/tensor';
import { Optimizer, checkNonNegative, type ParamsInput } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * PyTorch's update, per parameter p with gradient g:
 *   g <- g + weightDecay * p
 *   b <- g on the first step, else momentum * b + (1 - dampening) * g        (only when momentum > 0)
 *   g <- g + momentum * b if nesterov, else b
 *   p <- p - lr * g
 * Buffer: `momentum_buffer`.
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: ParamsInput, opts: SGDOptions) {
    super('SGD', params, opts.lr);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    checkNonNegative('SGD', { momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay });
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('SGD: nesterov needs momentum > 0 and dampening = 0');
  }

  protected update(i: number, p: TypedArray, g: ArrayLike<number>): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = this;
    const first = !this.hasBuffer(i, 'momentum_buffer');
    const buf = momentum > 0 ? this.buffer(i, 'momentum_buffer') : null;
    for (let k = 0; k < p.length; k++) {
      let d = g[k]! + weightDecay * p[k]!;
      if (buf) {
        buf[k] = first ? d : momentum * buf[k]! + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[k]! : buf[k]!;
      }
      p[k] = p[k]! - lr * d;
    }
  }

  protected hyper(): Record<string, number | boolean> {
    return { momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov };
  }
}
