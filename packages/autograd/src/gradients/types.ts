/**
 * The contract of the gradient table: one entry per op name that @oclt/tensor passes to `record(op, ...)`.
 *
 * An entry receives the gradient of the loss with respect to the op's output (`dy`, same shape as the output)
 * and returns one gradient per input, in input order, each with that input's shape (`null` for inputs that
 * carry no gradient, such as indices and conditions, or that do not need one). Entries are written in tensor
 * ops and run under noGrad, so they never mutate their arguments and record nothing.
 */
import type { Tensor } from '@oclt/tensor';

export interface GradientContext {
  /** The op's inputs, exactly as recorded. */
  readonly inputs: readonly Tensor[];
  /** The op's output (its values are handy for exp, sigmoid, softmax, ...). */
  readonly output: Tensor;
  /** The attributes the op recorded (axes, geometry, original shape, ...). */
  readonly attrs: any;
  /** needs[i] is true when input i requires a gradient; entries may skip work for the others. */
  readonly needs: readonly boolean[];
}

export type GradientFn = (dy: Tensor, ctx: GradientContext) => (Tensor | null)[];

export type GradientTable = Record<string, GradientFn>;
