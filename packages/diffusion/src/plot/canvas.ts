/** A minimal RGBA raster canvas for figures: lines, discs, rectangles, arrows and 5x7 bitmap text. */
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from './font.js';

export type Color = readonly [number, number, number];

/** A colour-blind-friendly qualitative palette (Okabe-Ito). */
export const PALETTE: readonly Color[] = [
  [0, 114, 178], [230, 159, 0], [0, 158, 115], [204, 121, 167], [86, 180, 233], [213, 94, 0], [240, 228, 66], [0, 0, 0],
];

export class Canvas {
  readonly pixels: Uint8ClampedArray;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Color = [255, 255, 255],
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`Canvas: size must be positive integers, got ${width}x${height}`);
    }
    this.pixels = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < width * height; i++) this.pixels.set([...background, 255], i * 4);
  }

  /** Blends `color` with opacity `alpha` into pixel (x, y); out-of-bounds pixels are ignored. */
  blend(x: number, y: number, color: Color, alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const p = (y * this.width + x) * 4;
    for (let c = 0; c < 3; c++) this.pixels[p + c] = this.pixels[p + c]! * (1 - alpha) + color[c]! * alpha;
  }

  fillRect(x: number, y: number, w: number, h: number, color: Color, alpha = 1): void {
    for (let j = Math.max(0, Math.floor(y)); j < Math.min(this.height, Math.ceil(y + h)); j++) {
      for (let i = Math.max(0, Math.floor(x)); i < Math.min(this.width, Math.ceil(x + w)); i++) this.blend(i, j, color, alpha);
    }
  }

  disc(cx: number, cy: number, r: number, color: Color, alpha = 1): void {
    const r2 = r * r;
    for (let j = Math.floor(cy - r); j <= Math.ceil(cy + r); j++) {
      for (let i = Math.floor(cx - r); i <= Math.ceil(cx + r); i++) {
        if ((i - cx) ** 2 + (j - cy) ** 2 <= r2) this.blend(i, j, color, alpha);
      }
    }
  }

  /** A line of the given width, drawn by stepping along it one pixel at a time. */
  line(x0: number, y0: number, x1: number, y1: number, color: Color, width = 1, alpha = 1): void {
    const len = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.max(1, Math.ceil(len));
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      if (width <= 1) this.blend(x, y, color, alpha);
      else this.disc(x, y, width / 2, color, alpha);
    }
  }

  /** An arrow from (x0, y0) to (x1, y1) with a head proportional to its length. */
  arrow(x0: number, y0: number, x1: number, y1: number, color: Color, width = 1): void {
    this.line(x0, y0, x1, y1, color, width);
    const len = Math.hypot(x1 - x0, y1 - y0);
    if (len < 2) return;
    const head = Math.min(6, len * 0.35);
    const ang = Math.atan2(y1 - y0, x1 - x0);
    for (const side of [-1, 1]) {
      const a = ang + Math.PI - side * 0.45;
      this.line(x1, y1, x1 + head * Math.cos(a), y1 + head * Math.sin(a), color, width);
    }
  }

  /** Width in pixels of `text` at `scale`. */
  static textWidth(text: string, scale = 1): number {
    return text.length * (GLYPH_WIDTH + 1) * scale - scale;
  }

  /** Draws text with its top-left corner at (x, y); `align` positions it horizontally relative to x. */
  text(x: number, y: number, text: string, color: Color = [0, 0, 0], scale = 1, align: 'left' | 'center' | 'right' = 'left'): void {
    const w = Canvas.textWidth(text, scale);
    let cx = Math.round(align === 'left' ? x : align === 'center' ? x - w / 2 : x - w);
    for (const ch of text) {
      const rows = glyph(ch);
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        for (let c = 0; c < GLYPH_WIDTH; c++) {
          if (rows[r]! & (1 << (GLYPH_WIDTH - 1 - c))) this.fillRect(cx + c * scale, y + r * scale, scale, scale, color);
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** Text rotated 90 degrees counter-clockwise (for y-axis labels), centred on (x, y). */
  textVertical(x: number, y: number, text: string, color: Color = [0, 0, 0], scale = 1): void {
    const w = Canvas.textWidth(text, scale);
    let cy = Math.round(y + w / 2);
    for (const ch of text) {
      const rows = glyph(ch);
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        for (let c = 0; c < GLYPH_WIDTH; c++) {
          if (rows[r]! & (1 << (GLYPH_WIDTH - 1 - c))) this.fillRect(x + r * scale, cy - c * scale, scale, scale, color);
        }
      }
      cy -= (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** Copies another canvas in at (x, y). */
  draw(other: Canvas, x: number, y: number): void {
    for (let j = 0; j < other.height; j++) {
      for (let i = 0; i < other.width; i++) {
        const p = (j * other.width + i) * 4;
        this.blend(x + i, y + j, [other.pixels[p]!, other.pixels[p + 1]!, other.pixels[p + 2]!]);
      }
    }
  }
}
