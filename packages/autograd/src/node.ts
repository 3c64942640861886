/** Node-only entry point of @oclt/autograd (`@oclt/autograd/node`): file I/O. The core entry stays browser-ready. */
export { saveSafetensors, saveSafetensorsSync, loadSafetensors, loadSafetensorsSync } from './safetensors-node.js';
