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
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { noGrad, type Tensor } from '@oclt/tensor';
import { loadSafetensorsSync, saveSafetensorsSync } from '@oclt/autograd/node';
import { ArrayDataset, DDPMScheduler, ReferenceUNet, Trainer, cifar10ReferenceConfig, referenceTimeTable } from '@oclt/diffusion';
import { exportCommand } from './cli/export.js';
import { flagsFileFor, loadExchangeFile, parseFlagfile, writeExchangeFile } from './cli/exchange-file.js';
import { importCommand } from './cli/import.js';
import { COMMANDS, main } from './cli/main.js';
import { inferReferenceConfig, referenceConfigFromFlags, splitExchangeTensors } from './pytorch-bridge.js';
import { PYTORCH_EXPORT_FIXTURE_STEP, PYTORCH_FIXTURE_CONFIG, pytorchExportFixtureModels } from './testing/pytorch-export-fixture.js';

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

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-bridge-'));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

describe('our weights -> PyTorch (committed output of make_fixtures.py check-export)', () => {
  const theirs = fixture('oclt-export.pytorch-eps.safetensors');
  const io = fixture('reference-unet-io.safetensors');
  const file = path.join(TMP, 'oclt-export.safetensors');
  const { net, ema } = pytorchExportFixtureModels();
  writeExchangeFile(file, net, ema, { step: PYTORCH_EXPORT_FIXTURE_STEP });

  it('rebuilds, byte for byte, the export that PyTorch loaded with strict=True (its SHA-256)', () => {
    const digest = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    expect(digest).toBe(theirs.metadata.export_sha256);
    const log = fs.readFileSync(path.join(FIXTURES, 'oclt-export.check.txt'), 'utf8');
    expect(log).toContain(`sha256 ${digest}`);
    // Their own model.py (CBDM and OC_LT) and our PyTorch rewrite each loaded both state dicts strictly.
    expect(log.match(/load_state_dict\(strict=True\): <All keys matched successfully>/g)).toHaveLength(6);
    expect(log).toMatch(/qym7\/CBDM-pytorch@\w+ model\/model\.py\): \|eps\| max [\d.]+, max abs difference to the first 0\.000e\+00/);
    expect(log).toMatch(/MediaBrain-SJTU\/OC_LT@\w+ model\/model\.py[^)]*\): \|eps\| max [\d.]+, max abs difference to the first 0\.000e\+00/);
  });

  it("PyTorch's eps of the exported ema_model matches ours (float32 tolerance as above)", () => {
    const x = io.tensors.x!;
    const t = io.tensors.t!.toTypedArray() as Int32Array;
    const y = io.tensors.y!.toTypedArray() as Int32Array;
    const cond = noGrad(() => ema.forward(x, t, y));
    const uncond = noGrad(() => ema.forward(x, t, null));
    const err = Math.max(maxAbsDiff(cond, theirs.tensors.eps_cond!), maxAbsDiff(uncond, theirs.tensors.eps_uncond!));
    console.log(`[pytorch parity, ours -> PyTorch] max abs error ${err.toExponential(2)} (|eps| up to 3.06)`);
    expect(err).toBeLessThan(2e-5);
    // The net weights give other outputs: PyTorch ran ema_model, not net_model.
    expect(maxAbsDiff(noGrad(() => net.forward(x, t, y)), theirs.tensors.eps_cond!)).toBeGreaterThan(0.1);
  });

  it('loads back (oclt import) bit for bit, both weights, with the flags', () => {
    for (const [weights, model] of [['ema', ema], ['net', net]] as const) {
      const back = loadExchangeFile(file, { weights });
      expect(back.step).toBe(PYTORCH_EXPORT_FIXTURE_STEP);
      expect(back.layout).toBe('exchange');
      const sd = back.model.stateDict();
      for (const [k, v] of Object.entries(model.stateDict())) expect(maxAbsDiff(sd[k]!, v), k).toBe(0);
    }
    expect(JSON.parse(fs.readFileSync(flagsFileFor(file), 'utf8'))).toMatchObject({ ch: 32, ch_mult: [1, 1], attn: [1], num_res_blocks: 1, conditional: true, num_class: 3, img_size: 16 });
  });
});

describe('the CIFAR-10 configuration', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'cifar10-state-dict.json'), 'utf8')) as { keys: [string, number[]][]; trainableParameters: number; initStd: Record<string, number> };
  const model = new ReferenceUNet(cifar10ReferenceConfig());

  it("has exactly the 330 keys and shapes of their model.py's state dict, and their trainable parameter count", () => {
    const ours = Object.entries(model.stateDict()).map(([k, v]) => [k, [...v.shape]]);
    expect(new Map(ours as [string, number[]][])).toEqual(new Map(ref.keys));
    expect(model.numParameters()).toBe(ref.trainableParameters); // 35,751,427; the frozen time table is a buffer here
  });

  // Same distributions, not the same draws: each std agrees within 5% (the sample std of n >= 3456 draws has a
  // relative standard error <= 1.2%, so 5% is 4 sigma), and the gains differ by 1e5, so a wrong gain cannot pass.
  it('initialises as theirs: xavier, gain 1e-5 on the last conv of each ResBlock and the tail, gain 1 on ResBlock attention', () => {
    const sd = model.stateDict();
    for (const [k, std] of Object.entries(ref.initStd)) {
      const v = sd[k]!.toTypedArray();
      let m = 0;
      for (const x of v) m += x;
      m /= v.length;
      let s = 0;
      for (const x of v) s += (x - m) ** 2;
      expect(Math.sqrt(s / (v.length - 1)) / std, k).toBeGreaterThan(0.95);
      expect(Math.sqrt(s / (v.length - 1)) / std, k).toBeLessThan(1.05);
    }
  });

  it('reads its architecture back from the weights alone', () => {
    const c = inferReferenceConfig(model.stateDict());
    expect({ T: c.T, ch: c.ch, chMult: c.chMult, attn: c.attn, numResBlocks: c.numResBlocks, numClasses: c.numClasses, augm: c.augm }).toEqual({ T: 1000, ch: 128, chMult: [1, 2, 2, 2], attn: [1], numResBlocks: 2, numClasses: 10, augm: false });
  });
});

describe('oclt export / import (CLI)', () => {
  const quiet = () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    return { log, err, restore: () => (log.mockRestore(), err.mockRestore()) };
  };

  it('imports their plain state dict (the PyTorch fixture), samples it, and re-exports the same bytes', async () => {
    const out = path.join(TMP, 'imported');
    const q = quiet();
    try {
      expect(await importCommand(['--checkpoint', path.join(FIXTURES, 'reference-unet.safetensors'), '--out', out, '--samples', '3', '--steps', '2', '--img-size', '16'])).toBe(0);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'import.json'), 'utf8'));
      expect(report.layout).toBe('plain');
      expect(report.config).toMatchObject({ ch: 32, chMult: [1, 1], attn: [1], numClasses: 3, imgSize: 16 });
      expect(fs.statSync(path.join(out, 'samples.png')).size).toBeGreaterThan(100);
      const samples = loadSafetensorsSync(path.join(out, 'samples.safetensors')).tensors;
      expect(samples.samples!.shape).toEqual([3, 3, 16, 16]);
      expect(Array.from(samples.labels!.toTypedArray())).toEqual([0, 1, 2]);
      const again = path.join(TMP, 'again.safetensors');
      expect(await exportCommand(['--format', 'oc-lt-pytorch', '--from', path.join(out, 'model.safetensors'), '--out', again])).toBe(0);
      expect(Buffer.compare(fs.readFileSync(again), fs.readFileSync(path.join(out, 'model.safetensors')))).toBe(0);
    } finally {
      q.restore();
    }
  });

  it('exports a fresh model from flags that imports strictly, with the flags in the file and beside it', async () => {
    const out = path.join(TMP, 'fresh.safetensors');
    const q = quiet();
    try {
      expect(await main(['export', '--format', 'oc-lt-pytorch', '--out', out, '--ch', '32', '--ch-mult', '1,2', '--attn', '0', '--num-res-blocks', '1', '--num-classes', '2', '--T', '50', '--img-size', '8'])).toBe(0);
    } finally {
      q.restore();
    }
    const back = loadExchangeFile(out);
    expect(back.config).toMatchObject({ T: 50, ch: 32, chMult: [1, 2], attn: [0], numResBlocks: 1, numClasses: 2, imgSize: 8 });
    expect(JSON.parse(fs.readFileSync(flagsFileFor(out), 'utf8'))).toMatchObject({ T: 50, ch_mult: [1, 2], attn: [0], num_class: 2, conditional: true, cfg: true });
  });

  it('refuses with messages naming the flag, the key or the next step', async () => {
    const q = quiet();
    try {
      expect(await main(['export', '--format', 'oc-lt-pytorch', '--out', path.join(TMP, 'x.safetensors'), '--ch', '48'])).toBe(2);
      expect(q.err.mock.calls.flat().join('\n')).toMatch(/--ch \* 1 = 48 channels is not a multiple of 32/);
      expect(await main(['export', '--format', 'oc-lt-pytorch', '--out', path.join(TMP, 'x.pt')])).toBe(2);
      expect(await main(['import', '--checkpoint', path.join(TMP, 'ckpt_5.pt')])).toBe(1);
      expect(q.err.mock.calls.flat().join('\n')).toMatch(/torch\.save pickle; convert it first: python3 packages\/oclt\/pytorch\/oclt_checkpoint\.py from-pt/);
    } finally {
      q.restore();
    }
    // A missing key, and flags that disagree with the weights.
    const { tensors } = fixture('reference-unet.safetensors');
    const partial = { ...tensors };
    delete partial['middleblocks.1.block2.3.bias'];
    const file = path.join(TMP, 'partial.safetensors');
    saveSafetensorsSync(file, partial);
    expect(() => loadExchangeFile(file, { imgSize: 16 })).toThrow(/missing keys: middleblocks\.1\.block2\.3\.bias/);
    const wrong = path.join(TMP, 'wrong-flags.safetensors');
    saveSafetensorsSync(wrong, tensors, { flags: JSON.stringify({ ch: 32, ch_mult: [1, 2], attn: [1], num_res_blocks: 1, conditional: true, num_class: 3, img_size: 16 }) });
    expect(() => loadExchangeFile(wrong)).toThrow(/flags disagree with the weights on chMult: \[1,1\] vs \[1,2\]/);
    expect(() => splitExchangeTensors({ 'net_model.a': tensors['head.bias']!, other: tensors['head.bias']! }, 'f')).toThrow(/'other' are neither net_model\.\* nor ema_model\.\*/);
    expect(() => referenceConfigFromFlags({ conditional: true, num_class: 0 }, 'flagfile.txt')).toThrow(/flagfile\.txt: flag 'conditional' is true but 'num_class' is 0/);
  });

  it("parses their absl flagfile (config/cifar10.txt's form)", () => {
    const flags = parseFlagfile('--T=1000\n--attn=1\n--ch=128\n--ch_mult=1\n--ch_mult=2\n--ch_mult=2\n--ch_mult=2\n--dropout=0.1\n--noparallel\n--conditional\n--num_class=10.0\n--var_type=fixedlarge\n');
    expect(flags).toMatchObject({ T: 1000, attn: [1], ch: 128, ch_mult: [1, 2, 2, 2], dropout: 0.1, parallel: false, conditional: true, num_class: 10, var_type: 'fixedlarge' });
    expect(referenceConfigFromFlags(flags)).toMatchObject({ chMult: [1, 2, 2, 2], numClasses: 10 });
    expect(PYTORCH_FIXTURE_CONFIG.chMult).toEqual([1, 1]);
  });
});

describe('prototype here: ReferenceUNet trains with our Trainer and exports', () => {
  it('takes optimisation steps (CFG batch drop as theirs), feeds the bottleneck tap, and exports what imports strictly', () => {
    const model = new ReferenceUNet({ ...PYTORCH_FIXTURE_CONFIG, imgSize: 8, T: 100, seed: 3 });
    const n = 8;
    const pixels = new Float32Array(n * 3 * 8 * 8).map((_, i) => Math.sin(i * 0.37));
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    let tapped: number[] | null = null;
    model.bottleneckTap = (h) => (tapped = [...h.shape]);
    const before = model.stateDict()['label_embedding.weight']!.toTypedArray().slice();
    const trainer = new Trainer({
      model,
      scheduler: new DDPMScheduler({ numTrainTimesteps: 100 }),
      dataset: new ArrayDataset(pixels, [3, 8, 8], labels, 3),
      config: { batchSize: 4, numSteps: 2, lr: 1e-3, labelDropProb: 0.1, labelDropMode: 'per-batch', emaDecay: 0.9, seed: 1 },
    });
    const stats = [trainer.step(), trainer.step()];
    expect(stats.every((s) => Number.isFinite(s.loss))).toBe(true);
    expect(tapped).toEqual([4, 32, 4, 4]);
    const after = model.stateDict()['label_embedding.weight']!.toTypedArray();
    expect(after.some((v, i) => v !== before[i])).toBe(true); // the label embedding gets gradients
    model.bottleneckTap = null;
    const file = path.join(TMP, 'trained.safetensors');
    const ema = new ReferenceUNet(model.config);
    trainer.ema!.copyTo(ema); // the EMA's shadow parameters; the time table is a buffer, equal by construction
    writeExchangeFile(file, model, ema, { step: trainer.stepCount });
    const back = loadExchangeFile(file, { weights: 'net' });
    expect(back.step).toBe(2);
    expect(maxAbsDiff(loadExchangeFile(file).model.stateDict()['head.weight']!, ema.stateDict()['head.weight']!)).toBe(0);
    expect(maxAbsDiff(back.model.stateDict()['head.weight']!, model.stateDict()['head.weight']!)).toBe(0);
  });
});

describe('docs/pytorch-bridge.md', () => {
  const doc = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'pytorch-bridge.md'), 'utf8');
  const script = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'pytorch', 'oclt_checkpoint.py'), 'utf8');
  const lines = [...doc.matchAll(/^```sh\n([\s\S]*?)^```/gm)].flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n'));

  it('uses only options our commands and oclt_checkpoint.py have', () => {
    const ours = lines.filter((l) => l.startsWith('npm run oclt -- '));
    expect(ours.length).toBeGreaterThanOrEqual(3);
    for (const line of ours) {
      const [cmd, ...rest] = line.slice('npm run oclt -- '.length).split(/\s+/);
      const help = COMMANDS[cmd!]?.help;
      expect(help, line).toBeDefined();
      for (const flag of rest.filter((w) => w.startsWith('--'))) expect(help, `${flag} in: ${line}`).toContain(`${flag} `);
    }
    const py = lines.filter((l) => l.startsWith('python3 packages/oclt/pytorch/oclt_checkpoint.py '));
    expect(py.length).toBeGreaterThanOrEqual(2);
    for (const line of py) {
      const [sub, ...rest] = line.split(/\s+/).slice(2);
      expect(script, line).toContain(`sub.add_parser('${sub}')`);
      for (const flag of rest.filter((w) => w.startsWith('--'))) expect(script, `${flag} in: ${line}`).toContain(`add_argument('${flag}'`);
    }
  });
});
