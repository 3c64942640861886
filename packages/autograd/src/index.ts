export { backward, gradients, retainGrad, topologicalOrder } from './engine.js';
export { grad, valueAndGrad, detach } from './functional.js';
export { gradientTable, sumToShape, type GradientContext, type GradientEntries, type GradientFn, type GradientTable } from './gradients/index.js';
export { noGrad, noGradAsync, isGradEnabled, setGradEnabled } from '@oclt/tensor';
export { Value } from './value.js';
export { checkGradients, numericalGradients, analyticalGradients, makeTensor, LAYOUTS, type Layout, type CheckInput, type GradCheckResult } from './gradcheck.js';
export * from './nn/index.js';
export * from './optim/index.js';
export { SafetensorsError, encodeSafetensors, decodeSafetensors, type SafetensorsContent } from './safetensors.js';
