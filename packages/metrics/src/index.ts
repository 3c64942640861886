/** @oclt/metrics, generative metrics: FID, KID, Inception-style score, improved precision/recall, per-class FID; intervals over seeds. */
export * from './linalg.js';
export * from './fid.js';
export * from './kid.js';
export * from './inception-score.js';
export * from './pairwise.js';
export * from './per-class-fid.js';
export * from './feature-net.js';
export * from './evaluate.js';
export * from './gram.js';
export * from './dataset-features.js';
export * from './intervals.js';
