/**
 * THE gradient table: one entry per op name recorded by @oclt/tensor (see `record(...)` in tensor/src/ops/).
 * Ops that are not differentiable (comparisons, sign, floor, argmax, ...) are never recorded, so they need no entry.
 * Typed `GradientTable` (keyed by @oclt/tensor's `OpName`): a missing entry, or one for a name that is not
 * recorded, is a compile error.
 */
import { elementwiseGradients } from './elementwise.js';
import { linalgGradients } from './linalg.js';
import { movementGradients } from './movement.js';
import { reduceGradients } from './reduce.js';
import type { GradientTable } from './types.js';

export type { GradientContext, GradientEntries, GradientFn, GradientTable } from './types.js';
export { sumToShape } from './util.js';

export const gradientTable: GradientTable = Object.freeze({
  ...elementwiseGradients,
  ...reduceGradients,
  ...linalgGradients,
  ...movementGradients,
});
