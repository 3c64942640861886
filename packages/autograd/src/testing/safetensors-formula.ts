/**
 * The closed-form tensors of the safetensors interchange fixtures. fixtures/safetensors_fixtures.py defines the
 * same values independently in numpy (`formula_tensors`); neither side reads the other's definition.
 */
import { arange, tensor, zeros, type Tensor } from '@oclt/tensor';

export function formulaTensors(): Record<string, Tensor> {
  return {
    'down.0.conv1.weight': arange(24, undefined, 1, 'float64').mul(0.25).sub(3).astype('float32').reshape(2, 3, 2, 2),
    'down.0.conv1.bias': tensor([0.1, -0.2], 'float32'),
    'time_embed.scale': tensor([Math.PI, -Math.E, 1e-300, 1e300], 'float64'),
    step: tensor([7], 'int32'),
    labels: tensor([[-1, 0, 2147483647], [-2147483648, 5, 9]], 'int32'),
    scalar: tensor(1.5, 'float32'),
    empty: zeros([0, 3], 'float32'),
  };
}

export const OCLT_FIXTURE_METADATA = { format: 'pt', written_by: '@oclt/autograd' };
