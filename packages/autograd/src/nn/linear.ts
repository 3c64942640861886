/** Fully connected and convolution layers with PyTorch's default initialisation (see init.ts). */
import { conv2d, fmtShape, matmul, type Conv2dOptions, type DType, type Generator, type Tensor } from '@oclt/tensor';
import { biasUniform, fanIn, kaimingUniform } from './init.js';
import { Module } from './module.js';

export interface LayerInitOptions {
  /** The seeded generator the initial weights are drawn from (required: randomness is explicit). */
  generator: Generator;
  /** Parameter dtype; float32 by default. */
  dtype?: DType;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
}

/**
 * y = x W^T + b over the last axis, like `torch.nn.Linear`. Parameters `weight` [out, in] and `bias` [out].
 * Init: weight kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); bias U(-1/sqrt(in), 1/sqrt(in));
 * the weight is drawn before the bias.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LayerInitOptions,
  ) {
    super();
    checkPositiveInt('Linear', { inFeatures, outFeatures });
    const dtype = opts.dtype ?? 'float32';
    this.weight = this.addParameter('weight', kaimingUniform([outFeatures, inFeatures], inFeatures, opts.generator, Math.sqrt(5), dtype));
    this.bias = opts.bias === false ? null : this.addParameter('bias', biasUniform(outFeatures, inFeatures, opts.generator, dtype));
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear.forward: input must end with ${this.inFeatures} features, got shape ${fmtShape(x.shape)}`);
    }
    const y = matmul(x, this.weight.T);
    return this.bias ? y.add(this.bias) : y;
  }
}

export interface Conv2dLayerOptions extends LayerInitOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

/**
 * 2-D convolution layer like `torch.nn.Conv2d`: `weight` [out, in/groups, kH, kW], `bias` [out].
 * Init: fan_in = in/groups * kH * kW; weight U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform, a = sqrt(5)),
 * bias the same bound; weight drawn first.
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | readonly [number, number],
    opts: Conv2dLayerOptions,
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const groups = opts.groups ?? 1;
    checkPositiveInt('Conv2d', { inChannels, outChannels, kernelHeight: kh, kernelWidth: kw, groups });
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`);
    }
    const dtype = opts.dtype ?? 'float32';
    const shape = [outChannels, inChannels / groups, kh, kw];
    const fan = fanIn(shape);
    this.weight = this.addParameter('weight', kaimingUniform(shape, fan, opts.generator, Math.sqrt(5), dtype));
    this.bias = opts.bias === false ? null : this.addParameter('bias', biasUniform(outChannels, fan, opts.generator, dtype));
    this.options = { stride: opts.stride ?? 1, padding: opts.padding ?? 0, dilation: opts.dilation ?? 1, groups };
  }

  override forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

export function checkPositiveInt(layer: string, values: Record<string, number>): void {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${layer}: ${k} must be a positive integer, got ${v}`);
  }
}
