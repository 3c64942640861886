/**
 * Parameter initialisation, as PyTorch does it, from an explicit seeded `Generator` (same seed, same bits).
 *
 * - `kaimingUniform(shape, fanIn, gen, a)`: U(-bound, bound) with gain = sqrt(2 / (1 + a^2)) and
 *   bound = gain * sqrt(3 / fanIn). PyTorch's `Linear` and `Conv2d` use a = sqrt(5), which gives
 *   bound = 1 / sqrt(fanIn).
 * - `biasUniform(size, fanIn, gen)`: U(-1/sqrt(fanIn), 1/sqrt(fanIn)), PyTorch's default bias of Linear / Conv2d.
 * - `normalInit`: N(mean, std^2), PyTorch's default for `Embedding` (N(0, 1)).
 *
 * The draws are identical in distribution to PyTorch's, not bit-identical (PyTorch's generator differs).
 */
import { Generator, rand, randn, type DType, type Tensor } from '@oclt/tensor';

/** fan_in of a weight: input features of a Linear [out, in], in/groups * kH * kW of a Conv2d [out, in/groups, kH, kW]. */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) throw new Error(`fanIn: a weight needs at least 2 axes, got shape [${shape}]`);
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  return shape[1]! * receptive;
}

function checkGenerator(fn: string, gen: unknown): void {
  if (!(gen instanceof Generator)) throw new TypeError(`${fn}: needs an explicit seeded Generator (new Generator(seed))`);
}

/** Kaiming (He) uniform initialisation; PyTorch's `kaiming_uniform_(w, a)` with the leaky-ReLU gain. */
export function kaimingUniform(shape: readonly number[], fan: number, gen: Generator, a = Math.sqrt(5), dtype: DType = 'float32'): Tensor {
  checkGenerator('kaimingUniform', gen);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fan);
  return rand(shape, gen, dtype, -bound, bound);
}

/** PyTorch's default bias initialisation for Linear and Conv2d: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function biasUniform(size: number, fan: number, gen: Generator, dtype: DType = 'float32'): Tensor {
  checkGenerator('biasUniform', gen);
  const bound = fan > 0 ? 1 / Math.sqrt(fan) : 0;
  return rand([size], gen, dtype, -bound, bound);
}

/** Normal initialisation N(mean, std^2). */
export function normalInit(shape: readonly number[], gen: Generator, mean = 0, std = 1, dtype: DType = 'float32'): Tensor {
  checkGenerator('normalInit', gen);
  return randn(shape, gen, dtype, mean, std);
}
