/**
 * Parity of ReferenceUNet with PyTorch, both ways, against fixtures committed from
 * packages/oclt/fixtures/pytorch/make_fixtures.py (torch 1.13, Debian's python3-torch): CI needs no Python.
 *
 * Tolerance. float32 parity cannot be bitwise: convolutions, matmuls, softmax and GroupNorm sum in other orders
 * here than in PyTorch's kernels. The fixture holds, besides PyTorch's float32 eps, the eps of the same weights
 * and inputs run in float64 by PyTorch (the truth). PyTorch's own float32 output is 3.4e-6 (max abs) away from
 * it for outputs up to |eps| 3.46 (~1e-6 relative, about 8 float32 ulps: the rounding of ~20 layers). We ask our
 * float32 output to be as close to that truth as 4x PyTorch's own float32 error (measured: see the test's log
 * line, ~1.5x), and below 2e-5 absolute from PyTorch's float32 output. A layout or layer mistake (a transposed
 * projection, an interleaving off by one, the wrong GroupNorm eps 1e-6 for 1e-5) moves eps by >= 1e-3 here.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { noGrad, type Tensor } from '@oclt/tensor';
import { loadSafetensorsSync } from '@oclt/autograd/node';
import { ReferenceUNet, referenceTimeTable } from '@oclt/diffusion';
import { referenceConfigFromFlags } from './pytorch-bridge.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pytorch');
const fixture = (name: string) => loadSafetensorsSync(path.join(FIXTURES, name));

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(Number(x[i]) - Number(y[i])));
  return m;
}

describe('ReferenceUNet against PyTorch (committed fixtures)', () => {
  const weights = fixture('reference-unet.safetensors');
  const io = fixture('reference-unet-io.safetensors');
  const flags = JSON.parse(weights.metadata.flags!);

  it('reads the I64 inputs torch saved, converted to int32 and said so', () => {
    expect(io.converted.t).toEqual({ from: 'I64', to: 'int32' });
    expect(Array.from(io.tensors.t!.toTypedArray())).toEqual([0, 417, 999]);
  });

  it('has exactly the keys and shapes of the PyTorch state dict (strict load)', () => {
    const model = new ReferenceUNet(referenceConfigFromFlags(flags));
    const ours = model.stateDict();
    expect(Object.keys(ours).sort()).toEqual(Object.keys(weights.tensors).sort());
    expect(() => model.loadStateDict(weights.tensors, true)).not.toThrow();
  });

  // torch's float32 exp is not correctly rounded: a few of its frequencies f_i differ from the correctly rounded
  // ones by 1 ulp (1.9e-9), which t = 999 turns into 1.9e-6 in sin(t f_i) (measured: 1.91e-6; the sin and cos
  // of equal arguments agree to 6e-8). Hence the bound (T - 1) * 2^-29 * 1.05. An imported checkpoint brings its own table.
  it('computes the same time table as torch (float32, up to torch exp rounding times t)', () => {
    const theirs = weights.tensors['time_embedding.timembedding.0.weight']!;
    const T = theirs.shape[0]!;
    expect(maxAbsDiff(referenceTimeTable(T, theirs.shape[1]!), theirs)).toBeLessThanOrEqual((T - 1) * 2 ** -29 * 1.05);
  });

  it('predicts the same eps as PyTorch, conditional and y = None (null label), within the float32 error', () => {
    const model = new ReferenceUNet(referenceConfigFromFlags(flags));
    model.loadStateDict(weights.tensors, true);
    model.eval();
    const x = io.tensors.x!;
    const t = io.tensors.t!.toTypedArray() as Int32Array;
    const y = io.tensors.y!.toTypedArray() as Int32Array;
    const cond = noGrad(() => model.forward(x, t, y));
    const uncond = noGrad(() => model.forward(x, t, null));
    const nullLabels = noGrad(() => model.forward(x, t, [model.nullLabel, model.nullLabel, model.nullLabel]));
    const mixed = noGrad(() => model.forward(x, t, [y[0]!, model.nullLabel, y[2]!]));
    const torch32 = Math.max(maxAbsDiff(io.tensors.eps_cond!, io.tensors.eps_cond_f64!), maxAbsDiff(io.tensors.eps_uncond!, io.tensors.eps_uncond_f64!));
    const ours64 = Math.max(maxAbsDiff(cond, io.tensors.eps_cond_f64!), maxAbsDiff(uncond, io.tensors.eps_uncond_f64!));
    const ours32 = Math.max(maxAbsDiff(cond, io.tensors.eps_cond!), maxAbsDiff(uncond, io.tensors.eps_uncond!));
    console.log(`[pytorch parity] ours vs PyTorch float32: ${ours32.toExponential(2)}; vs float64 truth: ours ${ours64.toExponential(2)}, PyTorch float32 ${torch32.toExponential(2)}`);
    expect(ours64).toBeLessThanOrEqual(4 * torch32);
    expect(ours32).toBeLessThan(2e-5);
    // The null label adds nothing, per sample: a batch mixing labels and the null label is their two passes.
    expect(maxAbsDiff(nullLabels, uncond)).toBe(0);
    const m = mixed.toTypedArray();
    const c = cond.toTypedArray();
    const u = uncond.toTypedArray();
    const per = m.length / 3;
    for (let i = 0; i < per; i++) {
      expect(m[i]).toBe(c[i]);
      expect(m[per + i]).toBe(u[per + i]);
    }
  });
});
