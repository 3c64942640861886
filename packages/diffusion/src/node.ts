/** Node-only parts of @oclt/diffusion (file system, PNG encoding): import from '@oclt/diffusion/node'. */
export { encodePng, savePng } from './node/png.js';
export * from './node/idx.js';
export * from './node/fashion-mnist.js';
export * from './node/cifar.js';
export * from './node/checkpoint.js';
export * from './node/images.js';
export * from './node/progress.js';
export * from './node/train.js';
