import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { Canvas } from './canvas.js';
import { lineChart, niceTicks, Axes } from './charts.js';
import { encodePng } from '../node/png.js';

describe('niceTicks', () => {
  it('covers the range with evenly spaced round values', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-3, max: 1e6, noNaN: true }), (lo, span) => {
        const ticks = niceTicks(lo, lo + span);
        expect(ticks.length).toBeGreaterThanOrEqual(2);
        expect(ticks.length).toBeLessThanOrEqual(11);
        for (const t of ticks) {
          expect(t).toBeGreaterThanOrEqual(lo - span * 1e-6);
          expect(t).toBeLessThanOrEqual(lo + span + span * 1e-6);
        }
        const step = ticks[1]! - ticks[0]!;
        const mantissa = step / 10 ** Math.floor(Math.log10(step));
        expect([1, 2, 2.5, 5, 10].some((m) => Math.abs(m - mantissa) < 1e-6)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('Canvas', () => {
  it('draws text, lines and discs where asked', () => {
    const c = new Canvas(40, 20);
    c.line(0, 10, 39, 10, [255, 0, 0]);
    const at = (x: number, y: number) => [...c.pixels.subarray((y * 40 + x) * 4, (y * 40 + x) * 4 + 3)];
    expect(at(20, 10)).toEqual([255, 0, 0]);
    expect(at(20, 5)).toEqual([255, 255, 255]);
    c.disc(5, 5, 2, [0, 0, 255]);
    expect(at(5, 5)).toEqual([0, 0, 255]);
    c.text(30, 0, 'I', [0, 0, 0]); // the I glyph's top row is columns 1..3
    expect(at(31, 0)).toEqual([0, 0, 0]);
    expect(at(30, 0)).toEqual([255, 255, 255]);
  });

  it('rejects an invalid size', () => {
    expect(() => new Canvas(0, 10)).toThrow(/size/);
  });

  it('maps data to pixels linearly inside the frame', () => {
    const ax = new Axes({ width: 300, height: 200, xRange: [0, 10], yRange: [-1, 1] }, [], []);
    expect(ax.px(0)).toBe(ax.left);
    expect(ax.px(10)).toBe(ax.right);
    expect(ax.py(-1)).toBe(ax.bottom);
    expect(ax.py(1)).toBe(ax.top);
  });
});

describe('PNG encoding', () => {
  it('round-trips pixels through an independent decoder', () => {
    const canvas = lineChart([{ label: 'a', x: [0, 1, 2], y: [0, 1, 4] }], { width: 120, height: 90, title: 'T' });
    const decoded = PNG.sync.read(encodePng(canvas));
    expect(decoded.width).toBe(120);
    expect(decoded.height).toBe(90);
    expect(Buffer.compare(decoded.data, Buffer.from(canvas.pixels))).toBe(0);
  });
});

describe('legend placement', () => {
  const red: [number, number, number] = [220, 0, 0];
  const blue: [number, number, number] = [0, 0, 220];
  const count = (c: Canvas, rgb: readonly number[], x0: number, y0: number, x1: number, y1: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if ([0, 1, 2].every((k) => c.pixels[(y * c.width + x) * 4 + k] === rgb[k])) n++;
    return n;
  };

  it('keeps a curve that runs through the top-right corner visible (the transfer curve hid "full" above t ~ 780)', () => {
    // Like the transfer curve: one series rises to the top right, the other stays low.
    const x = [0, 200, 400, 600, 800, 1000];
    const series = [
      { label: 'full (a long label)', x, y: [0, 0.1, 0.3, 0.6, 0.9, 1], color: red },
      { label: 't2h', x, y: [0, 0.05, 0.1, 0.15, 0.2, 0.25], color: blue },
    ];
    const c = lineChart(series, { width: 400, height: 300 });
    const ax = new Axes({ width: 400, height: 300 }, series.flatMap((s) => s.x), series.flatMap((s) => s.y));
    // Every part of the red curve right of x = 780 is drawn, none covered: compare with the same chart unlabeled.
    const bare = lineChart([{ ...series[0]!, label: '' }], { width: 400, height: 300 });
    const right = Math.floor(ax.px(780));
    expect(count(bare, red, right, ax.top, ax.right, ax.bottom)).toBeGreaterThan(20);
    expect(count(c, red, right, ax.top, ax.right, ax.bottom)).toBe(count(bare, red, right, ax.top, ax.right, ax.bottom));
  });

  it('chooses the emptiest corner, top-right on a tie', () => {
    const ax = new Axes({ width: 300, height: 200, xRange: [0, 10], yRange: [0, 10] }, [], []);
    expect(ax.legendBox(60, 30, [])).toEqual({ x: ax.right - 62, y: ax.top + 2, covered: 0 });
    const topRight = [[ax.right - 10, ax.top + 10]] as const;
    expect(ax.legendBox(60, 30, topRight)).toMatchObject({ x: ax.left + 2, y: ax.top + 2 });
  });
});
