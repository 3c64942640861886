/**
 * The contract of the gradient table: one entry per op name that @oclt/tensor passes to `record(op, ...)`, i.e.
 * per `OpName` (declared with the attributes each op records in @oclt/tensor's kernel-names.ts). The compiler
 * checks that the table has an entry for every op name and none for anything else.
 *
 * An entry receives the gradient of the loss with respect to the op's output (`dy`, same shape as the output)
 * and returns one gradient per input, in input order, each with that input's shape (`null` for inputs that
 * carry no gradient, such as indices and conditions, or that do not need one). Entries are written in tensor
 * ops and run under noGrad, so they never mutate their arguments and record nothing.
 */
import type { OpAttrs, OpName, Tensor } from '@oclt/tensor';

export interface GradientContext<N extends OpName = OpName> {
  /** The op's inputs, exactly as recorded. */
  readonly inputs: readonly Tensor[];
  /** The op's output (its values are handy for exp, sigmoid, softmax, ...). */
  readonly output: Tensor;
  /** The attributes the op recorded (axes, geometry, original shape, ...). */
  readonly attrs: OpAttrs<N>;
  /** needs[i] is true when input i requires a gradient; entries may skip work for the others. */
  readonly needs: readonly boolean[];
}

/** The gradient of op `N`; `GradientFn` alone is any entry, with the attributes of any op. */
export type GradientFn<N extends OpName = OpName> = (dy: Tensor, ctx: GradientContext<N>) => (Tensor | null)[];

/** An entry per recorded op name. */
export type GradientTable = { readonly [N in OpName]: GradientFn<N> };

/** Some entries of the table: each file of src/gradients/ holds one group (an unknown name is a type error). */
export type GradientEntries = Partial<GradientTable>;
