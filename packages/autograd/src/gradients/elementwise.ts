/**
 * Gradients of the elementwise ops: unary functions, broadcasting binary arithmetic, clamp, where and cast.
 * Binary entries un-broadcast with `sumToShape`: an operand that was broadcast receives the sum of the
 * gradients of every output element it contributed to.
 */
import {
  add, cast, cos, div, eq, erf, exp, ge, gt, le, log, logicalAnd, lt, mul, neg, pow, sigmoid, sign, sin, sub, where,
  type Tensor,
} from '@oclt/tensor';
import type { GradientEntries } from './types.js';
import { sumToShape } from './util.js';

const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** A bool mask as 0/1 numbers of dtype like `like`. */
function asNumber(mask: Tensor, like: Tensor): Tensor {
  return cast(mask, like.dtype === 'float64' ? 'float64' : 'float32');
}

export const elementwiseGradients = {
  // ---- unary: dx = dy * f'(x) ----------------------------------------------------------------------------
  neg: (dy) => [neg(dy)],
  abs: (dy, { inputs: [x] }) => [mul(dy, sign(x!))],
  square: (dy, { inputs: [x] }) => [mul(dy, mul(x!, 2))],
  relu: (dy, { inputs: [x] }) => [where(gt(x!, 0), dy, 0)],
  exp: (dy, { output }) => [mul(dy, output)],
  log: (dy, { inputs: [x] }) => [div(dy, x!)],
  // d sqrt(x) = 1 / (2 sqrt(x))
  sqrt: (dy, { output }) => [div(dy, mul(output, 2))],
  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 * y / x
  rsqrt: (dy, { inputs: [x], output }) => [mul(dy, div(mul(output, -0.5), x!))],
  // d (1/x) = -1/x^2 = -y^2
  reciprocal: (dy, { output }) => [neg(mul(dy, mul(output, output)))],
  sin: (dy, { inputs: [x] }) => [mul(dy, cos(x!))],
  cos: (dy, { inputs: [x] }) => [neg(mul(dy, sin(x!)))],
  tanh: (dy, { output }) => [mul(dy, sub(1, mul(output, output)))],
  sigmoid: (dy, { output }) => [mul(dy, mul(output, sub(1, output)))],
  // silu(x) = x s(x): d = s(x) (1 + x (1 - s(x)))
  silu: (dy, { inputs: [x] }) => {
    const s = sigmoid(x!);
    return [mul(dy, mul(s, add(1, mul(x!, sub(1, s)))))];
  },
  // gelu(x) = x Phi(x) (exact form): d = Phi(x) + x phi(x), phi the standard normal density
  gelu: (dy, { inputs: [x] }) => {
    const cdf = mul(add(erf(mul(x!, SQRT_HALF)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x!, x!), -0.5)), INV_SQRT_2PI);
    return [mul(dy, add(cdf, mul(x!, pdf)))];
  },
  log1p: (dy, { inputs: [x] }) => [div(dy, add(x!, 1))],
  // d expm1(x) = exp(x) = y + 1
  expm1: (dy, { output }) => [mul(dy, add(output, 1))],
  erf: (dy, { inputs: [x] }) => [mul(dy, mul(exp(neg(mul(x!, x!))), TWO_OVER_SQRT_PI))],

  // ---- binary, with broadcasting -------------------------------------------------------------------------
  add: (dy, { inputs: [a, b], needs }) => [needs[0] ? sumToShape(dy, a!.shape) : null, needs[1] ? sumToShape(dy, b!.shape) : null],
  sub: (dy, { inputs: [a, b], needs }) => [needs[0] ? sumToShape(dy, a!.shape) : null, needs[1] ? sumToShape(neg(dy), b!.shape) : null],
  mul: (dy, { inputs: [a, b], needs }) => [
    needs[0] ? sumToShape(mul(dy, b!), a!.shape) : null,
    needs[1] ? sumToShape(mul(dy, a!), b!.shape) : null,
  ],
  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
  div: (dy, { inputs: [a, b], output, needs }) => [
    needs[0] ? sumToShape(div(dy, b!), a!.shape) : null,
    needs[1] ? sumToShape(neg(div(mul(dy, output), b!)), b!.shape) : null,
  ],
  // d(a^b)/da = b a^(b-1) (0 where b = 0, so that 0^0 has a finite slope); d(a^b)/db = a^b log(a) (0 where a = 0)
  pow: (dy, { inputs: [a, b], output, needs }) => [
    needs[0] ? sumToShape(mul(dy, where(eq(b!, 0), 0, mul(b!, pow(a!, sub(b!, 1))))), a!.shape) : null,
    needs[1] ? sumToShape(mul(dy, where(eq(a!, 0), 0, mul(output, log(a!)))), b!.shape) : null,
  ],
  // Ties split the gradient evenly between both operands (as PyTorch does).
  maximum: (dy, { inputs: [a, b], needs }) => {
    const half = mul(asNumber(eq(a!, b!), dy), 0.5);
    return [
      needs[0] ? sumToShape(mul(dy, add(asNumber(gt(a!, b!), dy), half)), a!.shape) : null,
      needs[1] ? sumToShape(mul(dy, add(asNumber(lt(a!, b!), dy), half)), b!.shape) : null,
    ];
  },
  minimum: (dy, { inputs: [a, b], needs }) => {
    const half = mul(asNumber(eq(a!, b!), dy), 0.5);
    return [
      needs[0] ? sumToShape(mul(dy, add(asNumber(lt(a!, b!), dy), half)), a!.shape) : null,
      needs[1] ? sumToShape(mul(dy, add(asNumber(gt(a!, b!), dy), half)), b!.shape) : null,
    ];
  },

  // ---- selection and conversion --------------------------------------------------------------------------
  // The gradient passes where min <= x <= max (bounds included, like PyTorch) and is 0 where x was clamped.
  clamp: (dy, { inputs: [x], attrs: { min, max } }) => {
    let inside: Tensor | null = null;
    if (min !== null) inside = ge(x!, min);
    if (max !== null) inside = inside ? logicalAnd(inside, le(x!, max)) : le(x!, max);
    return [inside ? where(inside, dy, 0) : dy];
  },
  // where(cond, a, b): the condition gets no gradient; each branch gets dy where it was picked.
  where: (dy, { inputs: [cond, a, b], needs }) => [
    null,
    needs[1] ? sumToShape(where(cond!, dy, 0), a!.shape) : null,
    needs[2] ? sumToShape(where(cond!, 0, dy), b!.shape) : null,
  ],
  // cast records the input's dtype: the gradient is cast back to it.
  cast: (dy, { attrs }) => [cast(dy, attrs.dtype)],
} satisfies GradientEntries;
