/**
 * Multi-head self-attention over feature maps, as in the DDPM UNet's attention block (Ho et al. 2020, which
 * follows Vaswani et al. 2017): every pixel of x [N, C, H, W] is a token of C features.
 *
 *   q, k, v = split(qkv(tokens))                    one Linear C -> 3C, split into heads of C / heads features
 *   attn    = softmax(q k^T / sqrt(d)) v             per head, d = C / heads, over the H*W tokens
 *   out     = proj(concat(heads))                    Linear C -> C, back to [N, C, H, W]
 *
 * `SelfAttention2d` is exactly that; `AttentionBlock2d` adds the DDPM block's GroupNorm before it and the
 * residual connection around it: x + attn(norm(x)).
 */
import { fmtShape, matmul, type DType, type Generator, type Tensor } from '@oclt/tensor';
import { Linear, checkPositiveInt } from './linear.js';
import { Module } from './module.js';
import { GroupNorm } from './norm.js';

export interface AttentionOptions {
  generator: Generator;
  /** Number of heads; must divide the channels. Default 1 (the DDPM UNet uses one head). */
  numHeads?: number;
  dtype?: DType;
}

export class SelfAttention2d extends Module {
  readonly numHeads: number;
  /** The joint query/key/value projection: weight [3C, C] whose rows are q's, then k's, then v's. */
  readonly qkv: Linear;
  /** The output projection. */
  readonly proj: Linear;

  constructor(
    readonly channels: number,
    opts: AttentionOptions,
  ) {
    super();
    this.numHeads = opts.numHeads ?? 1;
    checkPositiveInt('SelfAttention2d', { channels, numHeads: this.numHeads });
    if (channels % this.numHeads !== 0) throw new Error(`SelfAttention2d: channels (${channels}) must be divisible by numHeads (${this.numHeads})`);
    this.qkv = this.addModule('qkv', new Linear(channels, 3 * channels, { generator: opts.generator, dtype: opts.dtype }));
    this.proj = this.addModule('proj', new Linear(channels, channels, { generator: opts.generator, dtype: opts.dtype }));
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.channels) throw new Error(`SelfAttention2d.forward: input must be [N, ${this.channels}, H, W], got ${fmtShape(x.shape)}`);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const heads = this.numHeads;
    const d = c / heads;
    const tokens = x.reshape(n, c, h * w).permute(0, 2, 1); // [N, T, C]
    // [N, T, 3C] -> [N, T, 3, heads, d] -> [3, N, heads, T, d]
    const qkv = this.qkv.forward(tokens).reshape(n, h * w, 3, heads, d).permute(2, 0, 3, 1, 4);
    const q = qkv.narrow(0, 0, 1).squeeze(0);
    const k = qkv.narrow(0, 1, 1).squeeze(0);
    const v = qkv.narrow(0, 2, 1).squeeze(0);
    const scores = matmul(q, k.transpose(-2, -1)).mul(1 / Math.sqrt(d)); // [N, heads, T, T]
    const mixed = matmul(scores.softmax(-1), v); // [N, heads, T, d]
    const merged = mixed.permute(0, 2, 1, 3).reshape(n, h * w, c); // heads side by side, as in concat
    return this.proj.forward(merged).permute(0, 2, 1).reshape(n, c, h, w);
  }
}

/** The DDPM UNet attention block: x + SelfAttention2d(GroupNorm(x)). Children: `norm`, `attn`. */
export class AttentionBlock2d extends Module {
  readonly norm: GroupNorm;
  readonly attn: SelfAttention2d;

  constructor(channels: number, opts: AttentionOptions & { numGroups?: number; eps?: number }) {
    super();
    this.norm = this.addModule('norm', new GroupNorm(opts.numGroups ?? Math.min(32, channels), channels, { eps: opts.eps ?? 1e-6, dtype: opts.dtype }));
    this.attn = this.addModule('attn', new SelfAttention2d(channels, opts));
  }

  override forward(x: Tensor): Tensor {
    return x.add(this.attn.forward(this.norm.forward(x)));
  }
}
