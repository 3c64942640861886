/** Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as `torch.optim.Adam` / `AdamW` compute them. */
import type { TypedArray } from '@oclt/tensor';
import { Optimizer, checkNonNegative, type ParamsInput } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * PyTorch's Adam, per parameter p with gradient g at its step t (1-based):
 *   g <- g + weightDecay * p                          (Adam: L2 penalty folded into the gradient)
 *   m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * AdamW instead decays the weights directly before the moment update: p <- p (1 - lr weightDecay).
 * Buffers: `exp_avg` (m), `exp_avg_sq` (v).
 */
export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Decoupled weight decay (AdamW) instead of an L2 term in the gradient. */
  protected readonly decoupled: boolean;

  constructor(params: ParamsInput, opts: AdamOptions = {}, kind = 'Adam', decoupled = false, defaultWeightDecay = 0) {
    super(kind, params, opts.lr ?? 1e-3);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? defaultWeightDecay;
    this.decoupled = decoupled;
    checkNonNegative(kind, { eps: this.eps, weightDecay: this.weightDecay });
    if (!(this.beta1 >= 0 && this.beta1 < 1 && this.beta2 >= 0 && this.beta2 < 1)) throw new RangeError(`${kind}: betas must lie in [0, 1), got [${this.beta1}, ${this.beta2}]`);
  }

  protected update(i: number, p: TypedArray, g: ArrayLike<number>): void {
    const { lr, beta1, beta2, eps, weightDecay, decoupled } = this;
    const t = this.steps[i]!;
    const m = this.buffer(i, 'exp_avg');
    const v = this.buffer(i, 'exp_avg_sq');
    const stepSize = lr / (1 - beta1 ** t);
    const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
    const decay = decoupled ? 1 - lr * weightDecay : 1;
    const l2 = decoupled ? 0 : weightDecay;
    for (let k = 0; k < p.length; k++) {
      const pk = p[k]! * decay;
      const gk = g[k]! + l2 * p[k]!;
      m[k] = beta1 * m[k]! + (1 - beta1) * gk;
      v[k] = beta2 * v[k]! + (1 - beta2) * gk * gk;
      p[k] = pk - (stepSize * m[k]!) / (Math.sqrt(v[k]!) / sqrtBias2 + eps);
    }
  }

  protected hyper(): Record<string, number | boolean> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01, PyTorch's). See `Adam` for the update. */
export class AdamW extends Adam {
  constructor(params: ParamsInput, opts: AdamOptions = {}) {
    super(params, opts, 'AdamW', true, 1e-2);
  }
}
