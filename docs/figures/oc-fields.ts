/**
 * Teaching code for chapter 4 and its figures: what the gates of oriented calibration do to the *expected*
 * regression target, with no training, on a data set of two classes (head and tail).
 *
 * Take the large-batch limit of Eq. 8: the reference batch is the whole data set, each sample j weighted by how
 * often the sampler puts it in a batch (w_j = 1 / n_{y_j} for re-sampled batches, 1 for shuffled ones). At a noisy
 * point x at time t, p(j | x) = w_j N(x; sqrt(abar) x0_j, (1 - abar) I) / sum_k (...), and the candidate target of j
 * is eps_j(x) = (x - sqrt(abar) x0_j) / sqrt(1 - abar). Split by class: P_H, P_T (the classes' shares of p(. | x),
 * summing to 1) and the class-mean targets e_H = sum_{j in H} p(j|x) eps_j / P_H, e_T likewise.
 *
 * A row i of class y_i that drew z keeps eps_z if the gate allows (y_i, y_z), else its own eps_i. Averaging over z
 * and over which row i produced x (the same p(i | x)), every gate's expected target is a mix of the two
 * class-mean targets, (1 - c) e_H + c e_T, with a tail share c that depends only on P_T (`tailShare`).
 */
import { Axes, PALETTE, type Canvas, type Color } from '@oclt/diffusion';

export type Gate = 'baseline' | 't2h' | 'h2t' | 'full';
/** Which field is learned: the unconditional one, or the conditional one of the tail / head label. */
export type Field = 'uncond' | 'cond-tail' | 'cond-head';

/**
 * The tail's share c of the expected target (1 - c goes to the head's), given P_T = p(tail | x).
 * Unconditional: baseline and Full P_T (Full draws z from the same posterior the row came from: no change in
 * expectation); T2H P_T^2 (head rows keep head targets, tail rows take any); H2T P_T (2 - P_T) = P_T (1 + P_H).
 * Conditional, tail label (rows of the tail only): baseline and H2T 1; T2H and Full P_T (any target allowed).
 * Conditional, head label: baseline and T2H 0; H2T and Full P_T.
 */
export function tailShare(gate: Gate, field: Field, pTail: number): number {
  const pHead = 1 - pTail;
  if (field === 'uncond') return gate === 't2h' ? pTail * pTail : gate === 'h2t' ? pTail * (1 + pHead) : pTail;
  if (field === 'cond-tail') return gate === 't2h' || gate === 'full' ? pTail : 1;
  return gate === 'h2t' || gate === 'full' ? pTail : 0;
}

export interface ClassSplit {
  /** p(tail | x) under the sampler's weights. */
  pTail: number;
  /** The class-mean candidate targets e_H, e_T (zeros where a class has no weight). */
  epsHead: number[];
  epsTail: number[];
  /** log sum_{j in class} w_j N_j(x) (up to one shared constant): where the rows of each class land. */
  logMassHead: number;
  logMassTail: number;
}

/** P_T, e_H and e_T at x (`points` row-major [N, D], `tail[j]` true for tail samples, `logWeights` per sample). */
export function classSplit(x: readonly number[], points: ArrayLike<number>, tail: ArrayLike<boolean | number>, alphaBar: number, logWeights: ArrayLike<number>): ClassSplit {
  const D = x.length;
  const N = points.length / D;
  const scale = Math.sqrt(alphaBar);
  const variance = 1 - alphaBar;
  const logits = new Float64Array(N);
  let max = -Infinity;
  for (let j = 0; j < N; j++) {
    let d2 = 0;
    for (let k = 0; k < D; k++) d2 += (x[k]! - scale * points[j * D + k]!) ** 2;
    logits[j] = -d2 / (2 * variance) + logWeights[j]!;
    if (logits[j]! > max) max = logits[j]!;
  }
  const mass = [0, 0];
  const sums = [new Array<number>(D).fill(0), new Array<number>(D).fill(0)];
  for (let j = 0; j < N; j++) {
    const c = tail[j] ? 1 : 0;
    const p = Math.exp(logits[j]! - max);
    mass[c]! += p;
    for (let k = 0; k < D; k++) sums[c]![k]! += (p * (x[k]! - scale * points[j * D + k]!)) / Math.sqrt(variance);
  }
  const mean = (c: number) => sums[c]!.map((s) => (mass[c]! > 0 ? s / mass[c]! : 0));
  return { pTail: mass[1]! / (mass[0]! + mass[1]!), epsHead: mean(0), epsTail: mean(1), logMassHead: max + Math.log(mass[0]!), logMassTail: max + Math.log(mass[1]!) };
}

/** The expected target (1 - c) e_H + c e_T of a gate for a field, at the point `split` describes. */
export function expectedTarget(gate: Gate, field: Field, split: ClassSplit): number[] {
  const c = tailShare(gate, field, split.pTail);
  return split.epsHead.map((h, k) => (1 - c) * h + c * split.epsTail[k]!);
}

/**
 * The mode of the smoothed density that x flows to, by mean shift: x <- x + (1 - abar) score(x) = sqrt(abar) E[x0 | x]
 * (Tweedie), which climbs log p_t to a local maximum. `score` is the field's score at a point.
 */
export function attractor(x0: readonly number[], score: (x: number[]) => ArrayLike<number>, alphaBar: number, iterations = 60): number[] {
  let x = [...x0];
  for (let n = 0; n < iterations; n++) {
    const s = score(x);
    const next = x.map((v, k) => v + (1 - alphaBar) * s[k]!);
    const moved = Math.hypot(...next.map((v, k) => v - x[k]!));
    x = next;
    if (moved < 1e-4) break;
  }
  return x;
}

/** Blends two colours: t = 0 gives a, t = 1 gives b. */
export function mix(a: Color, b: Color, t: number): Color {
  return [0, 1, 2].map((k) => a[k]! + (b[k]! - a[k]!) * t) as unknown as Color;
}

export const HEAD_COLOR: Color = PALETTE[0]!;
export const TAIL_COLOR: Color = PALETTE[1]!;

/**
 * A panel: background cells coloured by `shade(x, y)` (0 head colour, 0.5 white, 1 tail colour), arrows of a
 * vector field (square-root length scaling, as `quiverChart`), optional markers (filled discs) and point clouds.
 */
export function fieldPanel(opts: {
  title: string;
  xRange: readonly [number, number];
  yRange: readonly [number, number];
  cell: number;
  shade: (x: number, y: number) => number;
  arrows: { x: number; y: number; u: number; v: number }[];
  markers?: { x: number; y: number; color: Color }[];
  clouds?: { x: number[]; y: number[]; color: Color }[];
  width?: number;
  height?: number;
  xLabel?: string;
}): Canvas {
  const ax = new Axes({ title: opts.title, xRange: opts.xRange, yRange: opts.yRange, width: opts.width ?? 340, height: opts.height ?? 420, xLabel: opts.xLabel }, [], []);
  const c = ax.canvas;
  const white: Color = [255, 255, 255];
  for (let x = opts.xRange[0]; x < opts.xRange[1] - 1e-9; x += opts.cell) {
    for (let y = opts.yRange[0]; y < opts.yRange[1] - 1e-9; y += opts.cell) {
      const s = opts.shade(x + opts.cell / 2, y + opts.cell / 2);
      const color = s < 0.5 ? mix(HEAD_COLOR, white, s * 2) : mix(white, TAIL_COLOR, (s - 0.5) * 2);
      // Integer edges shared by neighbouring cells, so that no pixel is blended twice.
      const px0 = Math.round(ax.px(x));
      const py0 = Math.round(ax.py(y + opts.cell));
      c.fillRect(px0, py0, Math.round(ax.px(x + opts.cell)) - px0, Math.round(ax.py(y)) - py0, color, 0.45);
    }
  }
  for (const cloud of opts.clouds ?? []) for (let i = 0; i < cloud.x.length; i++) c.disc(ax.px(cloud.x[i]!), ax.py(cloud.y[i]!), 1.2, cloud.color, 0.5);
  const maxLen = Math.max(1e-12, ...opts.arrows.map((f) => Math.hypot(f.u, f.v)));
  for (const f of opts.arrows) {
    const len = Math.hypot(f.u, f.v);
    const s = (13 * Math.sqrt(len / maxLen)) / Math.max(len, 1e-12);
    const x0 = ax.px(f.x);
    const y0 = ax.py(f.y);
    c.arrow(x0, y0, x0 + f.u * s, y0 - f.v * s, [30, 30, 30]);
  }
  for (const m of opts.markers ?? []) {
    c.disc(ax.px(m.x), ax.py(m.y), 5, [0, 0, 0]);
    c.disc(ax.px(m.x), ax.py(m.y), 3.5, m.color);
  }
  return c;
}
