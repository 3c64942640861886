/**
 * Functional forms for research code (JAX style): `grad(f)` returns a function computing df/dx, and
 * `valueAndGrad(f)` one computing (f(x), df/dx). `f` takes tensors and returns a one-element tensor.
 *
 * The arguments are not touched: each is replaced by a fresh detached leaf (same storage), so `f` sees
 * constants except for the chosen arguments, and no `.grad` anywhere is modified (not even of parameters `f`
 * closes over). Like `backward`, the gradients are not differentiable again (no higher order for now).
 */
import { Tensor } from '@oclt/tensor';
import { gradients } from './engine.js';

type TensorFn = (...args: Tensor[]) => Tensor;

function differentiate(fnName: string, f: TensorFn, argnums: readonly number[], args: Tensor[]): [Tensor, Tensor[]] {
  args.forEach((a, i) => {
    if (!(a instanceof Tensor)) throw new Error(`${fnName}: argument ${i} must be a Tensor, got ${typeof a}`);
  });
  for (const k of argnums) {
    if (!Number.isInteger(k) || k < 0 || k >= args.length) throw new Error(`${fnName}: argnum ${k} is out of range for ${args.length} arguments`);
    if (args[k]!.dtype !== 'float32' && args[k]!.dtype !== 'float64') {
      throw new Error(`${fnName}: argument ${k} must be floating to be differentiated, got ${args[k]!.dtype}`);
    }
  }
  const leaves = args.map((a, i) => (argnums.includes(i) ? a.detach().requiresGrad_() : a.detach()));
  const value = f(...leaves);
  if (!(value instanceof Tensor)) throw new Error(`${fnName}: f must return a Tensor, got ${typeof value}`);
  if (value.size !== 1) throw new Error(`${fnName}: f must return a one-element tensor, got shape [${value.shape}]`);
  const targets = argnums.map((k) => leaves[k]!);
  // A value that does not depend on the chosen arguments has zero gradients.
  const grads = value.requiresGrad ? gradients(value, targets) : gradients(value.detach().requiresGrad_(), targets);
  return [value.detach(), grads];
}

/** grad(f)(x, y) = df/dx; grad(f, [0, 1])(x, y) = [df/dx, df/dy]. */
export function grad(f: TensorFn, argnums?: number): (...args: Tensor[]) => Tensor;
export function grad(f: TensorFn, argnums: readonly number[]): (...args: Tensor[]) => Tensor[];
export function grad(f: TensorFn, argnums: number | readonly number[] = 0): (...args: Tensor[]) => Tensor | Tensor[] {
  return (...args) => {
    const [, g] = differentiate('grad', f, typeof argnums === 'number' ? [argnums] : argnums, args);
    return typeof argnums === 'number' ? g[0]! : g;
  };
}

/** valueAndGrad(f)(x) = [f(x), df/dx]; with an array of argnums the second element is an array. */
export function valueAndGrad(f: TensorFn, argnums?: number): (...args: Tensor[]) => [Tensor, Tensor];
export function valueAndGrad(f: TensorFn, argnums: readonly number[]): (...args: Tensor[]) => [Tensor, Tensor[]];
export function valueAndGrad(f: TensorFn, argnums: number | readonly number[] = 0): (...args: Tensor[]) => [Tensor, Tensor | Tensor[]] {
  return (...args) => {
    const [value, g] = differentiate('valueAndGrad', f, typeof argnums === 'number' ? [argnums] : argnums, args);
    return [value, typeof argnums === 'number' ? g[0]! : g];
  };
}

/** Stop-gradient: a tensor sharing `t`'s storage with no history; gradients do not flow through it. */
export function detach(t: Tensor): Tensor {
  return t.detach();
}
