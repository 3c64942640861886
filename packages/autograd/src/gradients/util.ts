/** Helpers shared by gradient entries. */
import { reshape, sum, type Tensor } from '@oclt/tensor';

/**
 * Un-broadcasting: sums a gradient of a broadcast result back to the shape of the operand that was broadcast.
 * Leading axes the operand lacked are summed away; axes where the operand had size 1 are summed with keepdims.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new Error(`sumToShape: gradient of shape [${g.shape}] has fewer axes than the target [${shape}]`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  return reshape(summed, shape);
}

/** The shape of a reduction's output with the reduced axes kept as size 1. */
export function keptShape(inputShape: readonly number[], axes: readonly number[]): number[] {
  return inputShape.map((d, i) => (axes.includes(i) ? 1 : d));
}
