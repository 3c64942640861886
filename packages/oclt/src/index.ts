export * from './long-tailed-dataset.js';
export * from './samplers.js';
export * from './target-selection.js';
export * from './cbdm.js';
export * from './theory.js';
export * from './diagnostics.js';
export * from './recipes.js';
export * from './trainer-hooks.js';
