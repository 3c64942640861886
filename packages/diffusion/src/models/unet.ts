/**
 * UNet2D in the layout of DDPM (Ho et al. 2020, Appendix B; the PixelCNN++-style backbone):
 *   conv_in -> down levels (numResBlocks ResBlocks, attention at chosen resolutions, stride-2 conv between levels)
 *   -> mid (ResBlock, attention, ResBlock) -> up levels (numResBlocks + 1 ResBlocks taking a concatenated skip,
 *   attention, nearest upsample + conv between levels) -> GroupNorm, SiLU, conv_out.
 * The timestep enters through a sinusoidal embedding and a 2-layer MLP (width 4 ch) that every ResBlock projects
 * and adds to its feature maps. Class conditioning adds a label embedding to the time embedding (as the OC-LT and
 * CBDM code do), with one extra row, index `numClasses`, for the null label of classifier-free guidance.
 * conv_out starts at zero (as in DDPM's code), so a fresh model predicts eps = 0.
 * Browser-safe.
 */
import { concat, Generator, isGradEnabled, tidy, type Tensor } from '@oclt/tensor';
import { AttentionBlock2d, Conv2d, Downsample, Dropout, Embedding, GroupNorm, Linear, Module, ModuleList, Upsample } from '@oclt/autograd';
import { labelTensor, timestepEmbedding, type Denoiser, type LabelInput, type TimestepInput } from './embeddings.js';

export interface UNet2DConfig {
  /** Height = width of the inputs (default 32); attention resolutions refer to it. */
  sampleSize?: number;
  inChannels?: number;
  /** Defaults to inChannels. */
  outChannels?: number;
  /** Base channel count ch (default 128). */
  baseChannels?: number;
  /** Channel multiplier per resolution level (default [1, 2, 2, 2]). */
  channelMult?: readonly number[];
  /** ResBlocks per level on the way down (the way up has one more). Default 2. */
  numResBlocks?: number;
  /** Spatial sizes at which self-attention is applied (default [16]). */
  attentionResolutions?: readonly number[];
  /** Dropout inside ResBlocks during training (default 0.1). */
  dropout?: number;
  /** Number of classes for conditioning (default 0 = unconditional). */
  numClasses?: number;
  /** Upper bound on GroupNorm groups (default 32); the largest divisor of the channels not above it is used. */
  numGroups?: number;
  /** Attention heads (default 1). */
  numHeads?: number;
  /** Seed of the initial weights and of dropout masks (default 0). */
  seed?: number;
}

function groupsFor(channels: number, maxGroups: number): number {
  for (let g = Math.min(maxGroups, channels); g >= 1; g--) if (channels % g === 0) return g;
  return 1;
}

/** GroupNorm -> SiLU -> conv, plus the time embedding in the middle and a 1x1 skip when channels change. */
export class ResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly tembProj: Linear;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly skip: Conv2d | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    tembDim: number,
    opts: { generator: Generator; dropoutGenerator: Generator; dropout: number; numGroups: number },
  ) {
    super();
    const generator = opts.generator;
    this.norm1 = this.addModule('norm1', new GroupNorm(groupsFor(inChannels, opts.numGroups), inChannels, { eps: 1e-6 }));
    this.conv1 = this.addModule('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1, generator }));
    this.tembProj = this.addModule('temb_proj', new Linear(tembDim, outChannels, { generator }));
    this.norm2 = this.addModule('norm2', new GroupNorm(groupsFor(outChannels, opts.numGroups), outChannels, { eps: 1e-6 }));
    this.dropout = this.addModule('dropout', new Dropout(opts.dropout, { generator: opts.dropoutGenerator }));
    this.conv2 = this.addModule('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, generator }));
    this.skip = inChannels !== outChannels ? this.addModule('skip', new Conv2d(inChannels, outChannels, 1, { generator })) : null;
  }

  override forward(x: Tensor, temb: Tensor): Tensor {
    let h = this.conv1.forward(this.norm1.forward(x).silu());
    h = h.add(this.tembProj.forward(temb.silu()).reshape(x.shape[0]!, this.outChannels, 1, 1));
    h = this.conv2.forward(this.dropout.forward(this.norm2.forward(h).silu()));
    return (this.skip ? this.skip.forward(x) : x).add(h);
  }
}

/** One resolution level: its ResBlocks, optional attention after each, and the resampler at its end. */
class Level extends Module {
  readonly blocks = this.addModule('blocks', new ModuleList<ResBlock>());
  readonly attns = this.addModule('attns', new ModuleList<AttentionBlock2d>());
  resample: Downsample | Upsample | null = null;
  hasAttention = false;
}

export class UNet2D extends Module implements Denoiser {
  readonly config: Required<UNet2DConfig>;
  readonly numClasses: number;
  readonly nullLabel: number;
  /** The generator every Dropout draws its masks from (checkpoint its state to resume exactly). */
  readonly dropoutGenerator: Generator;
  private readonly convIn: Conv2d;
  private readonly timeFc1: Linear;
  private readonly timeFc2: Linear;
  private readonly labelEmbed: Embedding | null;
  private readonly down: ModuleList<Level>;
  private readonly midBlock1: ResBlock;
  private readonly midAttn: AttentionBlock2d;
  private readonly midBlock2: ResBlock;
  private readonly up: ModuleList<Level>;
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  /**
   * An optional read-only tap on the bottleneck: called in every forward with the feature map after the middle
   * blocks, [B, C, s, s] (with its graph when gradients are on), for methods that train on the representation
   * (a projection head, a probe). It cannot change the output; null (the default) costs nothing.
   */
  bottleneckTap: ((features: Tensor) => void) | null = null;

  constructor(config: UNet2DConfig = {}) {
    super();
    const c: Required<UNet2DConfig> = {
      sampleSize: 32,
      inChannels: 3,
      outChannels: config.inChannels ?? 3,
      baseChannels: 128,
      channelMult: [1, 2, 2, 2],
      numResBlocks: 2,
      attentionResolutions: [16],
      dropout: 0.1,
      numClasses: 0,
      numGroups: 32,
      numHeads: 1,
      seed: 0,
      ...config,
    };
    if (c.channelMult.length < 1) throw new RangeError('UNet2D: channelMult needs at least one level');
    if (c.sampleSize % 2 ** (c.channelMult.length - 1) !== 0) {
      throw new RangeError(`UNet2D: sampleSize ${c.sampleSize} must be divisible by 2^${c.channelMult.length - 1} for ${c.channelMult.length} levels`);
    }
    this.config = c;
    this.numClasses = c.numClasses;
    this.nullLabel = c.numClasses > 0 ? c.numClasses : -1;
    const generator = new Generator(c.seed);
    this.dropoutGenerator = new Generator(c.seed + 1);
    const ch = c.baseChannels;
    const tembDim = 4 * ch;
    const blockOpts = { generator, dropoutGenerator: this.dropoutGenerator, dropout: c.dropout, numGroups: c.numGroups };
    const attn = (channels: number) => new AttentionBlock2d(channels, { generator, numHeads: c.numHeads, numGroups: groupsFor(channels, c.numGroups) });

    this.convIn = this.addModule('conv_in', new Conv2d(c.inChannels, ch, 3, { padding: 1, generator }));
    this.timeFc1 = this.addModule('time_fc1', new Linear(ch, tembDim, { generator }));
    this.timeFc2 = this.addModule('time_fc2', new Linear(tembDim, tembDim, { generator }));
    this.labelEmbed = c.numClasses > 0 ? this.addModule('label_embed', new Embedding(c.numClasses + 1, tembDim, { generator })) : null;

    // Down path; `skips` records the channels of every tensor pushed for the up path.
    this.down = this.addModule('down', new ModuleList<Level>());
    const skips = [ch];
    let chIn = ch;
    let res = c.sampleSize;
    c.channelMult.forEach((mult, i) => {
      const level = new Level();
      level.hasAttention = c.attentionResolutions.includes(res);
      for (let b = 0; b < c.numResBlocks; b++) {
        level.blocks.append(new ResBlock(chIn, ch * mult, tembDim, blockOpts));
        chIn = ch * mult;
        if (level.hasAttention) level.attns.append(attn(chIn));
        skips.push(chIn);
      }
      if (i < c.channelMult.length - 1) {
        level.resample = level.addModule('downsample', new Downsample(chIn, { generator }));
        skips.push(chIn);
        res /= 2;
      }
      this.down.append(level);
    });

    this.midBlock1 = this.addModule('mid_block1', new ResBlock(chIn, chIn, tembDim, blockOpts));
    this.midAttn = this.addModule('mid_attn', attn(chIn));
    this.midBlock2 = this.addModule('mid_block2', new ResBlock(chIn, chIn, tembDim, blockOpts));

    // Up path, from the lowest resolution; each block consumes one skip.
    this.up = this.addModule('up', new ModuleList<Level>());
    for (let i = c.channelMult.length - 1; i >= 0; i--) {
      const level = new Level();
      level.hasAttention = c.attentionResolutions.includes(res);
      for (let b = 0; b < c.numResBlocks + 1; b++) {
        level.blocks.append(new ResBlock(chIn + skips.pop()!, ch * c.channelMult[i]!, tembDim, blockOpts));
        chIn = ch * c.channelMult[i]!;
        if (level.hasAttention) level.attns.append(attn(chIn));
      }
      if (i > 0) {
        level.resample = level.addModule('upsample', new Upsample(chIn, { generator }));
        res *= 2;
      }
      this.up.append(level);
    }

    this.normOut = this.addModule('norm_out', new GroupNorm(groupsFor(chIn, c.numGroups), chIn, { eps: 1e-6 }));
    const convOut = new Conv2d(chIn, c.outChannels, 3, { padding: 1, generator });
    this.convOut = this.addModule('conv_out', convOut);
    convOut.weight.dataSync().fill(0);
    convOut.bias!.dataSync().fill(0);
  }

  /** The conditioning vector per sample: MLP(sinusoid(t)) + labelEmbedding(y). */
  embed(t: TimestepInput, labels: LabelInput, batch: number): Tensor {
    let temb = this.timeFc2.forward(this.timeFc1.forward(timestepEmbedding(t, batch, this.config.baseChannels)).silu());
    if (this.labelEmbed) temb = temb.add(this.labelEmbed.forward(labelTensor('UNet2D.forward', labels, batch, this.numClasses)));
    return temb;
  }

  override forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor {
    const c = this.config;
    // Without gradients (sampling), each block runs in its own tidy, so its intermediates are freed when it returns
    // instead of when the whole pass does: a CFG batch of 500 16x16 images then needs 0.2 GB of the kernels' memory
    // instead of more than its 1 GiB. With gradients they are the tape's, kept for the backward pass.
    const scoped = isGradEnabled() ? <R>(f: () => R) => f() : tidy;
    if (x.ndim !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.sampleSize || x.shape[3] !== c.sampleSize) {
      throw new Error(`UNet2D.forward: x must be [B, ${c.inChannels}, ${c.sampleSize}, ${c.sampleSize}], got [${x.shape}]`);
    }
    const temb = this.embed(t, labels, x.shape[0]!);
    let h = this.convIn.forward(x);
    const hs: Tensor[] = [h];
    for (const level of this.down) {
      [...level.blocks].forEach((block, b) => {
        h = scoped(() => {
          const out = block.forward(h, temb);
          return level.hasAttention ? level.attns.at(b).forward(out) : out;
        });
        hs.push(h);
      });
      if (level.resample) {
        h = scoped(() => level.resample!.forward(h));
        hs.push(h);
      }
    }
    h = scoped(() => this.midBlock2.forward(this.midAttn.forward(this.midBlock1.forward(h, temb)), temb));
    if (this.bottleneckTap) this.bottleneckTap(h);
    for (const level of this.up) {
      [...level.blocks].forEach((block, b) => {
        h = scoped(() => {
          const out = block.forward(concat([h, hs.pop()!], 1), temb);
          return level.hasAttention ? level.attns.at(b).forward(out) : out;
        });
      });
      if (level.resample) h = scoped(() => level.resample!.forward(h));
    }
    return scoped(() => this.convOut.forward(this.normOut.forward(h).silu()));
  }
}

/** The reference small UNet of the benchmarks: 28x28x1, ch 32, mult [1, 2, 2], 1 ResBlock per level, attention at 7x7. */
export function smallUNetConfig(overrides: UNet2DConfig = {}): UNet2DConfig {
  return { sampleSize: 28, inChannels: 1, baseChannels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [7], dropout: 0.1, ...overrides };
}

/** The input shape [batch, inChannels, sampleSize, sampleSize] of a UNet with this config. */
export function unetInputShape(config: UNet2DConfig, batch: number): number[] {
  const size = config.sampleSize ?? 32;
  return [batch, config.inChannels ?? 3, size, size];
}
