/** Messages between the playground page and its training worker. */

export type Method = 'baseline' | 't2h' | 'h2t' | 'full';

export interface TrainConfig {
  method: Method;
  /** Batch Re-sample: class-balanced batches. */
  resample: boolean;
  /** Tail count / head count (the paper's toy: 100 / 10,000 = 0.01). */
  imbalance: number;
  /** Eq. 7 exponent (0: Eq. 8's plain kernel). */
  beta: number;
  /** Transfers only for t < cut time; 1000 = no cut. */
  cutTime: number;
  batchSize: number;
  /** Timestep at which score fields are drawn. */
  fieldT: number;
  /** Training steps in total (the worker stops there). */
  steps: number;
  seed: number;
  /** Force the plain-TypeScript reference kernels (to compare speeds). */
  referenceKernels?: boolean;
}

export type ToWorker = { type: 'start'; config: TrainConfig } | { type: 'stop' } | { type: 'fieldT'; fieldT: number };

export interface FieldArrow {
  x: number;
  y: number;
  u: number;
  v: number;
}

export interface Frame {
  type: 'frame';
  run: number;
  step: number;
  steps: number;
  loss: number;
  stepMs: number;
  transferRate: number;
  field: FieldArrow[];
  /** Generated samples, row-major [n, 2], or null when not re-sampled for this frame. */
  samples: number[] | null;
  tailShare: number | null;
  sw: number | null;
  done: boolean;
}

export interface Ready {
  type: 'ready';
  run: number;
  backend: string;
  recipe: string;
  /** Training points (subsampled for drawing), row-major. */
  data: number[];
  headCount: number;
  tailCount: number;
  exactField: FieldArrow[];
  balancedField: FieldArrow[];
  /** SW distance of a second balanced draw to the balanced target: the noise floor. */
  swFloor: number;
  /** Tail share and SW of the long-tailed training data itself. */
  dataTailShare: number;
  dataSw: number;
}

export type FromWorker = Ready | Frame | { type: 'exact'; run: number; fieldT: number; exactField: FieldArrow[]; balancedField: FieldArrow[] } | { type: 'error'; message: string };

export const HEAD_MEAN = [0, 4] as const;
export const TAIL_MEAN = [0, -4] as const;
export const VARIANCE = 0.2;
export const HEAD_COUNT = 10_000;

/** The oclt recipe string of a config (see packages/oclt/src/recipes.ts). */
export function recipeOf(c: TrainConfig): string {
  let s = c.method === 'baseline' ? 'baseline' : c.beta !== 0 ? `beta:${c.beta}+gate=${c.method}` : c.method;
  if (c.resample) s += '+resample';
  if (c.method !== 'baseline' && c.cutTime < 1000) s += `+cut=${c.cutTime}${c.method === 'full' ? '+cut-full' : ''}`;
  return s + '+uncond';
}

/** The grid of score arrows: 15 x 17 points over [-6, 6] x [-8, 8]. */
export function fieldGrid(): { x: number; y: number }[] {
  const pts: { x: number; y: number }[] = [];
  for (let i = 0; i <= 14; i++) for (let j = 0; j <= 16; j++) pts.push({ x: -6 + (12 * i) / 14, y: -8 + (16 * j) / 16 });
  return pts;
}
