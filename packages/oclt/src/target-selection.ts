/**
 * Oriented calibration: re-drawing the denoising target of each noisy sample from the batch (paper Eq. 8),
 * optionally re-weighted by label frequency (Eq. 7), kept or refused by a gate on class frequency (T2H, H2T, Full).
 *
 * For sample i of a batch with per-sample time t_i and abar_i = alphasCumprod[t_i]:
 *   logits_ij = -||x_t,i - sqrt(abar_i) x0_j||^2 / (2 (1 - abar_i))  [+ beta * log q(y_j), Eq. 7]
 *   p_sel(j | i) = softmax_j(logits_ij)          (reference set = the batch, self included; Eq. 8)
 *   z ~ Categorical(p_sel(. | i)); if z != i and gate(q(y_i), q(y_z)) and t_i < t_cut:
 *     target_i = (x_t,i - sqrt(abar_i) x0_z) / sqrt(1 - abar_i)     else target_i = eps_i.
 * The cut is strict, t_i < t_cut (t 0-indexed): the paper's "only allowed below this diffusion step" (Sec. 4,
 * Fig. 7 right) and the released code's `torch.where(t < self.cut_time, ...)` (OC_LT diffusion.py,
 * GaussianDiffusionTrainer.do_transfer_x0). There the test sits in the T2H and H2T branches only: Full keeps every
 * draw whatever the cut, and so does Full here unless `cutTimeAppliesToFull` is set.
 * The conditioning label of sample i stays y_i; only the regression target changes, so this works for
 * conditional and unconditional training alike.
 *
 * The squared distances come from ||x_t,i||^2 - 2 sqrt(abar_i) <x_t,i, x0_j> + abar_i ||x0_j||^2: one B x B
 * Gram matrix of dot products (accumulated in float64), never a B x B x D tensor. The division by 2(1 - abar)
 * (~2e-4 at t = 0) magnifies rounding in the distances, which is why everything after reading the float32
 * pixels is float64; the row-wise softmax subtracts the row maximum (log-sum-exp).
 */
import type { TargetHookContext } from '@oclt/diffusion';
import { Generator, Tensor, fromTypedArray, noGrad, type TypedArray } from '@oclt/tensor';

/**
 * Which re-drawn targets are kept, comparing label frequencies q of the noisy sample i and the drawn source z:
 * - 't2h' (noisy Tail to clean Head): keep iff q(y_z) >= q(y_i) (never moves to a rarer class; conditional);
 * - 'h2t' (noisy Head to clean Tail): keep iff q(y_z) <= q(y_i) (never to a more frequent class; unconditional);
 * - 'full': always keep; 'none': never (plain denoising; selection still runs, e.g. for diagnostics).
 * Ties pass, so a swap within a class (or between equally frequent classes) is always allowed.
 */
export type TransferGate = 't2h' | 'h2t' | 'full' | 'none';

export const TRANSFER_GATES: readonly TransferGate[] = ['t2h', 'h2t', 'full', 'none'];

/** Whether a target drawn from a sample of frequency `sourceFrequency` may replace that of a sample of `ownFrequency`. */
export function gateAllows(gate: TransferGate, ownFrequency: number, sourceFrequency: number): boolean {
  switch (gate) {
    case 't2h':
      return sourceFrequency >= ownFrequency;
    case 'h2t':
      return sourceFrequency <= ownFrequency;
    case 'full':
      return true;
    case 'none':
      return false;
    default:
      throw new RangeError(`gateAllows: unknown gate '${gate as string}'; expected one of ${TRANSFER_GATES.join(', ')}`);
  }
}

/** Per-sample times, labels: a Tensor, a typed array or a plain array of integers. */
export type IntegerList = Tensor | ArrayLike<number>;

/**
 * A batch as the trainer's target hook sees it (x0, the reference set; xt; noise, the default target; and `gen`,
 * which draws z: one uniform per row below the cut time, in row order) plus the selection's settings. timesteps,
 * alphasCumprod and labels also take plain lists, and labels must be given (the gate and beta read them).
 */
export interface SelectTargetsInput extends Pick<TargetHookContext, 'x0' | 'xt' | 'noise' | 'gen'> {
  /** Per-sample timestep t_i (0-indexed into alphasCumprod), length B: the trainer's int32 tensor or any integer list. */
  timesteps: IntegerList;
  /** abar_t for t = 0..T-1, each in (0, 1). */
  alphasCumprod: ArrayLike<number> | Tensor;
  /** Class labels y_i of the batch, length B (used by the gate and by beta; not by the kernel). */
  labels: IntegerList;
  /** q(y) of the training set, indexed by label (see `classFrequencies`). */
  classFrequencies: ArrayLike<number>;
  gate: TransferGate;
  /**
   * Transfer cut time: targets may change only for t_i < cutTime, strictly (default: no cut). Rows at or above it
   * are not drawn. With the 'full' gate the cut is ignored unless `cutTimeAppliesToFull` is true.
   */
  cutTime?: number;
  /**
   * Whether `cutTime` also restricts the 'full' gate (default false). The default is what the released OC_LT code
   * does: in `do_transfer_x0` (diffusion.py) the `t < cut_time` test is applied in the 't2h' and 'h2t' branches,
   * while 'full' takes every drawn index at every t (and the paper names the cut for T2H and H2T only). Set true to
   * cut Full as well, e.g. to compare the gates at one cut time. Gates 't2h', 'h2t' and 'none' always honour the cut.
   */
  cutTimeAppliesToFull?: boolean;
  /** Eq. 7 exponent: kernel weights multiplied by q(y_j)^beta (default 0: the plain kernel). */
  beta?: number;
}

export interface TargetSelection {
  /** The regression targets [B, ...] (dtype of `noise`); row i is exactly eps_i where nothing was transferred. */
  targets: Tensor;
  /** z_i, the drawn source index (i itself is possible); -1 for rows the cut time applies to, at or above it (not drawn). */
  selectedIndex: Int32Array;
  /** 1 where the target was replaced: z_i != i and the gate allowed it (and t_i < cutTime). */
  transferred: Uint8Array;
  /** Entropy (nats) of p_sel(. | i); 0 for rows not drawn. */
  selectionEntropy: Float64Array;
  /** p_sel(i | i), the probability of keeping the own source; 1 - this is Fig. 7's transfer probability. 1 for rows not drawn. */
  selfProbability: Float64Array;
}

/** Flat float data of a tensor without copying when it is already contiguous. */
function flatData(t: Tensor): TypedArray {
  return t.isContiguous ? t.dataSync() : t.toTypedArray();
}

function toNumbers(caller: string, field: string, values: IntegerList | ArrayLike<number>, length?: number): ArrayLike<number> {
  const out = values instanceof Tensor ? values.toTypedArray() : values;
  if (length !== undefined && out.length !== length) throw new RangeError(`${caller}: ${field} has ${out.length} entries, expected ${length} (the batch size)`);
  return out;
}

/** Checks a batch of samples [B, ...] and returns B and the per-sample size D. */
function batchGeometry(caller: string, tensors: Record<string, Tensor>): { batch: number; dim: number } {
  const entries = Object.entries(tensors);
  const [firstName, first] = entries[0]!;
  if (!(first instanceof Tensor) || first.ndim < 1) throw new RangeError(`${caller}: ${firstName} must be a Tensor [B, ...]`);
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new RangeError(`${caller}: ${name} must be a Tensor`);
    if (t.shape.length !== first.shape.length || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new RangeError(`${caller}: ${name} has shape [${t.shape}], expected the shape of ${firstName} [${first.shape}]`);
    }
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new RangeError(`${caller}: ${name} must be floating, got ${t.dtype}`);
  }
  const batch = first.shape[0]!;
  return { batch, dim: batch === 0 ? 0 : first.size / batch };
}

/** abar_i = alphasCumprod[t_i] for every row, validated. */
function alphaBarPerSample(caller: string, timesteps: ArrayLike<number>, alphasCumprod: ArrayLike<number>): Float64Array {
  const out = new Float64Array(timesteps.length);
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) throw new RangeError(`${caller}: timestep ${t} of row ${i} is outside [0, ${alphasCumprod.length})`);
    const abar = alphasCumprod[t]!;
    if (!(abar > 0 && abar < 1)) throw new RangeError(`${caller}: alphasCumprod[${t}] = ${abar}; the kernel needs 0 < abar < 1`);
    out[i] = abar;
  }
  return out;
}

/**
 * The Eq. 8 kernel logits (Eq. 7 with `logPrior`) for the given rows, as a float64 [rows.length x B] matrix:
 *   logits[r][j] = -||xt_i - sqrt(abar_i) x0_j||^2 / (2 (1 - abar_i)) + logPrior[j],  i = rows[r].
 * xt and x0 are row-major [B, D] arrays; alphaBar[i] belongs to row i.
 */
export function selectionLogits(xt: ArrayLike<number>, x0: ArrayLike<number>, batch: number, dim: number, alphaBar: ArrayLike<number>, rows: ArrayLike<number>, logPrior?: ArrayLike<number>): Float64Array {
  // One float64 copy of each input keeps the inner loops monomorphic (and exact products of float32 pixels).
  const a = xt instanceof Float64Array ? xt : Float64Array.from(xt);
  const b = x0 instanceof Float64Array ? x0 : Float64Array.from(x0);
  const x0SquaredNorm = new Float64Array(batch);
  for (let j = 0; j < batch; j++) x0SquaredNorm[j] = dot(b, j * dim, b, j * dim, dim);
  const dots = gramRows(a, rows, b, batch, dim);
  const logits = new Float64Array(rows.length * batch);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r]!;
    const abar = alphaBar[i]!;
    const scale = Math.sqrt(abar);
    const inv2Var = 1 / (2 * (1 - abar));
    const xtSquaredNorm = dot(a, i * dim, a, i * dim, dim);
    for (let j = 0; j < batch; j++) {
      const distance2 = xtSquaredNorm - 2 * scale * dots[r * batch + j]! + abar * x0SquaredNorm[j]!;
      // Rounding can make a tiny distance negative; a distance is never negative.
      logits[r * batch + j] = -Math.max(distance2, 0) * inv2Var + (logPrior ? logPrior[j]! : 0);
    }
  }
  return logits;
}

/**
 * The Gram matrix G[r][j] = <a row rows[r], b row j> ([rows.length x batch], float64), for row-major a and b
 * with n values per row. Register-blocked two a-rows by four b-rows: each loaded value feeds 2 or 4 products.
 */
function gramRows(a: Float64Array, rows: ArrayLike<number>, b: Float64Array, batch: number, n: number): Float64Array {
  const out = new Float64Array(rows.length * batch);
  const fullJ = batch - (batch % 4);
  let r = 0;
  for (; r + 1 < rows.length; r += 2) {
    const a0 = rows[r]! * n;
    const a1 = rows[r + 1]! * n;
    for (let j = 0; j < fullJ; j += 4) {
      const o0 = j * n;
      const o1 = o0 + n;
      const o2 = o1 + n;
      const o3 = o2 + n;
      let s00 = 0;
      let s01 = 0;
      let s02 = 0;
      let s03 = 0;
      let s10 = 0;
      let s11 = 0;
      let s12 = 0;
      let s13 = 0;
      for (let k = 0; k < n; k++) {
        const u = a[a0 + k]!;
        const v = a[a1 + k]!;
        const b0 = b[o0 + k]!;
        const b1 = b[o1 + k]!;
        const b2 = b[o2 + k]!;
        const b3 = b[o3 + k]!;
        s00 += u * b0;
        s01 += u * b1;
        s02 += u * b2;
        s03 += u * b3;
        s10 += v * b0;
        s11 += v * b1;
        s12 += v * b2;
        s13 += v * b3;
      }
      const q0 = r * batch + j;
      const q1 = q0 + batch;
      out[q0] = s00;
      out[q0 + 1] = s01;
      out[q0 + 2] = s02;
      out[q0 + 3] = s03;
      out[q1] = s10;
      out[q1 + 1] = s11;
      out[q1 + 2] = s12;
      out[q1 + 3] = s13;
    }
    for (let j = fullJ; j < batch; j++) {
      out[r * batch + j] = dot(a, a0, b, j * n, n);
      out[(r + 1) * batch + j] = dot(a, a1, b, j * n, n);
    }
  }
  // An odd last row: plain dot products.
  for (; r < rows.length; r++) for (let j = 0; j < batch; j++) out[r * batch + j] = dot(a, rows[r]! * n, b, j * n, n);
  return out;
}

/** <a[aOff .. aOff+n), b[bOff .. bOff+n)> accumulated in float64 with four partial sums. */
function dot(a: Float64Array, aOff: number, b: Float64Array, bOff: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    s0 += a[aOff + k]! * b[bOff + k]!;
    s1 += a[aOff + k + 1]! * b[bOff + k + 1]!;
    s2 += a[aOff + k + 2]! * b[bOff + k + 2]!;
    s3 += a[aOff + k + 3]! * b[bOff + k + 3]!;
  }
  for (; k < n; k++) s0 += a[aOff + k]! * b[bOff + k]!;
  return s0 + s1 + (s2 + s3);
}

/** Row-wise softmax in place (subtracting each row's maximum); returns each row's log-sum-exp. */
export function softmaxRowsInPlace(values: Float64Array, rows: number, cols: number): Float64Array {
  const logSumExp = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, values[o + j]!);
    let total = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(values[o + j]! - max);
      values[o + j] = e;
      total += e;
    }
    for (let j = 0; j < cols; j++) values[o + j]! /= total;
    logSumExp[r] = max + Math.log(total);
  }
  return logSumExp;
}

/** log q(y_j)^beta = beta * log q(y_j) for the batch (Eq. 7); undefined when beta is 0. */
function logLabelPrior(caller: string, labels: ArrayLike<number>, classFrequencies: ArrayLike<number>, beta: number): Float64Array | undefined {
  if (beta === 0) return undefined;
  if (!Number.isFinite(beta)) throw new RangeError(`${caller}: beta must be finite, got ${beta}`);
  return Float64Array.from(labels, (y) => beta * Math.log(classFrequencies[y]!));
}

function checkLabels(caller: string, labels: ArrayLike<number>, classFrequencies: ArrayLike<number>): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= classFrequencies.length) throw new RangeError(`${caller}: label ${y} of row ${i} is outside [0, ${classFrequencies.length}) (the classFrequencies length)`);
    if (!(classFrequencies[y]! > 0)) throw new RangeError(`${caller}: classFrequencies[${y}] = ${classFrequencies[y]}, but label ${y} occurs in the batch; frequencies must be > 0`);
  }
}

/**
 * p_sel(j | i) of Eq. 8 (Eq. 7 when beta != 0) for every row of a batch, as a float64 B x B row-major matrix.
 * The self-normalised weights of Eq. 5: sum_j p_sel(j|i) (-eps_j / sqrt(1 - abar_i)) is the exact score of the
 * batch's Gaussian-smoothed empirical distribution at x_t,i.
 */
export function selectionProbabilities(input: Pick<SelectTargetsInput, 'x0' | 'xt' | 'timesteps' | 'alphasCumprod'> & { labels?: IntegerList; classFrequencies?: ArrayLike<number>; beta?: number }): Float64Array {
  const caller = 'selectionProbabilities';
  const { batch, dim } = batchGeometry(caller, { x0: input.x0, xt: input.xt });
  const timesteps = toNumbers(caller, 'timesteps', input.timesteps, batch);
  const alphaBar = alphaBarPerSample(caller, timesteps, toNumbers(caller, 'alphasCumprod', input.alphasCumprod));
  const beta = input.beta ?? 0;
  let logPrior: Float64Array | undefined;
  if (beta !== 0) {
    if (!input.labels || !input.classFrequencies) throw new RangeError(`${caller}: beta = ${beta} needs labels and classFrequencies`);
    const labels = toNumbers(caller, 'labels', input.labels, batch);
    checkLabels(caller, labels, input.classFrequencies);
    logPrior = logLabelPrior(caller, labels, input.classFrequencies, beta);
  }
  const rows = Int32Array.from({ length: batch }, (_, i) => i);
  const p = selectionLogits(flatData(input.xt), flatData(input.x0), batch, dim, alphaBar, rows, logPrior);
  softmaxRowsInPlace(p, batch, batch);
  return p;
}

/**
 * Oriented calibration of one training batch (Eq. 8, Eq. 7 with `beta`, gates T2H / H2T / Full, cut time).
 * Runs without recording gradients: it only changes the regression targets.
 */
export function selectTargets(input: SelectTargetsInput): TargetSelection {
  const caller = 'selectTargets';
  return noGrad(() => {
    const { batch, dim } = batchGeometry(caller, { x0: input.x0, xt: input.xt, noise: input.noise });
    if (!(input.gen instanceof Generator)) throw new RangeError(`${caller}: gen must be a seeded Generator`);
    if (!TRANSFER_GATES.includes(input.gate)) throw new RangeError(`${caller}: unknown gate '${input.gate}'; expected one of ${TRANSFER_GATES.join(', ')}`);
    const timesteps = toNumbers(caller, 'timesteps', input.timesteps, batch);
    const labels = toNumbers(caller, 'labels', input.labels, batch);
    const q = input.classFrequencies;
    checkLabels(caller, labels, q);
    const alphaBar = alphaBarPerSample(caller, timesteps, toNumbers(caller, 'alphasCumprod', input.alphasCumprod));
    const requestedCut = input.cutTime ?? Infinity;
    if (!(requestedCut >= 0)) throw new RangeError(`${caller}: cutTime must be >= 0, got ${requestedCut}`);
    const cutTimeAppliesToFull = input.cutTimeAppliesToFull ?? false;
    if (typeof cutTimeAppliesToFull !== 'boolean') throw new RangeError(`${caller}: cutTimeAppliesToFull must be a boolean, got ${String(cutTimeAppliesToFull)}`);
    // The reference ignores the cut for Full (see `cutTimeAppliesToFull`): every row is drawn then.
    const cutTime = input.gate === 'full' && !cutTimeAppliesToFull ? Infinity : requestedCut;

    const rows: number[] = [];
    for (let i = 0; i < batch; i++) if (timesteps[i]! < cutTime) rows.push(i);

    const xt = flatData(input.xt);
    const x0 = flatData(input.x0);
    const targetsData = input.noise.toTypedArray(); // a fresh copy: rows not transferred stay eps_i bit for bit
    const selectedIndex = new Int32Array(batch).fill(-1);
    const transferred = new Uint8Array(batch);
    const selectionEntropy = new Float64Array(batch);
    const selfProbability = new Float64Array(batch).fill(1);

    const logits = selectionLogits(xt, x0, batch, dim, alphaBar, rows, logLabelPrior(caller, labels, q, input.beta ?? 0));
    const probabilities = Float64Array.from(logits);
    const logSumExp = softmaxRowsInPlace(probabilities, rows.length, batch);

    for (let r = 0; r < rows.length; r++) {
      const i = rows[r]!;
      const p = probabilities.subarray(r * batch, (r + 1) * batch);
      // H = -sum p log p = logSumExp - sum p * logit (no log of underflowed zeros).
      let expectedLogit = 0;
      for (let j = 0; j < batch; j++) if (p[j]! > 0) expectedLogit += p[j]! * logits[r * batch + j]!;
      selectionEntropy[i] = Math.max(0, logSumExp[r]! - expectedLogit);
      selfProbability[i] = p[i]!;
      const z = input.gen.categorical(p);
      selectedIndex[i] = z;
      if (z === i || !gateAllows(input.gate, q[labels[i]!]!, q[labels[z]!]!)) continue;
      transferred[i] = 1;
      const scale = Math.sqrt(alphaBar[i]!);
      const invSigma = 1 / Math.sqrt(1 - alphaBar[i]!);
      for (let k = 0; k < dim; k++) targetsData[i * dim + k] = (xt[i * dim + k]! - scale * x0[z * dim + k]!) * invSigma;
    }
    const targets = fromTypedArray(targetsData, input.noise.shape);
    return { targets, selectedIndex, transferred, selectionEntropy, selfProbability };
  });
}
