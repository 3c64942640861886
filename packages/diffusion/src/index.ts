export {};
export * from './plot/index.js';
export * from './schedules.js';
export * from './schedulers/base.js';
export * from './schedulers/ddpm.js';
export * from './schedulers/ddim.js';
export * from './data/idx.js';
export * from './data/dataset.js';
export * from './data/toy.js';
