/** Gradients of matmul, conv2d (and of its two backward kernels, which are linear maps too) and pooling. */
import {
  avgPool2d, avgPool2dBackward, conv2d, conv2dBackwardInput, conv2dBackwardWeight, matmul, maxPool2dBackward, transpose,
  type ConvGeometry, type Conv2dOptions, type PoolGeometry, type PoolOptions,
} from '@oclt/tensor';
import type { GradientEntries } from './types.js';
import { sumToShape } from './util.js';

/** The options that reproduce a recorded convolution geometry. */
function convOptions(g: ConvGeometry): Conv2dOptions {
  return { stride: [g.sh, g.sw], padding: [g.ph, g.pw], dilation: [g.dh, g.dw], groups: g.groups };
}

function poolOptions(g: PoolGeometry): PoolOptions {
  return { kernel: [g.kh, g.kw], stride: [g.sh, g.sw], padding: [g.ph, g.pw] };
}

export const linalgGradients = {
  // y = a @ b over broadcast batch axes: da = dy @ b^T, db = a^T @ dy, each summed over the batch axes it was broadcast on.
  matmul: (dy, { inputs: [a, b], needs }) => [
    needs[0] ? sumToShape(matmul(dy, transpose(b!)), a!.shape) : null,
    needs[1] ? sumToShape(matmul(transpose(a!), dy), b!.shape) : null,
  ],
  conv2d: (dy, { inputs: [x, w], attrs: { geo }, needs }) => [
    needs[0] ? conv2dBackwardInput(dy, w!, geo) : null,
    needs[1] ? conv2dBackwardWeight(x!, dy, geo) : null,
  ],
  // dx = conv2dBackwardInput(dy, w) is bilinear in (dy, w); its adjoints are a forward conv and a weight gradient.
  conv2dBackwardInput: (g, { inputs: [dy, w], attrs: { geo }, needs }) => [
    needs[0] ? conv2d(g, w!, null, convOptions(geo)) : null,
    needs[1] ? conv2dBackwardWeight(g, dy!, geo) : null,
  ],
  // dw = conv2dBackwardWeight(x, dy) is bilinear in (x, dy).
  conv2dBackwardWeight: (g, { inputs: [x, dy], attrs: { geo }, needs }) => [
    needs[0] ? conv2dBackwardInput(dy!, g, geo) : null,
    needs[1] ? conv2d(x!, g, null, convOptions(geo)) : null,
  ],
  // Each output gradient goes to the input that won its window (the first on ties, as the forward picks it).
  maxPool2d: (dy, { inputs: [x], attrs: { geo } }) => [maxPool2dBackward(x!, dy, geo)],
  avgPool2d: (dy, { attrs: { geo } }) => [avgPool2dBackward(dy, geo)],
  // avgPool2dBackward is linear: its adjoint is the average pooling itself.
  avgPool2dBackward: (g, { attrs: { geo } }) => [avgPool2d(g, poolOptions(geo))],
} satisfies GradientEntries;
