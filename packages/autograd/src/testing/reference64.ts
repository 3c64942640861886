/**
 * Float64 reference implementations written straight from the formulas with plain loops, as independent oracles
 * for the layer tests. They share no code with the layers (no tensor ops), so a bug in an op cannot hide.
 * Arrays are row-major Float64Arrays with explicit shapes.
 */

/** Direct 2-D cross-correlation, [N,C,H,W] x [O,C/g,kH,kW] -> [N,O,OH,OW], with bias. */
export function conv2dRef(
  x: ArrayLike<number>, [n, c, h, w]: number[],
  wt: ArrayLike<number>, [o, cg, kh, kw]: number[],
  bias: ArrayLike<number> | null,
  { stride = 1, padding = 0, dilation = 1, groups = 1 }: { stride?: number; padding?: number; dilation?: number; groups?: number },
): { data: Float64Array; shape: number[] } {
  const oh = Math.floor((h + 2 * padding - dilation * (kh - 1) - 1) / stride) + 1;
  const ow = Math.floor((w + 2 * padding - dilation * (kw - 1) - 1) / stride) + 1;
  const out = new Float64Array(n * o * oh * ow);
  const opg = o / groups;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / opg);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = bias ? bias[oc]! : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let p = 0; p < kh; p++)
              for (let q = 0; q < kw; q++) {
                const yi = i * stride - padding + p * dilation;
                const xj = j * stride - padding + q * dilation;
                if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
                const cin = g * cg + ci;
                s += x[((b * c + cin) * h + yi) * w + xj]! * wt[((oc * cg + ci) * kh + p) * kw + q]!;
              }
          out[((b * o + oc) * oh + i) * ow + j] = s;
        }
    }
  return { data: out, shape: [n, o, oh, ow] };
}

/** GroupNorm from its definition: per (sample, group) mean and biased variance. x is [N, C, S] (S = spatial size). */
export function groupNormRef(x: ArrayLike<number>, [n, c, s]: number[], groups: number, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number): Float64Array {
  const out = new Float64Array(n * c * s);
  const cpg = c / groups;
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      const start = (b * c + g * cpg) * s;
      const count = cpg * s;
      let mean = 0;
      for (let i = 0; i < count; i++) mean += x[start + i]!;
      mean /= count;
      let v = 0;
      for (let i = 0; i < count; i++) v += (x[start + i]! - mean) ** 2;
      v /= count;
      const inv = 1 / Math.sqrt(v + eps);
      for (let i = 0; i < count; i++) {
        const ch = g * cpg + Math.floor(i / s);
        out[start + i] = (x[start + i]! - mean) * inv * weight[ch]! + bias[ch]!;
      }
    }
  return out;
}

/** y = x W^T + b for x [R, I], W [O, I]. */
export function linearRef(x: ArrayLike<number>, rows: number, inF: number, wt: ArrayLike<number>, outF: number, bias: ArrayLike<number> | null): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * wt[o * inF + i]!;
      y[r * outF + o] = s;
    }
  return y;
}

/**
 * Multi-head self-attention over x [N, C, H, W] with a joint qkv projection (Wqkv [3C, C], bqkv [3C]) and an
 * output projection (Wo [C, C], bo [C]); heads take consecutive blocks of d = C / heads features.
 */
export function selfAttention2dRef(
  x: ArrayLike<number>, [n, c, h, w]: number[], heads: number,
  wqkv: ArrayLike<number>, bqkv: ArrayLike<number>, wo: ArrayLike<number>, bo: ArrayLike<number>,
): Float64Array {
  const t = h * w;
  const d = c / heads;
  const out = new Float64Array(n * c * t);
  for (let b = 0; b < n; b++) {
    // tokens[p][ch] = x[b, ch, p]
    const tok = new Float64Array(t * c);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < t; p++) tok[p * c + ch] = x[(b * c + ch) * t + p]!;
    const qkv = linearRef(tok, t, c, wqkv, 3 * c, bqkv); // [T, 3C]
    const merged = new Float64Array(t * c);
    for (let hd = 0; hd < heads; hd++) {
      for (let i = 0; i < t; i++) {
        const scores = new Float64Array(t);
        let mx = -Infinity;
        for (let j = 0; j < t; j++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += qkv[i * 3 * c + hd * d + e]! * qkv[j * 3 * c + c + hd * d + e]!;
          scores[j] = s / Math.sqrt(d);
          mx = Math.max(mx, scores[j]!);
        }
        let z = 0;
        for (let j = 0; j < t; j++) z += (scores[j] = Math.exp(scores[j]! - mx));
        for (let e = 0; e < d; e++) {
          let s = 0;
          for (let j = 0; j < t; j++) s += (scores[j]! / z) * qkv[j * 3 * c + 2 * c + hd * d + e]!;
          merged[i * c + hd * d + e] = s;
        }
      }
    }
    const y = linearRef(merged, t, c, wo, c, bo); // [T, C]
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < t; p++) out[(b * c + ch) * t + p] = y[p * c + ch]!;
  }
  return out;
}

/** Largest |a - b| / (atol + rtol |b|); <= 1 means within tolerance. */
export function maxScaledError(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`maxScaledError: lengths differ (${a.length} vs ${b.length})`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}
