/** Gradient clipping by the global norm, like `torch.nn.utils.clip_grad_norm_`. */
import { noGrad, profileSection, type Tensor } from '@oclt/tensor';
import { readHost } from './optimizer.js';

/**
 * Computes the norm of all gradients together, ||(g_1, ..., g_n)||_normType (Infinity for the max norm), and,
 * when it exceeds `maxNorm`, scales every gradient by maxNorm / (norm + 1e-6) (PyTorch's factor). Returns the
 * norm before clipping. Parameters without a gradient are skipped.
 *
 * Gradients are replaced by scaled copies rather than scaled in place, because the engine may hand the same
 * gradient tensor to several parameters (e.g. both operands of an add).
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be > 0 or Infinity, got ${normType}`);
  return profileSection('clip', () => clipAll(params, maxNorm, normType));
}

function clipAll(params: Iterable<Tensor>, maxNorm: number, normType: number): number {
  const withGrad = [...params].filter((p) => p.grad);
  let acc = 0;
  for (const p of withGrad) {
    const g = readHost(p.grad!);
    for (let k = 0; k < g.length; k++) {
      const a = Math.abs(g[k]!);
      acc = normType === Infinity ? Math.max(acc, a) : acc + a ** normType;
    }
  }
  const total = normType === Infinity ? acc : acc ** (1 / normType);
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) noGrad(() => withGrad.forEach((p) => (p.grad = p.grad!.mul(coef))));
  return total;
}
