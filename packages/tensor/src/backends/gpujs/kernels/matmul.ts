/** Batched matmul on the device: one thread per output element, a k-loop of multiply-adds in float32. */
import { broadcastStrides, sizeOf } from '../../../shape.js';
import { address, kernelSource, Names, unravel } from '../codegen.js';
import { deviceCanRun, type DeviceKernel, type DeviceKernelTable } from './device.js';

const matmul: DeviceKernel<'matmul'> = (dev, [a, b], { batch, m, n, k, dtype }) => {
  const outShape = [...batch, m, n];
  if (dtype !== 'float32' || !deviceCanRun(sizeOf(outShape), a!, b!)) return null;
  // Batch axes broadcast (stride 0); the matrix axes keep the operands' own strides, so transposed views work.
  const sa = broadcastStrides(a!.shape, a!.strides, [...batch, m, k]);
  const sb = broadcastStrides(b!.shape, b!.strides, [...batch, k, n]);
  const names = new Names();
  const u = unravel(names, 'this.thread.x', outShape);
  const nb = batch.length;
  const bIdx = u.idx.slice(0, nb);
  const i = u.idx[nb]!;
  const j = u.idx[nb + 1]!;
  const body = [
    ...u.code,
    `var ab = ${address(a!.offset, [...bIdx, i], [...sa.slice(0, nb), sa[nb]!])};`,
    `var bb = ${address(b!.offset, [...bIdx, j], [...sb.slice(0, nb), sb[nb + 1]!])};`,
    'var acc = 0.0;',
    `for (var p = 0; p < ${k}; p++) {`,
    `  acc = acc + a[ab + p * ${sa[nb + 1]!}] * b[bb + p * ${sb[nb]!}];`,
    '}',
    'return acc;',
  ];
  return dev.run(kernelSource(['a', 'b'], body), outShape, [a!, b!]);
};

export const matmulDeviceKernels = { matmul } satisfies DeviceKernelTable;
