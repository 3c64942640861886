export {};
export * from './plot/index.js';
