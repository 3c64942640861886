/** Normalisation layers: GroupNorm (the UNet's) and LayerNorm. Both use the biased variance, like PyTorch. */
import { fmtShape, ones, zeros, type DType, type Tensor } from '@oclt/tensor';
import { checkPositiveInt } from './linear.js';
import { Module } from './module.js';

export interface NormOptions {
  /** Added to the variance before the square root (default 1e-5, PyTorch's). */
  eps?: number;
  /** Learn a per-channel scale `weight` (init 1) and shift `bias` (init 0); default true. */
  affine?: boolean;
  dtype?: DType;
}

/**
 * Group normalisation (Wu & He 2018) like `torch.nn.GroupNorm`: the C channels of x [N, C, *] are split into
 * G groups; each (sample, group) is normalised by its own mean and biased variance,
 * y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c].
 */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: NormOptions = {},
  ) {
    super();
    checkPositiveInt('GroupNorm', { numGroups, numChannels });
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    this.eps = opts.eps ?? 1e-5;
    const dtype = opts.dtype ?? 'float32';
    const affine = opts.affine ?? true;
    this.weight = affine ? this.addParameter('weight', ones([numChannels], dtype)) : null;
    this.bias = affine ? this.addParameter('bias', zeros([numChannels], dtype)) : null;
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new Error(`GroupNorm.forward: input must be [N, ${this.numChannels}, ...], got ${fmtShape(x.shape)}`);
    }
    const n = x.shape[0]!;
    const grouped = x.reshape(n, this.numGroups, -1);
    const normed = standardize(grouped, -1, this.eps).reshape(x.shape);
    if (!this.weight || !this.bias) return normed;
    const affineShape = x.shape.map((d, i) => (i === 1 ? d : 1));
    return normed.mul(this.weight.reshape(affineShape)).add(this.bias.reshape(affineShape));
  }
}

/**
 * Layer normalisation like `torch.nn.LayerNorm`: normalises over the trailing `normalizedShape` axes, then
 * applies an elementwise `weight` (init 1) and `bias` (init 0) of that shape.
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], opts: NormOptions & { elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.normalizedShape.forEach((d, i) => checkPositiveInt('LayerNorm', { [`normalizedShape[${i}]`]: d }));
    this.eps = opts.eps ?? 1e-5;
    const dtype = opts.dtype ?? 'float32';
    const affine = opts.elementwiseAffine ?? opts.affine ?? true;
    this.weight = affine ? this.addParameter('weight', ones(this.normalizedShape, dtype)) : null;
    this.bias = affine ? this.addParameter('bias', zeros(this.normalizedShape, dtype)) : null;
  }

  override forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.ndim - k);
    if (x.ndim < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new Error(`LayerNorm.forward: input must end with ${fmtShape(this.normalizedShape)}, got ${fmtShape(x.shape)}`);
    }
    const lead = x.shape.slice(0, x.ndim - k);
    const normed = standardize(x.reshape([...lead, -1]), -1, this.eps).reshape(x.shape);
    if (!this.weight || !this.bias) return normed;
    return normed.mul(this.weight).add(this.bias);
  }
}

/** (x - mean) / sqrt(var + eps) along `axis`, biased variance, built from differentiable primitives. */
function standardize(x: Tensor, axis: number, eps: number): Tensor {
  const centered = x.sub(x.mean(axis, true));
  const variance = centered.square().mean(axis, true);
  return centered.mul(variance.add(eps).sqrt().reciprocal());
}
