/**
 * `ReferenceUNet`: the UNet of the `model.py` that pytorch-ddpm (w86763777), CBDM (qym7/CBDM-pytorch) and OC_LT
 * (MediaBrain-SJTU/OC_LT) share, rebuilt here layer for layer so that its state dict has exactly their key names
 * and shapes (`head.weight`, `downblocks.0.block1.0.weight`, `middleblocks.0.attn.proj_q.weight`, ...). A
 * checkpoint trained with their `main.py` loads into it without renaming, and ours loads into theirs with
 * `load_state_dict(strict=True)` (see oclt's `export` / `import` commands and docs/pytorch-bridge.md).
 *
 * How it differs from `UNet2D` (which stays as it is), all following their code:
 * - time: a fixed table [T, ch] of interleaved pairs (sin(t f_i), cos(t f_i)), f_i = exp(-ln(10000) 2i / ch),
 *   looked up by the integer timestep (their `nn.Embedding.from_pretrained`, saved in the state dict as
 *   `time_embedding.timembedding.0.weight`), then Linear(ch, 4ch), Swish, Linear(4ch, 4ch);
 * - labels: `label_embedding` has exactly `numClasses` rows and no null row; their unconditional pass is
 *   `y = None`, which adds nothing. Here the null label (index numClasses, as every Denoiser) adds nothing, per
 *   sample, so a classifier-free-guidance batch mixing both is exactly their two passes;
 * - GroupNorm(32, C) with PyTorch's eps 1e-5 everywhere (so every channel count must be a multiple of 32);
 * - attention sits inside the ResBlock (`attn`), after the residual sum, with four 1x1 convolutions
 *   proj_q, proj_k, proj_v, proj and the scale C^-1/2 applied after q k^T;
 * - attention levels are given by index (`attn: [1]`), as their flag; the middle has ResBlock(attn) + ResBlock;
 * - initialisation: xavier_uniform on every conv and linear, zero biases, gain 1e-5 on each ResBlock's last conv,
 *   the attention output projection and the tail conv; label embedding N(0, 1).
 * The input has `inChannels` channels (their model fixes 3; export refuses anything else).
 * Browser-safe.
 */
import { concat, fromTypedArray, Generator, indexSelect, isGradEnabled, matmul, rand, tidy, upsampleNearest2d, type Tensor } from '@oclt/tensor';
import { Conv2d, Dropout, Embedding, GroupNorm, Linear, Module } from '@oclt/autograd';
import { labelTensor, timestepArray, type Denoiser, type LabelInput, type TimestepInput } from './embeddings.js';

/** Their constructor arguments: `UNet(T, ch, ch_mult, attn, num_res_blocks, dropout, cond, augm, num_class)`. */
export interface ReferenceUNetConfig {
  /** Number of diffusion steps T: the rows of the time table (default 1000). */
  T?: number;
  /** Base channels ch (default 128); tdim = 4 ch. */
  ch?: number;
  /** Channel multiplier per level (default [1, 2, 2, 2]). */
  chMult?: readonly number[];
  /** Level indices with attention (default [1]). */
  attn?: readonly number[];
  /** ResBlocks per level on the way down (default 2). */
  numResBlocks?: number;
  /** Dropout rate in the ResBlocks (default 0.1). */
  dropout?: number;
  /** Number of classes; 0 = their `cond=False` (no label_embedding). Default 0. */
  numClasses?: number;
  /** Their `--augm`: registers `augm_embedding` (Linear(9, tdim, bias=False)) so such checkpoints load; it is never fed. */
  augm?: boolean;
  /** Image channels (default 3, the only value their model.py builds). */
  inChannels?: number;
  /** Height = width of the inputs (default 32); only checked, the network itself is size-agnostic. */
  imgSize?: number;
  /** Seed of the initial weights (default 0); dropout masks draw from seed + 1. */
  seed?: number;
}

export type ResolvedReferenceUNetConfig = Required<ReferenceUNetConfig>;

/** Their CIFAR-10 configuration (main.py defaults and CBDM's config/cifar10.txt), conditional on 10 classes. */
export function cifar10ReferenceConfig(overrides: ReferenceUNetConfig = {}): ReferenceUNetConfig {
  return { T: 1000, ch: 128, chMult: [1, 2, 2, 2], attn: [1], numResBlocks: 2, dropout: 0.1, numClasses: 10, augm: false, inChannels: 3, imgSize: 32, ...overrides };
}

export function resolveReferenceConfig(config: ReferenceUNetConfig = {}): ResolvedReferenceUNetConfig {
  const c: ResolvedReferenceUNetConfig = {
    T: 1000,
    ch: 128,
    chMult: [1, 2, 2, 2],
    attn: [1],
    numResBlocks: 2,
    dropout: 0.1,
    numClasses: 0,
    augm: false,
    inChannels: 3,
    imgSize: 32,
    seed: 0,
    ...config,
  };
  const bad = (field: string, why: string) => new RangeError(`ReferenceUNet: config.${field} ${why}`);
  const posInt = (v: number) => Number.isInteger(v) && v >= 1;
  if (!posInt(c.T)) throw bad('T', `must be a positive integer, got ${c.T}`);
  if (!posInt(c.ch) || c.ch % 2 !== 0) throw bad('ch', `must be a positive even integer, got ${c.ch}`);
  if (c.chMult.length < 1 || !c.chMult.every(posInt)) throw bad('chMult', `must be a non-empty list of positive integers, got [${c.chMult}]`);
  for (const m of [1, ...c.chMult]) {
    if ((c.ch * m) % 32 !== 0) throw bad('ch', `* ${m} = ${c.ch * m} channels is not a multiple of 32 (their GroupNorm(32, C))`);
  }
  if (!c.attn.every((i) => Number.isInteger(i) && i >= 0 && i < c.chMult.length)) throw bad('attn', `holds level indices in [0, ${c.chMult.length}), got [${c.attn}] ('attn index out of bound' in theirs)`);
  if (!posInt(c.numResBlocks)) throw bad('numResBlocks', `must be a positive integer, got ${c.numResBlocks}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw bad('dropout', `must be in [0, 1), got ${c.dropout}`);
  if (!(Number.isInteger(c.numClasses) && c.numClasses >= 0)) throw bad('numClasses', `must be an integer >= 0, got ${c.numClasses}`);
  if (!posInt(c.inChannels)) throw bad('inChannels', `must be a positive integer, got ${c.inChannels}`);
  if (!posInt(c.imgSize) || c.imgSize % 2 ** (c.chMult.length - 1) !== 0) throw bad('imgSize', `${c.imgSize} must be divisible by 2^${c.chMult.length - 1} for ${c.chMult.length} levels`);
  return c;
}

/** Xavier (Glorot) uniform like `torch.nn.init.xavier_uniform_`: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform(shape: readonly number[], gen: Generator, gain = 1): Tensor {
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  const bound = gain * Math.sqrt(6 / (shape[1]! * receptive + shape[0]! * receptive));
  return rand(shape, gen, 'float32', -bound, bound);
}

function xavierInit(layer: Conv2d | Linear, gen: Generator, gain = 1): void {
  layer.weight.dataSync().set(xavierUniform(layer.weight.shape, gen, gain).dataSync());
  layer.bias?.dataSync().fill(0);
}

/**
 * Their time table: row t = [sin(t f_0), cos(t f_0), sin(t f_1), cos(t f_1), ...], f_i = exp(-(2i / dim) ln 10000),
 * computed with float32 rounding at each step as PyTorch does in float32 (so it agrees with theirs to ~1 ulp;
 * an imported checkpoint brings its own table anyway). Returns float32 [T, dim].
 */
export function referenceTimeTable(T: number, dim: number): Tensor {
  const f = Math.fround;
  const half = dim / 2;
  const freq = new Float64Array(half);
  const ln = f(Math.log(10000));
  for (let i = 0; i < half; i++) freq[i] = f(Math.exp(-f(f((2 * i) / dim) * ln)));
  const out = new Float32Array(T * dim);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const arg = f(t * freq[i]!);
      out[t * dim + 2 * i] = Math.sin(arg);
      out[t * dim + 2 * i + 1] = Math.cos(arg);
    }
  }
  return fromTypedArray(out, [T, dim]);
}

/** A module whose children are named '0', '1', ... with gaps allowed (nn.Sequential's numbering, where Swish or Dropout hold no weights). */
class Indexed extends Module {
  put<M extends Module>(index: number, m: M): M {
    return this.addModule(String(index), m);
  }
}

/** The frozen table (their `nn.Embedding.from_pretrained(emb)`): a buffer named `weight`, not trained. */
class FrozenTable extends Module {
  readonly weight: Tensor;
  constructor(table: Tensor) {
    super();
    this.weight = this.addBuffer('weight', table);
  }
}

/** `time_embedding`: table lookup -> Linear(ch, tdim) -> Swish -> Linear(tdim, tdim). */
export class ReferenceTimeEmbedding extends Module {
  readonly table: FrozenTable;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    readonly T: number,
    readonly dModel: number,
    dim: number,
    gen: Generator,
  ) {
    super();
    const seq = this.addModule('timembedding', new Indexed());
    this.table = seq.put(0, new FrozenTable(referenceTimeTable(T, dModel)));
    this.fc1 = seq.put(1, new Linear(dModel, dim, { generator: gen }));
    this.fc2 = seq.put(3, new Linear(dim, dim, { generator: gen }));
    xavierInit(this.fc1, gen);
    xavierInit(this.fc2, gen);
  }

  override forward(t: TimestepInput, batch: number): Tensor {
    const ts = timestepArray('ReferenceUNet.forward', t, batch);
    const idx = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      const v = ts[b]!;
      if (!Number.isInteger(v) || v < 0 || v >= this.T) throw new RangeError(`ReferenceUNet.forward: timestep ${v} at position ${b} must be an integer in [0, ${this.T}) (it indexes the time table, as in their model.py)`);
      idx[b] = v;
    }
    const rows = indexSelect(this.table.weight, 0, fromTypedArray(idx, [batch]));
    return this.fc2.forward(this.fc1.forward(rows).silu());
  }
}

/** Their AttnBlock: x + proj(softmax(q^T k / sqrt(C)) v), q, k, v 1x1 convs of GroupNorm(32, C)(x). */
export class ReferenceAttnBlock extends Module {
  readonly groupNorm: GroupNorm;
  readonly projQ: Conv2d;
  readonly projK: Conv2d;
  readonly projV: Conv2d;
  readonly proj: Conv2d;

  constructor(
    readonly channels: number,
    gen: Generator,
  ) {
    super();
    this.groupNorm = this.addModule('group_norm', new GroupNorm(32, channels));
    this.projQ = this.addModule('proj_q', new Conv2d(channels, channels, 1, { generator: gen }));
    this.projK = this.addModule('proj_k', new Conv2d(channels, channels, 1, { generator: gen }));
    this.projV = this.addModule('proj_v', new Conv2d(channels, channels, 1, { generator: gen }));
    this.proj = this.addModule('proj', new Conv2d(channels, channels, 1, { generator: gen }));
    for (const m of [this.projQ, this.projK, this.projV]) xavierInit(m, gen);
    xavierInit(this.proj, gen, 1e-5);
  }

  override forward(x: Tensor): Tensor {
    const [n, c, hh, ww] = x.shape as [number, number, number, number];
    const hw = hh * ww;
    const h = this.groupNorm.forward(x);
    const q = this.projQ.forward(h).reshape(n, c, hw).permute(0, 2, 1); // [B, HW, C]
    const k = this.projK.forward(h).reshape(n, c, hw); // [B, C, HW]
    const v = this.projV.forward(h).reshape(n, c, hw).permute(0, 2, 1); // [B, HW, C]
    const w = matmul(q, k).mul(c ** -0.5).softmax(-1); // [B, HW, HW]
    const out = matmul(w, v).permute(0, 2, 1).reshape(n, c, hh, ww);
    return x.add(this.proj.forward(out));
  }
}

/** Their ResBlock: block1 (GN, Swish, conv3), + temb_proj (Swish, Linear), block2 (GN, Swish, Dropout, conv3), + shortcut, attn. */
export class ReferenceResBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly tembProj: Linear;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly shortcut: Conv2d | null;
  readonly attn: ReferenceAttnBlock | null;

  constructor(
    readonly inCh: number,
    readonly outCh: number,
    tdim: number,
    opts: { gen: Generator; dropoutGen: Generator; dropout: number; attn: boolean },
  ) {
    super();
    const gen = opts.gen;
    const block1 = this.addModule('block1', new Indexed());
    this.norm1 = block1.put(0, new GroupNorm(32, inCh));
    this.conv1 = block1.put(2, new Conv2d(inCh, outCh, 3, { padding: 1, generator: gen }));
    this.tembProj = this.addModule('temb_proj', new Indexed()).put(1, new Linear(tdim, outCh, { generator: gen }));
    const block2 = this.addModule('block2', new Indexed());
    this.norm2 = block2.put(0, new GroupNorm(32, outCh));
    this.dropout = block2.put(2, new Dropout(opts.dropout, { generator: opts.dropoutGen }));
    this.conv2 = block2.put(3, new Conv2d(outCh, outCh, 3, { padding: 1, generator: gen }));
    this.shortcut = inCh !== outCh ? this.addModule('shortcut', new Conv2d(inCh, outCh, 1, { generator: gen })) : null;
    this.attn = opts.attn ? this.addModule('attn', new ReferenceAttnBlock(outCh, gen)) : null;
    // Their ResBlock.initialize() walks self.modules(): every conv and linear of the block, the attention's four
    // included (so its output projection ends with gain 1, not AttnBlock's 1e-5), then block2's conv with gain 1e-5.
    const att = this.attn ? [this.attn.projQ, this.attn.projK, this.attn.projV, this.attn.proj] : [];
    for (const m of [this.conv1, this.tembProj, this.conv2, ...(this.shortcut ? [this.shortcut] : []), ...att]) xavierInit(m, gen);
    xavierInit(this.conv2, gen, 1e-5);
  }

  override forward(x: Tensor, temb: Tensor): Tensor {
    let h = this.conv1.forward(this.norm1.forward(x).silu());
    h = h.add(this.tembProj.forward(temb.silu()).reshape(x.shape[0]!, this.outCh, 1, 1));
    h = this.conv2.forward(this.dropout.forward(this.norm2.forward(h).silu()));
    h = h.add(this.shortcut ? this.shortcut.forward(x) : x);
    return this.attn ? this.attn.forward(h) : h;
  }
}

/** Their DownSample (`main`: conv3 stride 2, padding 1) and UpSample (nearest x2, then `main`: conv3). */
export class ReferenceResample extends Module {
  readonly main: Conv2d;
  constructor(
    readonly kind: 'down' | 'up',
    ch: number,
    gen: Generator,
  ) {
    super();
    this.main = this.addModule('main', new Conv2d(ch, ch, 3, { stride: kind === 'down' ? 2 : 1, padding: 1, generator: gen }));
    xavierInit(this.main, gen);
  }
  override forward(x: Tensor, _temb?: Tensor): Tensor {
    return this.main.forward(this.kind === 'up' ? upsampleNearest2d(x, 2) : x);
  }
}

export class ReferenceUNet extends Module implements Denoiser {
  readonly config: ResolvedReferenceUNetConfig;
  readonly numClasses: number;
  readonly nullLabel: number;
  readonly dropoutGenerator: Generator;
  readonly timeEmbedding: ReferenceTimeEmbedding;
  readonly labelEmbedding: Embedding | null;
  readonly augmEmbedding: Linear | null;
  private readonly head: Conv2d;
  private readonly downblocks: (ReferenceResBlock | ReferenceResample)[] = [];
  private readonly middleblocks: ReferenceResBlock[] = [];
  private readonly upblocks: (ReferenceResBlock | ReferenceResample)[] = [];
  private readonly tailNorm: GroupNorm;
  private readonly tailConv: Conv2d;
  /** A read-only tap on the output of the middle blocks, [B, C, s, s] (their `return_mid` / `temp_mid`), as UNet2D's. */
  bottleneckTap: ((features: Tensor) => void) | null = null;

  constructor(config: ReferenceUNetConfig = {}) {
    super();
    const c = resolveReferenceConfig(config);
    this.config = c;
    this.numClasses = c.numClasses;
    this.nullLabel = c.numClasses > 0 ? c.numClasses : -1;
    const gen = new Generator(c.seed);
    this.dropoutGenerator = new Generator(c.seed + 1);
    const tdim = c.ch * 4;
    const blockOpts = (attn: boolean) => ({ gen, dropoutGen: this.dropoutGenerator, dropout: c.dropout, attn });

    this.timeEmbedding = this.addModule('time_embedding', new ReferenceTimeEmbedding(c.T, c.ch, tdim, gen));
    this.labelEmbedding = c.numClasses > 0 ? this.addModule('label_embedding', new Embedding(c.numClasses, tdim, { generator: gen })) : null;
    this.augmEmbedding = c.augm ? this.addModule('augm_embedding', new Linear(9, tdim, { generator: gen, bias: false })) : null;
    this.head = this.addModule('head', new Conv2d(c.inChannels, c.ch, 3, { padding: 1, generator: gen }));

    const down = this.addModule('downblocks', new Indexed());
    const chs = [c.ch];
    let nowCh = c.ch;
    c.chMult.forEach((mult, i) => {
      const outCh = c.ch * mult;
      for (let b = 0; b < c.numResBlocks; b++) {
        this.downblocks.push(down.put(this.downblocks.length, new ReferenceResBlock(nowCh, outCh, tdim, blockOpts(c.attn.includes(i)))));
        nowCh = outCh;
        chs.push(nowCh);
      }
      if (i !== c.chMult.length - 1) {
        this.downblocks.push(down.put(this.downblocks.length, new ReferenceResample('down', nowCh, gen)));
        chs.push(nowCh);
      }
    });
    const mid = this.addModule('middleblocks', new Indexed());
    this.middleblocks.push(mid.put(0, new ReferenceResBlock(nowCh, nowCh, tdim, blockOpts(true))));
    this.middleblocks.push(mid.put(1, new ReferenceResBlock(nowCh, nowCh, tdim, blockOpts(false))));
    const up = this.addModule('upblocks', new Indexed());
    for (let i = c.chMult.length - 1; i >= 0; i--) {
      const outCh = c.ch * c.chMult[i]!;
      for (let b = 0; b < c.numResBlocks + 1; b++) {
        this.upblocks.push(up.put(this.upblocks.length, new ReferenceResBlock(chs.pop()! + nowCh, outCh, tdim, blockOpts(c.attn.includes(i)))));
        nowCh = outCh;
      }
      if (i !== 0) this.upblocks.push(up.put(this.upblocks.length, new ReferenceResample('up', nowCh, gen)));
    }
    const tail = this.addModule('tail', new Indexed());
    this.tailNorm = tail.put(0, new GroupNorm(32, nowCh));
    this.tailConv = tail.put(2, new Conv2d(nowCh, c.inChannels, 3, { padding: 1, generator: gen }));
    xavierInit(this.head, gen);
    xavierInit(this.tailConv, gen, 1e-5);
  }

  /** temb = MLP(table[t]) + label_embedding(y), where the null label (and `labels` null/undefined) adds nothing. */
  embed(t: TimestepInput, labels: LabelInput, batch: number): Tensor {
    let temb = this.timeEmbedding.forward(t, batch);
    if (this.labelEmbedding && labels !== null && labels !== undefined) {
      const y = labelTensor('ReferenceUNet.forward', labels, batch, this.numClasses).toTypedArray() as Int32Array;
      const idx = new Int32Array(batch);
      const keep = new Float32Array(batch);
      let any = false;
      for (let b = 0; b < batch; b++) {
        if (y[b] !== this.numClasses) {
          idx[b] = y[b]!;
          keep[b] = 1;
          any = true;
        }
      }
      if (any) {
        const emb = this.labelEmbedding.forward(fromTypedArray(idx, [batch]));
        temb = temb.add(keep.every((k) => k === 1) ? emb : emb.mul(fromTypedArray(keep, [batch, 1])));
      }
    }
    return temb;
  }

  override forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor {
    const c = this.config;
    if (x.ndim !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== c.imgSize || x.shape[3] !== c.imgSize) {
      throw new Error(`ReferenceUNet.forward: x must be [B, ${c.inChannels}, ${c.imgSize}, ${c.imgSize}], got [${x.shape}]`);
    }
    // As UNet2D: without gradients each block runs in its own tidy so its intermediates are freed as it returns.
    const scoped = isGradEnabled() ? <R>(f: () => R) => f() : tidy;
    const temb = this.embed(t, labels, x.shape[0]!);
    let h = this.head.forward(x);
    const hs: Tensor[] = [h];
    for (const layer of this.downblocks) {
      h = scoped(() => layer.forward(h, temb));
      hs.push(h);
    }
    for (const layer of this.middleblocks) h = scoped(() => layer.forward(h, temb));
    if (this.bottleneckTap) this.bottleneckTap(h);
    for (const layer of this.upblocks) {
      h = scoped(() => (layer instanceof ReferenceResBlock ? layer.forward(concat([h, hs.pop()!], 1), temb) : layer.forward(h)));
    }
    return scoped(() => this.tailConv.forward(this.tailNorm.forward(h).silu()));
  }
}

