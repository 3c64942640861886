/**
 * The models of the reverse parity fixture (ours -> PyTorch): two ReferenceUNets of the fixture's config (the one
 * make_fixtures.py uses) whose every layer is re-drawn at O(1) scale from seeded generators (as make_fixtures.py
 * does on the PyTorch side, so eps is O(1) and the comparison is not swamped by the 1e-5 gains of their init),
 * net and EMA different so a mix-up between ckpt['net_model'] and ckpt['ema_model'] shows. Deterministic: the
 * same seeds give the same bits on every machine, so the test can rebuild the file PyTorch loaded and check its
 * SHA-256.
 */
import { Generator, randn } from '@oclt/tensor';
import { Conv2d, GroupNorm, Linear } from '@oclt/autograd';
import { ReferenceUNet, xavierUniform, type ReferenceUNetConfig } from '@oclt/diffusion';

/** make_fixtures.py's FLAGS as our config. */
export const PYTORCH_FIXTURE_CONFIG: ReferenceUNetConfig = { T: 1000, ch: 32, chMult: [1, 1], attn: [1], numResBlocks: 1, dropout: 0.1, numClasses: 3, augm: false, inChannels: 3, imgSize: 16 };

function perturbed(seed: number): ReferenceUNet {
  const model = new ReferenceUNet({ ...PYTORCH_FIXTURE_CONFIG, seed });
  const gen = new Generator(seed + 100);
  for (const m of model.modules()) {
    if (m instanceof Conv2d || m instanceof Linear) {
      m.weight.dataSync().set(xavierUniform(m.weight.shape, gen, 1).dataSync());
      if (m.bias) m.bias.dataSync().set(randn(m.bias.shape, gen, 'float32', 0, 0.1).dataSync());
    } else if (m instanceof GroupNorm) {
      m.weight!.dataSync().set(randn(m.weight!.shape, gen, 'float32', 1, 0.2).dataSync());
      m.bias!.dataSync().set(randn(m.bias!.shape, gen, 'float32', 0, 0.1).dataSync());
    }
  }
  return model.eval();
}

/** The net and EMA models of the export fixture (seeds 7 and 8). */
export function pytorchExportFixtureModels(): { net: ReferenceUNet; ema: ReferenceUNet } {
  return { net: perturbed(7), ema: perturbed(8) };
}

/** The step the fixture export records. */
export const PYTORCH_EXPORT_FIXTURE_STEP = 1234;
