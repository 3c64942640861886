/** Node-only parts of @oclt/diffusion (file system, PNG encoding): import from '@oclt/diffusion/node'. */
export { encodePng, savePng } from './plot/png-node.js';
