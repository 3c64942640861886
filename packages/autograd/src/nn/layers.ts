/** Embedding, Dropout, activations, Flatten and Identity. */
import { build, Generator, fmtShape, indexSelect, leakyRelu, type DType, type Tensor } from '@oclt/tensor';
import { normalInit } from './init.js';
import { checkPositiveInt } from './linear.js';
import { Module } from './module.js';

/**
 * A lookup table like `torch.nn.Embedding`: int32 indices of any shape -> [...indices.shape, embeddingDim].
 * Init: `weight` [numEmbeddings, embeddingDim] ~ N(0, 1), PyTorch's default.
 */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { generator: Generator; dtype?: DType },
  ) {
    super();
    checkPositiveInt('Embedding', { numEmbeddings, embeddingDim });
    this.weight = this.addParameter('weight', normalInit([numEmbeddings, embeddingDim], opts.generator, 0, 1, opts.dtype ?? 'float32'));
  }

  override forward(indices: Tensor): Tensor {
    if (indices.dtype !== 'int32') throw new Error(`Embedding.forward: indices must be int32, got ${indices.dtype} (shape ${fmtShape(indices.shape)})`);
    const flat = indices.reshape(indices.size).toTypedArray();
    for (let i = 0; i < flat.length; i++) {
      const k = flat[i]!;
      if (k < 0 || k >= this.numEmbeddings) throw new Error(`Embedding.forward: index ${k} is out of range [0, ${this.numEmbeddings})`);
    }
    return indexSelect(this.weight, 0, indices.reshape(indices.size)).reshape([...indices.shape, this.embeddingDim]);
  }
}

/**
 * Dropout like `torch.nn.Dropout`: in training mode each element is zeroed with probability p and the rest are
 * scaled by 1 / (1 - p), so the expectation is unchanged; in eval mode it is the identity. The mask is drawn
 * from the module's own seeded generator, so a run is reproducible.
 */
export class Dropout extends Module {
  readonly generator: Generator;

  constructor(
    readonly p: number,
    opts: { generator: Generator },
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    if (!(opts?.generator instanceof Generator)) throw new TypeError('Dropout: needs an explicit seeded Generator (opts.generator)');
    this.generator = opts.generator;
  }

  override forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    // One multiplier per element, 0 or 1 / (1 - p), from one 32-bit draw (kept when it is at least p 2^32, so
    // with probability 1 - p to within 2^-32): a single multiply of x, no uniform tensor, mask or cast.
    const scale = 1 / (1 - this.p);
    const threshold = this.p * 2 ** 32;
    const g = this.generator;
    const mask = build(x.dtype === 'float64' ? 'float64' : 'float32', x.shape, (d) => g.fillThreshold(d, threshold, scale, 0));
    return x.mul(mask);
  }
}

export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }
}
export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return x.relu();
  }
}
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}
/** x * sigmoid(x) (also called swish), the UNet's activation. */
export class SiLU extends Module {
  override forward(x: Tensor): Tensor {
    return x.silu();
  }
}
/** The exact GELU, x * Phi(x) with the erf form (PyTorch's default, not the tanh approximation). */
export class GELU extends Module {
  override forward(x: Tensor): Tensor {
    return x.gelu();
  }
}
export class Tanh extends Module {
  override forward(x: Tensor): Tensor {
    return x.tanh();
  }
}
export class Sigmoid extends Module {
  override forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
/** Flattens axes startAxis..endAxis into one (default: all but the batch axis), like `torch.nn.Flatten`. */
export class Flatten extends Module {
  constructor(
    readonly startAxis = 1,
    readonly endAxis = -1,
  ) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.flatten(this.startAxis, this.endAxis);
  }
}
