/** Shapes, strides, axes, slices, broadcasting and conv / pool geometry: the bookkeeping every op and kernel shares. */

export type Shape = readonly number[];

/** The error every op throws for bad input: it names the op and says what was expected. */
export class TensorError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: ${message}`);
    this.name = 'TensorError';
  }
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkShape(op: string, shape: Shape): number[] {
  if (!Array.isArray(shape)) throw new TensorError(op, `shape must be an array of integers, got ${String(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TensorError(op, `invalid dimension ${d} in shape ${fmtShape(shape)}`);
    n *= d;
  }
  // Beyond 2^53 element counts and offsets are no longer exact in a JavaScript number: no tensor can be that big.
  if (n > Number.MAX_SAFE_INTEGER) throw new TensorError(op, `shape ${fmtShape(shape)} has ${n} elements, more than 2^53 - 1: no tensor can have that many`);
  return [...shape];
}

/** Normalises a possibly negative axis for a tensor of rank `ndim` (a 0-d tensor has no axes, like NumPy). */
export function normalizeAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new TensorError(op, `axis ${axis} is out of range for a tensor of rank ${ndim}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Normalises a list of axes (undefined = all), sorted and without duplicates. */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normalizeAxis(op, a, ndim));
  if (new Set(out).size !== out.length) throw new TensorError(op, `repeated axis in ${fmtShape(list)}`);
  return out.sort((a, b) => a - b);
}

/** NumPy broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = ndim - s.length + i;
      const d = s[i]!;
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new TensorError(op, `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together`);
      }
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had `target` shape (broadcast dims get stride 0). */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[lead + i] = shape[i] === 1 && target[lead + i] !== 1 ? 0 : strides[i]!;
  return out;
}

/** True if a layout addresses the elements offset, offset+1, ... in row-major order. */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** The shape left after reducing `axes` (normalised, as from `normalizeAxes`): size 1 there with keepdims, else dropped. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  return keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

// ---- slices -----------------------------------------------------------------------------------------------

/** Per-axis slice: a number picks one index (keeps the axis, size 1, unlike NumPy), [start, stop, step] a range, null all. */
export type SliceSpec = null | number | readonly [(number | null)?, (number | null)?, (number | null)?];

export interface NormalizedSlice {
  start: number;
  step: number;
  length: number;
}

/** Resolves slice specs against a tensor's shape (negative and out-of-range bounds as in NumPy). */
export function normalizeSlices(op: string, t: { readonly shape: Shape }, specs: readonly SliceSpec[]): NormalizedSlice[] {
  if (specs.length > t.shape.length) throw new TensorError(op, `${specs.length} slice specs for a tensor of rank ${t.shape.length}`);
  return t.shape.map((dim, i) => {
    const spec = specs[i] ?? null;
    if (spec === null) return { start: 0, step: 1, length: dim };
    if (typeof spec === 'number') {
      const idx = spec < 0 ? spec + dim : spec;
      if (!Number.isInteger(spec) || idx < 0 || idx >= dim) throw new TensorError(op, `index ${spec} is out of range for axis ${i} of size ${dim}`);
      return { start: idx, step: 1, length: 1 };
    }
    const step = spec[2] ?? 1;
    if (!Number.isInteger(step) || step === 0) throw new TensorError(op, `step must be a non-zero integer, got ${step} on axis ${i}`);
    // A fractional bound would put the view's offset between elements.
    for (const b of [spec[0], spec[1]]) {
      if (b != null && !Number.isInteger(b)) throw new TensorError(op, `start and stop must be integers or null, got ${b} on axis ${i}`);
    }
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    if (step > 0) {
      const start = clampIdx(spec[0] ?? 0, 0, dim);
      const stop = clampIdx(spec[1] ?? dim, 0, dim);
      return { start, step, length: Math.max(0, Math.ceil((stop - start) / step)) };
    }
    const start = spec[0] == null ? dim - 1 : clampIdx(spec[0], -1, dim - 1);
    const stop = spec[1] == null ? -1 : clampIdx(spec[1], -1, dim - 1);
    return { start, step, length: Math.max(0, Math.ceil((stop - start) / step)) };
  });
}

// ---- convolution and pooling geometry ---------------------------------------------------------------------

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

/** Fully resolved convolution geometry, passed to every conv kernel. */
export interface ConvGeometry {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  oh: number; ow: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

function pair(op: string, name: string, v: number | readonly [number, number] | undefined, dflt: number, min: number): [number, number] {
  const p = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new TensorError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p as [number, number];
}

/** Checks a conv2d's input [N, C, H, W] and weight [O, C / groups, kH, kW] shapes and options; the output size. */
export function convGeometry(op: string, inputShape: readonly number[], weightShape: readonly number[], opts: Conv2dOptions): ConvGeometry {
  if (inputShape.length !== 4) throw new TensorError(op, `input must be [N, C, H, W], got ${fmtShape(inputShape)}`);
  if (weightShape.length !== 4) throw new TensorError(op, `weight must be [O, C/groups, kH, kW], got ${fmtShape(weightShape)}`);
  const [n, c, h, w] = inputShape as [number, number, number, number];
  const [o, cg, kh, kw] = weightShape as [number, number, number, number];
  if (kh < 1 || kw < 1) throw new TensorError(op, `kernel must be at least 1x1, got weight ${fmtShape(weightShape)}`);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new TensorError(op, `groups must be a positive integer, got ${groups}`);
  if (c % groups !== 0 || o % groups !== 0) throw new TensorError(op, `channels in (${c}) and out (${o}) must be divisible by groups (${groups})`);
  if (cg !== c / groups) {
    throw new TensorError(op, `weight ${fmtShape(weightShape)} expects ${cg * groups} input channels with groups=${groups}, input ${fmtShape(inputShape)} has ${c}`);
  }
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', opts.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (oh < 1 || ow < 1) {
    throw new TensorError(op, `kernel ${kh}x${kw} (dilation ${dh}x${dw}) does not fit the padded input ${h + 2 * ph}x${w + 2 * pw}`);
  }
  return { n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups };
}

export interface PoolOptions {
  kernel: number | readonly [number, number];
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
}

export interface PoolGeometry {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  oh: number; ow: number;
}

/** Checks a 2-D pooling's input [N, C, H, W] and options; the output size. */
export function poolGeometry(op: string, shape: readonly number[], opts: PoolOptions): PoolGeometry {
  if (shape.length !== 4) throw new TensorError(op, `input must be [N, C, H, W], got ${fmtShape(shape)}`);
  const asPair = (name: string, v: unknown, min: number): [number, number] => {
    const p = typeof v === 'number' ? [v, v] : (v as number[]);
    if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
      throw new TensorError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
    }
    return p as [number, number];
  };
  const [kh, kw] = asPair('kernel', opts.kernel, 1);
  const [sh, sw] = asPair('stride', opts.stride ?? [kh, kw], 1);
  const [ph, pw] = asPair('padding', opts.padding ?? 0, 0);
  if (ph * 2 > kh || pw * 2 > kw) throw new TensorError(op, `padding ${ph}x${pw} must be at most half the kernel ${kh}x${kw}`);
  const [n, c, h, w] = shape as [number, number, number, number];
  // With padding, an empty image would still get windows, but with no cells to pool.
  if (h < 1 || w < 1) throw new TensorError(op, `input image is empty: ${fmtShape(shape)}`);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) throw new TensorError(op, `kernel ${kh}x${kw} does not fit the padded input ${h + 2 * ph}x${w + 2 * pw}`);
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow };
}
