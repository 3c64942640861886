/**
 * The part of the WebAssembly JavaScript API the fast kernels use. The repository compiles against lib ES2022
 * without DOM, whose typings lack it; engines (Node, browsers) all provide it.
 */
declare namespace WebAssembly {
  interface Module {}
  var Module: { new (bytes: Uint8Array): Module };
  interface Memory {
    readonly buffer: ArrayBufferLike;
    grow(deltaPages: number): number;
  }
  var Memory: { new (descriptor: { initial: number; maximum?: number; shared?: boolean }): Memory };
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  var Instance: { new (module: Module, imports?: Record<string, Record<string, unknown>>): Instance };
  function validate(bytes: Uint8Array): boolean;
}
