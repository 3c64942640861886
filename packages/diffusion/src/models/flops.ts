/**
 * Analytic FLOP count of a training step, for reporting achieved GFLOP/s.
 *
 * Counted: the multiply-adds of convolutions and matrix products (2 FLOPs each), which are nearly all the work
 * of a UNet; elementwise ops, normalisation, softmax and the optimizer are NOT counted (as is usual).
 *   Conv2d   forward 2 N Cout Hout Wout (Cin / groups) kh kw
 *   Linear   forward 2 (rows) in out
 *   attention (SelfAttention2d) forward, besides its Linear layers: q k^T and attn v, 2 N T^2 C each (T = H W)
 * A backward pass costs two forwards per layer (the input gradient and the weight gradient; for attention the
 * gradients of both operands), except where the input needs no gradient: the network's first layer gets only the
 * weight gradient. So a training step = 3 forwards, minus one forward of the first layer.
 * The count is taken by running one forward with the layers' `forward` methods wrapped (restored afterwards).
 * Browser-safe.
 */
import { noGrad, type Tensor } from '@oclt/tensor';
import { Conv2d, Linear, SelfAttention2d, type Module } from '@oclt/autograd';

export interface FlopCount {
  /** FLOPs of one forward pass (conv + matmul only). */
  forward: number;
  /** FLOPs of forward + backward (one training step, optimizer excluded). */
  trainingStep: number;
  /** Forward FLOPs per layer kind. */
  byKind: { conv: number; linear: number; attention: number };
}

/** Counts FLOPs by running `run` (one forward of `model`) with its conv/linear/attention layers instrumented. */
export function countFlops(model: Module, run: () => unknown): FlopCount {
  const byKind = { conv: 0, linear: 0, attention: 0 };
  let firstLayerForward: number | null = null;
  const restore: (() => void)[] = [];
  const wrap = (m: Module, flops: (x: Tensor, y: Tensor) => number, kind: keyof typeof byKind) => {
    const original = m.forward;
    const hadOwn = Object.prototype.hasOwnProperty.call(m, 'forward');
    m.forward = (x: Tensor, ...rest: unknown[]) => {
      const y = original.call(m, x, ...rest) as Tensor;
      const f = flops(x, y);
      byKind[kind] += f;
      // The first conv/linear to see the network input: its input needs no gradient.
      if (firstLayerForward === null && kind !== 'attention' && !x.requiresGrad) firstLayerForward = f;
      return y;
    };
    restore.push(() => {
      if (hadOwn) m.forward = original;
      else delete (m as { forward?: unknown }).forward;
    });
  };
  for (const m of model.modules()) {
    if (m instanceof Conv2d) {
      const [, cinPerGroup, kh, kw] = m.weight.shape as [number, number, number, number];
      wrap(m, (_x, y) => 2 * y.size * cinPerGroup * kh * kw, 'conv');
    } else if (m instanceof Linear) {
      wrap(m, (x) => 2 * (x.size / m.inFeatures) * m.inFeatures * m.outFeatures, 'linear');
    } else if (m instanceof SelfAttention2d) {
      wrap(m, (x) => {
        const [n, c, h, w] = x.shape as [number, number, number, number];
        return 2 * 2 * n * (h * w) ** 2 * c;
      }, 'attention');
    }
  }
  try {
    noGrad(run);
  } finally {
    restore.forEach((r) => r());
  }
  const forward = byKind.conv + byKind.linear + byKind.attention;
  return { forward, trainingStep: 3 * forward - (firstLayerForward ?? 0), byKind };
}
