import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', gpujs: 'src/backends/gpujs/index.ts' },
  // optional, loaded at run time by the gpujs backend; never bundled
  external: ['gpu.js', 'webgpu'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
