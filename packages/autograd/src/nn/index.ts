/** Neural-network modules: the Module base, layers, containers, initialisation and losses. */
export { Module, type StateDict, type LoadStateDictResult } from './module.js';
export { fanIn, kaimingUniform, biasUniform, normalInit } from './init.js';
export { Linear, Conv2d, type LayerInitOptions, type Conv2dLayerOptions } from './linear.js';
export { GroupNorm, LayerNorm, type NormOptions } from './norm.js';
export { Embedding, Dropout, Identity, ReLU, LeakyReLU, SiLU, GELU, Tanh, Sigmoid, Flatten } from './layers.js';
export { SelfAttention2d, AttentionBlock2d, type AttentionOptions } from './attention.js';
export { Sequential, ModuleList } from './container.js';
export { Upsample, Downsample, type ResampleOptions } from './sampling.js';
export { mseLoss, crossEntropy, binaryCrossEntropyWithLogits } from './functional.js';
