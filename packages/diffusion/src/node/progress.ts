/**
 * Node-only: a progress bar with it/s and ETA (only on terminals; redrawn at most 10 times a second) and a
 * JSON-lines logger (always: one JSON object per line, appended, so a crashed run keeps its log).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ProgressBarOptions {
  total: number;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Default: only when the stream is a TTY. */
  enabled?: boolean;
  label?: string;
  width?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class ProgressBar {
  readonly total: number;
  readonly enabled: boolean;
  private readonly stream: NodeJS.WriteStream;
  private readonly label: string;
  private readonly width: number;
  private start = 0;
  private startCount = 0;
  private lastDraw = 0;

  constructor(opts: ProgressBarOptions) {
    this.total = opts.total;
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? Boolean(this.stream.isTTY);
    this.label = opts.label ?? '';
    this.width = opts.width ?? 30;
  }

  /** The line for `count` done out of total after `elapsedSeconds` (since `startCount`). */
  render(count: number, elapsedSeconds: number, extra = ''): string {
    const frac = this.total > 0 ? Math.min(1, count / this.total) : 0;
    const filled = Math.round(frac * this.width);
    const rate = elapsedSeconds > 0 ? (count - this.startCount) / elapsedSeconds : 0;
    const eta = rate > 0 ? (this.total - count) / rate : NaN;
    const rateText = rate >= 1 || rate === 0 ? `${rate.toFixed(2)} it/s` : `${(1 / rate).toFixed(2)} s/it`;
    return `${this.label ? this.label + ' ' : ''}[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${count}/${this.total} ${rateText} ETA ${formatDuration(eta)}${extra ? ' ' + extra : ''}`;
  }

  /** Call once before the first update; `from` is the count already done (a resumed run). */
  begin(from = 0): void {
    this.start = performance.now();
    this.startCount = from;
  }

  update(count: number, extra = ''): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (count < this.total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.render(count, (now - this.start) / 1000, extra)}\x1b[K`);
  }

  end(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

/** Appends one JSON object per line to a file. */
export class JsonlLogger {
  private readonly fd: number;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.fd = fs.openSync(file, 'a');
  }

  log(record: Record<string, unknown>): void {
    fs.writeSync(this.fd, JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n');
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
