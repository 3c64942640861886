/** Resolution changes of the DDPM UNet: nearest-neighbour Upsample (+ 3x3 conv) and strided Downsample. */
import { avgPool2d, fmtShape, upsampleNearest2d, type DType, type Generator, type Tensor } from '@oclt/tensor';
import { Conv2d } from './linear.js';
import { Module } from './module.js';

export interface ResampleOptions {
  /** Follow (Upsample) or replace (Downsample) the resampling with a 3x3 convolution named `conv`; default true. */
  withConv?: boolean;
  /** Needed when `withConv` is true: initialises the convolution. */
  generator?: Generator;
  dtype?: DType;
}

function makeConv(layer: string, channels: number, stride: number, opts: ResampleOptions): Conv2d | null {
  if (opts.withConv === false) return null;
  if (!opts.generator) throw new TypeError(`${layer}: withConv needs opts.generator to initialise the convolution`);
  return new Conv2d(channels, channels, 3, { stride, padding: 1, generator: opts.generator, dtype: opts.dtype });
}

/** Doubles H and W by repeating each pixel (nearest), then (by default) a 3x3 same-padding conv. */
export class Upsample extends Module {
  readonly conv: Conv2d | null;

  constructor(
    readonly channels: number,
    opts: ResampleOptions = {},
  ) {
    super();
    const conv = makeConv('Upsample', channels, 1, opts);
    this.conv = conv ? this.addModule('conv', conv) : null;
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.channels) throw new Error(`Upsample.forward: input must be [N, ${this.channels}, H, W], got ${fmtShape(x.shape)}`);
    const up = upsampleNearest2d(x, 2);
    return this.conv ? this.conv.forward(up) : up;
  }
}

/** Halves H and W: a 3x3 conv with stride 2 and padding 1 (default), or a 2x2 average pool without conv. */
export class Downsample extends Module {
  readonly conv: Conv2d | null;

  constructor(
    readonly channels: number,
    opts: ResampleOptions = {},
  ) {
    super();
    const conv = makeConv('Downsample', channels, 2, opts);
    this.conv = conv ? this.addModule('conv', conv) : null;
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.channels) throw new Error(`Downsample.forward: input must be [N, ${this.channels}, H, W], got ${fmtShape(x.shape)}`);
    return this.conv ? this.conv.forward(x) : avgPool2d(x, { kernel: 2, stride: 2 });
  }
}
