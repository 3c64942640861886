/**
 * Gradient checking: compares the engine's gradients with float64 central differences,
 *   df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h),
 * which use only forward ops, so they are an oracle independent of the gradient table.
 *
 * Error budget in float64 (unit roundoff u ~ 1.1e-16): truncation ~ h^2 |f'''| / 6 and cancellation
 * ~ u |f| / h. With h = 1e-6 and |f| <= ~1e3 that is ~1e-12 |f'''| + ~1e-7, so an absolute tolerance of
 * 1e-5 plus a relative one of 1e-6 leaves a wide margin while any wrong formula (errors of order 1e-1) fails.
 *
 * Inputs can be laid out in memory in several ways with the same logical values, so that kernels and
 * gradients are exercised on non-contiguous views: permuted (reversed strides), strided (every other element
 * of a larger buffer whose gaps hold NaN, starting at an offset) and flipped (negative strides).
 */
import { fromTypedArray, noGrad, slice, Tensor, type DType } from '@oclt/tensor';
import { gradients } from './engine.js';

export type Layout = 'contiguous' | 'permuted' | 'strided' | 'flipped';
export const LAYOUTS: readonly Layout[] = ['contiguous', 'permuted', 'strided', 'flipped'];

export interface CheckInput {
  /** Row-major logical values. */
  values: Float64Array;
  shape: readonly number[];
  layout?: Layout;
}

/** A tensor with the given logical values (row-major) whose memory follows `layout`. Built under noGrad: a leaf. */
export function makeTensor(values: Float64Array, shape: readonly number[], layout: Layout = 'contiguous', dtype: DType = 'float64'): Tensor {
  return noGrad(() => {
    const base = fromTypedArray(dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values), shape);
    const all = shape.map((_, i) => i);
    switch (layout) {
      case 'contiguous':
        return base;
      case 'permuted': {
        const reversed = [...all].reverse();
        return base.permute(reversed).contiguous().permute(reversed).detach();
      }
      case 'flipped':
        return shape.length === 0 ? base : base.flip(all).contiguous().flip(all).detach();
      case 'strided': {
        // Element i of each axis lives at 1 + 2 i of a buffer of size 2 d + 1; the gaps hold NaN.
        const big = shape.map((d) => 2 * d + 1);
        const bigStrides = big.map((_, i) => big.slice(i + 1).reduce((a, b) => a * b, 1));
        const data = dtype === 'float64' ? new Float64Array(big.reduce((a, b) => a * b, 1)) : new Float32Array(big.reduce((a, b) => a * b, 1));
        data.fill(NaN);
        const idx = new Array<number>(shape.length).fill(0);
        for (let flat = 0; flat < values.length; flat++) {
          let pos = 0;
          for (let k = 0; k < shape.length; k++) pos += (1 + 2 * idx[k]!) * bigStrides[k]!;
          data[pos] = values[flat]!;
          for (let k = shape.length - 1; k >= 0; k--) {
            if (++idx[k]! < shape[k]!) break;
            idx[k] = 0;
          }
        }
        const view = slice(fromTypedArray(data, big), big.map((d) => [1, d, 2] as const));
        return view.detach();
      }
    }
  });
}

/** f evaluated on inputs built from plain values (no recording). */
function evaluate(f: (...xs: Tensor[]) => Tensor, inputs: readonly CheckInput[], values: readonly Float64Array[]): number {
  return noGrad(() => {
    const out = f(...inputs.map((inp, i) => makeTensor(values[i]!, inp.shape, inp.layout)));
    if (out.size !== 1) throw new Error(`gradcheck: f must return one element, got shape [${out.shape}]`);
    return out.item();
  });
}

/** Central-difference gradients of a one-element f with respect to every input. */
export function numericalGradients(f: (...xs: Tensor[]) => Tensor, inputs: readonly CheckInput[], h = 1e-6): Float64Array[] {
  const values = inputs.map((inp) => Float64Array.from(inp.values));
  return values.map((v) => {
    const g = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      v[i] = x + h;
      const plus = evaluate(f, inputs, values);
      v[i] = x - h;
      const minus = evaluate(f, inputs, values);
      v[i] = x;
      g[i] = (plus - minus) / (2 * h);
    }
    return g;
  });
}

/**
 * The engine's gradients of a one-element f with respect to every input, in row-major order, with the inputs
 * built as `dtype` leaves (each gradient must come back with its leaf's dtype and shape).
 */
export function analyticalGradients(f: (...xs: Tensor[]) => Tensor, inputs: readonly CheckInput[], dtype: 'float32' | 'float64' = 'float64'): Float64Array[] {
  const leaves = inputs.map((inp) => makeTensor(inp.values, inp.shape, inp.layout, dtype).requiresGrad_());
  const out = f(...leaves);
  const grads = gradients(out, leaves);
  return grads.map((g, i) => {
    if (g.dtype !== dtype || g.shape.some((d, k) => d !== inputs[i]!.shape[k]) || g.ndim !== inputs[i]!.shape.length) {
      throw new Error(`gradcheck: gradient ${i} has dtype ${g.dtype} and shape [${g.shape}], expected ${dtype} [${inputs[i]!.shape}]`);
    }
    return Float64Array.from(g.toTypedArray());
  });
}

export interface GradCheckResult {
  ok: boolean;
  /** The worst element: input number, flat index, engine value, numerical value. */
  worst: { input: number; index: number; analytical: number; numerical: number; excess: number } | null;
}

/**
 * Checks |analytical - numerical| <= atol + rtol |numerical| for every element of every input.
 * `excess` is the worst error divided by its allowance (ok when <= 1).
 */
export function checkGradients(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly CheckInput[],
  { h = 1e-6, atol = 1e-5, rtol = 1e-6 }: { h?: number; atol?: number; rtol?: number } = {},
): GradCheckResult {
  const ana = analyticalGradients(f, inputs);
  const num = numericalGradients(f, inputs, h);
  let worst: GradCheckResult['worst'] = null;
  ana.forEach((a, input) => {
    for (let index = 0; index < a.length; index++) {
      const numerical = num[input]![index]!;
      const analytical = a[index]!;
      const err = Math.abs(analytical - numerical);
      const excess = Number.isNaN(err) ? Infinity : err / (atol + rtol * Math.abs(numerical));
      if (worst === null || excess > worst.excess) worst = { input, index, analytical, numerical, excess };
    }
  });
  return { ok: worst === null || (worst as { excess: number }).excess <= 1, worst };
}
