/**
 * softmax-accuracy: how far softmax is from the float64 result, ours against tfjs-wasm's (which runs XNNPACK's
 * kernel), next to their times. Issue 4 sets our softmax against tfjs-wasm's speed; this suite shows what each
 * computes for that time.
 *
 * Cases: 256 rows of 1,024 values spread over [-s, s] for s = 1, 10, 30 (the wider the range, the more the
 * rounding of x - max in float32 matters: exp turns an absolute error in its argument into a relative one).
 * Per impl: the worst and mean error in ulp of the float64 softmax (computed here from the same float32
 * inputs), over outputs above 1e-37 (float32's normal range), and the median time of interleaved runs.
 */
import * as T from '@oclt/tensor';
import { interleave, round, selected, type BenchRow, type Suite } from '../harness.js';
import { loadTf } from './kernels.js';

const ROWS = 256;
const COLS = 1024;

/** Rows of COLS values in [-scale, scale] (a deterministic spread, not a sample). */
function inputs(scale: number): Float32Array {
  return new Float32Array(ROWS * COLS).map((_, i) => Math.sin(i * 0.7) * scale);
}

/** Softmax of each row in float64. */
function reference(x: Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < ROWS; r++) {
    let m = -Infinity;
    for (let c = 0; c < COLS; c++) m = Math.max(m, x[r * COLS + c]!);
    let s = 0;
    for (let c = 0; c < COLS; c++) s += out[r * COLS + c] = Math.exp(x[r * COLS + c]! - m);
    for (let c = 0; c < COLS; c++) out[r * COLS + c]! /= s;
  }
  return out;
}

/** Worst and mean error in float32 ulp of the reference value. */
function ulpError(got: Float32Array, want: Float64Array): { worst: number; mean: number } {
  let worst = 0;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w < 1e-37) continue;
    const e = Math.abs(got[i]! - w) / 2 ** (Math.floor(Math.log2(w)) - 23);
    worst = Math.max(worst, e);
    sum += e;
    n++;
  }
  return { worst, mean: sum / n };
}

export const softmaxAccuracySuite: Suite = {
  name: 'softmax-accuracy',
  description: 'softmax error in ulp of the float64 result and time, oclt-cpu against tfjs-wasm, on inputs of growing range',
  async run(opts) {
    const tf = await loadTf();
    await tf.setBackend('wasm');
    const rows: BenchRow[] = [];
    for (const scale of [1, 10, 30]) {
      const name = `softmax-256x1024-range-${scale}`;
      const x = inputs(scale);
      const want = reference(x);
      const ours = T.tensor(x).reshape(ROWS, COLS);
      const theirs = tf.tensor2d(x, [ROWS, COLS]);
      const errors = {
        'oclt-cpu': ulpError(T.softmax(ours, -1).dataSync() as Float32Array, want),
        'tfjs-wasm': ulpError(tf.softmax(theirs).dataSync() as Float32Array, want),
      };
      const contenders = [
        { case: name, impl: 'oclt-cpu', run: () => T.tidy(() => void T.softmax(ours, -1)) },
        { case: name, impl: 'tfjs-wasm', run: () => tf.softmax(theirs).dispose() },
      ].filter((c) => selected(opts, c));
      for (const row of await interleave(contenders, { rounds: opts.quick ? 5 : 15, burstMs: 20 })) {
        const e = errors[row.impl as keyof typeof errors];
        rows.push({ ...row, worst_ulp: round(e.worst, 2), mean_ulp: round(e.mean, 3) });
      }
      theirs.dispose();
    }
    return rows;
  },
};
