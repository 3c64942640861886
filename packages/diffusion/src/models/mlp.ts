/**
 * A small residual MLP denoiser eps_theta(x, t, y) for low-dimensional data (2-D toys):
 *   h = in(x) + time(sinusoid(t)) [+ label(y)];  h <- h + Linear(SiLU(h)) per hidden layer;  out(SiLU(h)).
 * Browser-safe.
 */
import { Generator, type Tensor } from '@oclt/tensor';
import { Embedding, Linear, Module, ModuleList, Sequential, SiLU } from '@oclt/autograd';
import { labelTensor, timestepEmbedding, type Denoiser, type LabelInput, type TimestepInput } from './embeddings.js';

export interface MLPDenoiserConfig {
  /** Data dimension D (inputs and outputs are [B, D]). */
  dataDim: number;
  /** Hidden width (default 128). */
  hidden?: number;
  /** Number of residual hidden layers (default 3). */
  numLayers?: number;
  /** Sinusoidal time-embedding size (default 32). */
  timeEmbedDim?: number;
  /** Number of classes for conditioning (default 0 = unconditional); label numClasses is the null label. */
  numClasses?: number;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

export class MLPDenoiser extends Module implements Denoiser {
  readonly config: Required<MLPDenoiserConfig>;
  readonly numClasses: number;
  readonly nullLabel: number;
  private readonly inProj: Linear;
  private readonly timeMlp: Sequential;
  private readonly labelEmbed: Embedding | null;
  private readonly layers: ModuleList<Linear>;
  private readonly outProj: Linear;

  constructor(config: MLPDenoiserConfig) {
    super();
    const c: Required<MLPDenoiserConfig> = { hidden: 128, numLayers: 3, timeEmbedDim: 32, numClasses: 0, seed: 0, ...config };
    if (!Number.isInteger(c.dataDim) || c.dataDim < 1) throw new RangeError(`MLPDenoiser: dataDim must be a positive integer, got ${c.dataDim}`);
    this.config = c;
    this.numClasses = c.numClasses;
    this.nullLabel = c.numClasses > 0 ? c.numClasses : -1;
    const generator = new Generator(c.seed);
    this.inProj = this.addModule('in_proj', new Linear(c.dataDim, c.hidden, { generator }));
    this.timeMlp = this.addModule('time_mlp', new Sequential(new Linear(c.timeEmbedDim, c.hidden, { generator }), new SiLU(), new Linear(c.hidden, c.hidden, { generator })));
    this.labelEmbed = c.numClasses > 0 ? this.addModule('label_embed', new Embedding(c.numClasses + 1, c.hidden, { generator })) : null;
    this.layers = this.addModule('layers', new ModuleList(Array.from({ length: c.numLayers }, () => new Linear(c.hidden, c.hidden, { generator }))));
    this.outProj = this.addModule('out_proj', new Linear(c.hidden, c.dataDim, { generator }));
  }

  override forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor {
    if (x.ndim !== 2 || x.shape[1] !== this.config.dataDim) throw new Error(`MLPDenoiser.forward: x must be [B, ${this.config.dataDim}], got [${x.shape}]`);
    const b = x.shape[0]!;
    let h = this.inProj.forward(x).add(this.timeMlp.forward(timestepEmbedding(t, b, this.config.timeEmbedDim)));
    if (this.labelEmbed) h = h.add(this.labelEmbed.forward(labelTensor('MLPDenoiser.forward', labels, b, this.numClasses)));
    for (const layer of this.layers) h = h.add(layer.forward(h.silu()));
    return this.outProj.forward(h.silu());
  }
}
