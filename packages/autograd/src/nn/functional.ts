/** Loss functions, written in differentiable tensor ops. */
import { fmtShape, gather, log1p, type Tensor } from '@oclt/tensor';

/** Mean squared error, mean over all elements (PyTorch's `mse_loss` with reduction 'mean'). */
export function mseLoss(prediction: Tensor, target: Tensor): Tensor {
  if (prediction.ndim !== target.ndim || prediction.shape.some((d, i) => d !== target.shape[i])) {
    throw new Error(`mseLoss: prediction ${fmtShape(prediction.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return prediction.sub(target).square().mean();
}

/**
 * Cross entropy from logits [N, K] and int32 class indices [N], mean over the batch:
 * -mean_i log softmax(logits_i)[target_i] (PyTorch's `cross_entropy`).
 */
export function crossEntropy(logits: Tensor, target: Tensor): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: logits must be [N, K], got ${fmtShape(logits.shape)}`);
  if (target.dtype !== 'int32' || target.ndim !== 1 || target.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: target must be int32 of shape [${logits.shape[0]}], got ${target.dtype} ${fmtShape(target.shape)}`);
  }
  const k = logits.shape[1]!;
  const t = target.toTypedArray();
  for (let i = 0; i < t.length; i++) if (t[i]! < 0 || t[i]! >= k) throw new Error(`crossEntropy: target[${i}] = ${t[i]} is not a class in [0, ${k})`);
  const picked = gather(logits.logSoftmax(-1), 1, target.reshape(-1, 1));
  return picked.mean().neg();
}

/** Binary cross entropy from logits, mean over elements, computed stably: max(z, 0) - z y + log(1 + exp(-|z|)). */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor): Tensor {
  if (logits.ndim !== target.ndim || logits.shape.some((d, i) => d !== target.shape[i])) {
    throw new Error(`binaryCrossEntropyWithLogits: logits ${fmtShape(logits.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return logits.relu().sub(logits.mul(target)).add(log1p(logits.abs().neg().exp())).mean();
}
