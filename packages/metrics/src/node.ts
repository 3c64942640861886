/** Node-only parts of @oclt/metrics (the shipped feature network, read from disk): import from '@oclt/metrics/node'. */
export * from './node/feature-net.js';
