/**
 * Source generation for gpu.js kernels. Every kernel is specialised to its shapes: shapes, strides and offsets
 * are baked in as literals (loops get constant bounds, which GLSL wants), and the compiled kernel is cached by
 * its source. gpu.js takes the source as a `function (...) { ... }` string and translates it to GLSL or
 * WebAssembly; we never evaluate it ourselves.
 *
 * Index arithmetic on GL runs in float32: integer division is `Math.floor(r / n)` followed by a correction of
 * the remainder, which is exact while the operands stay below 2^24 (the backend falls back to cpu beyond that).
 */

/** Hands out variable names that are unique within one kernel and identical across regenerations (cache keys). */
export class Names {
  private n = 0;
  fresh(prefix: string): string {
    return `${prefix}${this.n++}`;
  }
}

/** A float literal GLSL accepts (`1.0`, not `1`). */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`gpujs codegen: non-finite literal ${x}`);
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * Statements that split the integer held in variable `flat` into per-axis indices of `shape` (row-major).
 * Returns the statements and the names of the index variables (a `0` literal for axes of size 1).
 */
export function unravel(names: Names, flat: string, shape: readonly number[]): { code: string[]; idx: string[] } {
  const code: string[] = [];
  const idx = new Array<string>(shape.length);
  if (shape.length === 0) return { code, idx };
  const rest = names.fresh('r');
  code.push(`var ${rest} = ${flat};`);
  for (let ax = shape.length - 1; ax >= 1; ax--) {
    const n = shape[ax]!;
    if (n === 1) {
      idx[ax] = '0';
      continue;
    }
    const q = names.fresh('q');
    const m = names.fresh('m');
    code.push(
      `var ${q} = Math.floor(${rest} / ${n});`,
      `var ${m} = ${rest} - ${q} * ${n};`,
      `if (${m} < 0) { ${q} = ${q} - 1; ${m} = ${m} + ${n}; }`,
      `if (${m} >= ${n}) { ${q} = ${q} + 1; ${m} = ${m} - ${n}; }`,
      `${rest} = ${q};`,
    );
    idx[ax] = m;
  }
  idx[0] = shape[0] === 1 ? '0' : rest;
  return { code, idx };
}

/** `offset + sum idx[k] * strides[k]`, leaving out zero strides and zero indices. */
export function address(offset: number, idx: readonly string[], strides: readonly number[]): string {
  const terms: string[] = [];
  if (offset !== 0) terms.push(String(offset));
  idx.forEach((v, k) => {
    const s = strides[k]!;
    if (s === 0 || v === '0') return;
    terms.push(s === 1 ? v : `${v} * ${s}`);
  });
  return terms.length ? terms.join(' + ') : '0';
}

/** Floor division and remainder of a non-negative integer expression by a literal, exact in float32. */
export function divmod(names: Names, expr: string, n: number): { code: string[]; q: string; m: string } {
  const q = names.fresh('q');
  const m = names.fresh('m');
  return {
    code: [
      `var ${q} = Math.floor((${expr}) / ${n});`,
      `var ${m} = (${expr}) - ${q} * ${n};`,
      `if (${m} < 0) { ${q} = ${q} - 1; ${m} = ${m} + ${n}; }`,
      `if (${m} >= ${n}) { ${q} = ${q} + 1; ${m} = ${m} - ${n}; }`,
    ],
    q,
    m,
  };
}

export function kernelSource(params: readonly string[], body: readonly string[]): string {
  return `function(${params.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}
