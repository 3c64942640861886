/**
 * Inputs that condition a denoiser: the sinusoidal timestep embedding and label handling for classifier-free
 * guidance. Browser-safe.
 */
import { fromTypedArray, Tensor } from '@oclt/tensor';
import type { Module } from '@oclt/autograd';

export type TimestepInput = number | readonly number[] | Int32Array | Float32Array | Tensor;
export type LabelInput = readonly number[] | Int32Array | Tensor | null | undefined;

/** A network eps_theta(x_t, t, y): what the trainer and the samplers call. */
export interface Denoiser extends Module {
  forward(x: Tensor, t: TimestepInput, labels?: LabelInput): Tensor;
  /** Number of real classes (0 for an unconditional model). */
  readonly numClasses: number;
  /** The label index meaning "no label" (classifier-free guidance), = numClasses; -1 when unconditional. */
  readonly nullLabel: number;
}

/** Timesteps as a float64 array of length `batch` (a single number is repeated). */
export function timestepArray(fn: string, t: TimestepInput, batch: number): Float64Array {
  if (typeof t === 'number') return new Float64Array(batch).fill(t);
  const arr = t instanceof Tensor ? t.toTypedArray() : t;
  if (arr.length !== batch) throw new RangeError(`${fn}: got ${arr.length} timesteps for a batch of ${batch}`);
  return Float64Array.from(arr as ArrayLike<number>);
}

/**
 * The sinusoidal embedding of Vaswani et al. 2017 as used by DDPM (Ho et al. 2020, Appendix B):
 * emb[i] = sin(t * f_i) for i < dim/2 and cos(t * f_(i - dim/2)) after, with f_i = exp(-ln(10000) i / (dim/2 - 1)).
 * Computed in float64 and returned as float32 [B, dim]; it is a constant (no gradient).
 */
export function timestepEmbedding(t: TimestepInput, batch: number, dim: number): Tensor {
  if (!Number.isInteger(dim) || dim < 4 || dim % 2 !== 0) throw new RangeError(`timestepEmbedding: dim must be an even integer >= 4, got ${dim}`);
  const ts = timestepArray('timestepEmbedding', t, batch);
  const half = dim / 2;
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < half; i++) {
      const arg = ts[b]! * Math.exp((-Math.log(10000) * i) / (half - 1));
      out[b * dim + i] = Math.sin(arg);
      out[b * dim + half + i] = Math.cos(arg);
    }
  }
  return fromTypedArray(out, [batch, dim]);
}

/**
 * Labels as an int32 tensor [B] for a model with `numClasses` classes: values in [0, numClasses], where
 * numClasses is the null label. `null`/undefined means "no label" for the whole batch.
 */
export function labelTensor(fn: string, labels: LabelInput, batch: number, numClasses: number): Tensor {
  const out = new Int32Array(batch);
  if (labels === null || labels === undefined) {
    out.fill(numClasses);
  } else {
    const arr = labels instanceof Tensor ? labels.toTypedArray() : labels;
    if (arr.length !== batch) throw new RangeError(`${fn}: got ${arr.length} labels for a batch of ${batch}`);
    for (let i = 0; i < batch; i++) {
      const y = Number(arr[i]);
      if (!Number.isInteger(y) || y < 0 || y > numClasses) throw new RangeError(`${fn}: label ${y} at position ${i} is outside [0, ${numClasses}] (${numClasses} = the null label)`);
      out[i] = y;
    }
  }
  return fromTypedArray(out, [batch]);
}
