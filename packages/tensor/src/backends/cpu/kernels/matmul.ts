/** Reference batched matmul: i-k-j loops over row-major copies, accumulating in float64. */
import { allocArray } from '../../../dtype.js';
import { sizeOf } from '../../../shape.js';
import { fromTypedArray } from '../../../kernel-util.js';
import type { KernelFn, KernelTable } from '../../../backend.js';
import { readAs } from '../layout.js';

const matmul: KernelFn<'matmul'> = ([a, b], { batch, m, n, k, dtype }) => {
  const A = readAs(a!, [...batch, m, k], dtype);
  const B = readAs(b!, [...batch, k, n], dtype);
  const nb = sizeOf(batch);
  const out = allocArray(dtype, nb * m * n);
  const row = new Float64Array(n);
  for (let bi = 0; bi < nb; bi++) {
    const aOff = bi * m * k;
    const bOff = bi * k * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const av = A[aOff + i * k + p]!;
        const bRow = bOff + p * n;
        for (let j = 0; j < n; j++) row[j] += av * B[bRow + j]!;
      }
      const o = (bi * m + i) * n;
      for (let j = 0; j < n; j++) out[o + j] = row[j]!;
    }
  }
  if (dtype === 'int32') for (let i = 0; i < out.length; i++) out[i] = out[i]! | 0;
  return fromTypedArray(out, [...batch, m, n]);
};

export const matmulKernels = { matmul } satisfies Partial<KernelTable>;
