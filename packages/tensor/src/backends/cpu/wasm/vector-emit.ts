/** Elementwise, reduction and softmax kernels as emitted WebAssembly (filled in below). */
import type { ModuleBuilder } from './emitter.js';

export function emitVectorFunctions(_m: ModuleBuilder): void {}
