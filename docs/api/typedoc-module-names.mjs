// A TypeDoc plugin: names each entry point's module after the import path users write (`@oclt/tensor`,
// `@oclt/diffusion/node`, ...) instead of its source directory (`tensor/src`, `diffusion/src/node`).
import { Converter, ReflectionKind } from 'typedoc';

const importPaths = {
  'tensor/src': '@oclt/tensor',
  'tensor/src/backends/gpujs': '@oclt/tensor/gpujs',
  'autograd/src': '@oclt/autograd',
  'autograd/src/node': '@oclt/autograd/node',
  'metrics/src': '@oclt/metrics',
  'metrics/src/node': '@oclt/metrics/node',
  'diffusion/src': '@oclt/diffusion',
  'diffusion/src/node': '@oclt/diffusion/node',
  'oclt/src': 'oclt',
};

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const name = importPaths[module.name];
      if (name) module.name = name;
    }
  });
}
