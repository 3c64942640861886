/**
 * Charts for reports: line, scatter, grouped bar and quiver (vector field) plots on a shared axes model.
 * Everything is drawn into a `Canvas`; encode it with `savePng` (node-only, src/node/png.ts).
 */
import { Canvas, PALETTE, type Color } from './canvas.js';

export interface AxesOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function extent(values: readonly number[], pad = 0.05): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

/** A plotting area with data-to-pixel transforms, drawn axes, ticks, labels and a legend. */
export class Axes {
  readonly canvas: Canvas;
  readonly left = 62;
  readonly top = 34;
  readonly right: number;
  readonly bottom: number;
  readonly xRange: [number, number];
  readonly yRange: [number, number];

  constructor(opts: AxesOptions, xs: readonly number[], ys: readonly number[]) {
    const width = opts.width ?? 640;
    const height = opts.height ?? 420;
    this.canvas = new Canvas(width, height);
    this.right = width - 20;
    this.bottom = height - 48;
    this.xRange = opts.xRange ? [...opts.xRange] : extent(xs);
    this.yRange = opts.yRange ? [...opts.yRange] : extent(ys);
    this.drawFrame(opts);
  }

  px(x: number): number {
    const [a, b] = this.xRange;
    return this.left + ((x - a) / (b - a)) * (this.right - this.left);
  }
  py(y: number): number {
    const [a, b] = this.yRange;
    return this.bottom - ((y - a) / (b - a)) * (this.bottom - this.top);
  }

  private drawFrame(opts: AxesOptions): void {
    const c = this.canvas;
    const grid: Color = [230, 230, 230];
    const ink: Color = [60, 60, 60];
    for (const t of niceTicks(...this.xRange)) {
      const x = this.px(t);
      c.line(x, this.top, x, this.bottom, grid);
      c.text(x, this.bottom + 6, fmtTick(t), ink, 1, 'center');
    }
    for (const t of niceTicks(...this.yRange)) {
      const y = this.py(t);
      c.line(this.left, y, this.right, y, grid);
      c.text(this.left - 6, y - 3, fmtTick(t), ink, 1, 'right');
    }
    c.line(this.left, this.bottom, this.right, this.bottom, ink);
    c.line(this.left, this.top, this.left, this.bottom, ink);
    if (opts.title) c.text(c.width / 2, 10, opts.title, [0, 0, 0], 2, 'center');
    if (opts.xLabel) c.text((this.left + this.right) / 2, this.bottom + 24, opts.xLabel, ink, 1, 'center');
    if (opts.yLabel) c.textVertical(8, (this.top + this.bottom) / 2, opts.yLabel, ink);
  }

  /**
   * Draws the legend in the corner of the plotting area that hides the fewest of `points` (data coordinates; pass
   * the plotted points, and for lines points along their segments), top-right on a tie: a fixed corner hid curves.
   */
  legend(entries: readonly { label: string; color: Color }[], points: readonly (readonly [number, number])[] = []): void {
    const w = Math.max(...entries.map((e) => Canvas.textWidth(e.label))) + 26;
    const h = entries.length * 14 + 6;
    const box = this.legendBox(w + 8, h, points.map(([x, y]) => [this.px(x), this.py(y)] as const));
    this.canvas.fillRect(box.x, box.y, w + 8, h, [255, 255, 255], 0.85);
    let y = box.y + 4;
    for (const e of entries) {
      this.canvas.fillRect(box.x + 4, y, 14, 8, e.color);
      this.canvas.text(box.x + 24, y, e.label, [30, 30, 30]);
      y += 14;
    }
  }

  /** The legend's top-left corner: of the four corners, the one whose box covers the fewest pixel points. */
  legendBox(w: number, h: number, pixels: readonly (readonly [number, number])[]): { x: number; y: number } {
    const margin = 2;
    const xs = [this.right - w - margin, this.left + margin];
    const ys = [this.top + margin, this.bottom - h - margin];
    let best = { x: xs[0]!, y: ys[0]!, covered: Infinity };
    for (const y of ys) {
      for (const x of xs) {
        let covered = 0;
        for (const [px, py] of pixels) if (px >= x && px <= x + w && py >= y && py <= y + h) covered++;
        if (covered < best.covered) best = { x, y, covered };
      }
    }
    return best;
  }
}

/** Each polyline's vertices and 7 points between consecutive ones, so that a legend avoids the lines, not only the vertices. */
function pointsAlong(series: readonly Series[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      out.push([s.x[i]!, s.y[i]!]);
      if (i === 0) continue;
      for (let k = 1; k < 8; k++) out.push([s.x[i - 1]! + ((s.x[i]! - s.x[i - 1]!) * k) / 8, s.y[i - 1]! + ((s.y[i]! - s.y[i - 1]!) * k) / 8]);
    }
  }
  return out;
}

export interface Series {
  label: string;
  x: readonly number[];
  y: readonly number[];
  color?: Color;
}

export function lineChart(series: readonly Series[], opts: AxesOptions = {}): Canvas {
  const ax = new Axes(opts, series.flatMap((s) => s.x), series.flatMap((s) => s.y));
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    for (let i = 1; i < s.x.length; i++) ax.canvas.line(ax.px(s.x[i - 1]!), ax.py(s.y[i - 1]!), ax.px(s.x[i]!), ax.py(s.y[i]!), color, 2);
  });
  if (series.length > 1 || series[0]?.label) ax.legend(series.map((s, k) => ({ label: s.label, color: s.color ?? PALETTE[k % PALETTE.length]! })), pointsAlong(series));
  return ax.canvas;
}

export function scatterChart(series: readonly (Series & { radius?: number; alpha?: number })[], opts: AxesOptions = {}): Canvas {
  const ax = new Axes(opts, series.flatMap((s) => s.x), series.flatMap((s) => s.y));
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    for (let i = 0; i < s.x.length; i++) ax.canvas.disc(ax.px(s.x[i]!), ax.py(s.y[i]!), s.radius ?? 1.5, color, s.alpha ?? 0.6);
  });
  ax.legend(series.map((s, k) => ({ label: s.label, color: s.color ?? PALETTE[k % PALETTE.length]! })), series.flatMap((s) => s.x.map((x, i) => [x, s.y[i]!] as [number, number])));
  return ax.canvas;
}

/** Grouped bars: one group of bars per category, one bar per series. */
export function barChart(categories: readonly string[], series: readonly { label: string; values: readonly number[]; color?: Color }[], opts: AxesOptions = {}): Canvas {
  const n = categories.length;
  const ys = series.flatMap((s) => s.values);
  const yMax = Math.max(0, ...ys.filter(Number.isFinite));
  const ax = new Axes({ ...opts, xRange: [-0.5, n - 0.5], yRange: opts.yRange ?? [0, yMax * 1.1 || 1] }, [], []);
  const groupWidth = ((ax.right - ax.left) / n) * 0.8;
  const barWidth = groupWidth / Math.max(1, series.length);
  // Replace numeric x ticks with category names.
  ax.canvas.fillRect(ax.left + 1, ax.bottom + 2, ax.right - ax.left, 12, [255, 255, 255]);
  categories.forEach((cat, i) => ax.canvas.text(ax.px(i), ax.bottom + 6, cat, [60, 60, 60], 1, 'center'));
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const x = ax.px(i) - groupWidth / 2 + k * barWidth;
      ax.canvas.fillRect(x, ax.py(v), barWidth - 1, ax.bottom - ax.py(v), color);
    });
  });
  // The bars' extents (group edges and centre, five heights each) for the legend to avoid.
  const barPoints = series.flatMap((s) => s.values.flatMap((v, i) => (Number.isFinite(v) ? [-0.4, 0, 0.4].flatMap((dx) => [0, 0.25, 0.5, 0.75, 1].map((f) => [i + dx, v * f] as [number, number])) : [])));
  ax.legend(series.map((s, k) => ({ label: s.label, color: s.color ?? PALETTE[k % PALETTE.length]! })), barPoints);
  return ax.canvas;
}

/** A vector field: an arrow per grid point, lengths scaled so the longest spans `cell` pixels. */
export function quiverChart(
  field: readonly { x: number; y: number; u: number; v: number }[],
  opts: AxesOptions & { cell?: number; color?: Color; points?: Series[] } = {},
): Canvas {
  const ax = new Axes(opts, field.map((f) => f.x), field.map((f) => f.y));
  for (const [k, s] of (opts.points ?? []).entries()) {
    const color = s.color ?? PALETTE[(k + 1) % PALETTE.length]!;
    for (let i = 0; i < s.x.length; i++) ax.canvas.disc(ax.px(s.x[i]!), ax.py(s.y[i]!), 1.5, color, 0.35);
  }
  const maxLen = Math.max(1e-12, ...field.map((f) => Math.hypot(f.u, f.v)));
  const cell = opts.cell ?? 14;
  for (const f of field) {
    const len = Math.hypot(f.u, f.v);
    // Square-root scaling keeps weak arrows visible next to strong ones.
    const s = (cell * Math.sqrt(len / maxLen)) / Math.max(len, 1e-12);
    const x0 = ax.px(f.x);
    const y0 = ax.py(f.y);
    ax.canvas.arrow(x0, y0, x0 + f.u * s, y0 - f.v * s, opts.color ?? [40, 40, 40]);
  }
  if (opts.points?.length) ax.legend(opts.points.map((s, k) => ({ label: s.label, color: s.color ?? PALETTE[(k + 1) % PALETTE.length]! })));
  return ax.canvas;
}

/** Places canvases side by side in a grid with `cols` columns. */
export function composeGrid(panels: readonly Canvas[], cols: number): Canvas {
  const w = Math.max(...panels.map((p) => p.width));
  const h = Math.max(...panels.map((p) => p.height));
  const rows = Math.ceil(panels.length / cols);
  const out = new Canvas(w * cols, h * rows);
  panels.forEach((p, i) => out.draw(p, (i % cols) * w, Math.floor(i / cols) * h));
  return out;
}
