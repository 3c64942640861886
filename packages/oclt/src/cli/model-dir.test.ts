/**
 * `oclt sample --run DIR` of an `oclt import` directory: the imported ReferenceUNet sampled with OC_LT's DDIM on the
 * schedule of its own flags. The oracle is `sample()` on the model `loadExchangeFile` returns, with a DDIM scheduler
 * written out here field by field (not through the CLI's config plumbing), so a lost schedule, the wrong weights or
 * another sampler shows as different pixels.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, randn } from '@oclt/tensor';
import { decodeSafetensors } from '@oclt/autograd';
import { DDIMScheduler, ReferenceUNet, sample} from '@oclt/diffusion';
import { cliTestSetup } from '../test-helpers.js';
import { loadExchangeFile, writeExchangeFile } from './exchange-file.js';
import { loadModelDir } from './model-dir.js';

const t = cliTestSetup('model-dir');
// The smallest model their model.py builds: ch 32 (GroupNorm 32), one level, no attention, 3 classes, 8x8 RGB.
const CONFIG = { T: 1000, ch: 32, chMult: [1], attn: [], numResBlocks: 1, dropout: 0, numClasses: 3, inChannels: 3, imgSize: 8 };
const NUM = 6;
const STEPS = 3;
const SEED = 5;
const W = 1.5;

const samplesOf = (prefix: string): Float32Array => {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(`${prefix}.safetensors`)), prefix);
  return Float32Array.from(tensors.images!.toTypedArray() as ArrayLike<number>);
};

/** What `oclt sample` should give: OC_LT's DDIM ('leading', eta 0, last step to abar_0, no x0 clip) on the given betas. */
function expected(m: ReferenceUNet, betaEnd: number): Float32Array {
  const scheduler = new DDIMScheduler({ numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd, predictionType: 'epsilon', timestepSpacing: 'leading', eta: 0, setAlphaToOne: false, clipSample: null });
  const labels = Int32Array.from([0, 0, 1, 1, 2, 2]);
  const x = sample(m, scheduler, { numSamples: NUM, sampleShape: [3, 8, 8], batchSize: 250, labels, guidanceWeight: W, numInferenceSteps: STEPS, eta: 0, seed: SEED });
  return Float32Array.from(x.clamp(-1, 1).toTypedArray() as ArrayLike<number>);
}

/** A ReferenceUNet whose output is O(1): their init leaves the tail conv near zero (gain 1e-5), so every eps is ~0. */
function model(seed: number): ReferenceUNet {
  const m = new ReferenceUNet({ ...CONFIG, seed });
  const g = new Generator(100 + seed);
  const state = m.stateDict();
  for (const k of Object.keys(state)) if (k.startsWith('tail.')) state[k] = randn(state[k]!.shape, g).mul(0.2);
  m.loadStateDict(state, true);
  return m;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('oclt sample --run <oclt import directory>', () => {
  it("samples the imported ReferenceUNet on its own schedule (beta_T 0.03 here), EMA by default and net with --weights net, as sample() does; import --samples agrees", async () => {
    const net = model(1);
    const ema = model(2);
    const file = t.file('exported.safetensors');
    writeExchangeFile(file, net, ema, { step: 7, extraFlags: { beta_1: 1e-4, beta_T: 0.03 } });
    const dir = t.file('imported');
    const imp = await t.run(['import', '--checkpoint', file, '--out', dir, '--samples', String(NUM), '--steps', String(STEPS), '--seed', String(SEED), '--guidance', String(W)]);
    expect(imp.code, imp.stderr).toBe(0);

    const emaRef = loadExchangeFile(file, { weights: 'ema' }).model;
    const netRef = loadExchangeFile(file, { weights: 'net' }).model;
    const wantEma = expected(emaRef, 0.03);
    const wantNet = expected(netRef, 0.03);
    // The schedule matters at this size: DDPM's betas (0.02) give other samples.
    expect(maxAbsDiff(wantEma, expected(emaRef, 0.02))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(wantEma, wantNet)).toBeGreaterThan(1e-3);

    const draw = async (name: string, extra: string[]) => {
      const prefix = t.file(name);
      const r = await t.run(['sample', '--run', dir, '--out', prefix, '--num', String(NUM), '--steps', String(STEPS), '--seed', String(SEED), '--guidance', String(W), ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return prefix;
    };
    const byDefault = await draw('ema', []);
    const fromNet = await draw('net', ['--weights', 'net']);
    // The same model, weights and scheduler on the same backend: equal to float32 rounding of identical operations.
    expect(maxAbsDiff(samplesOf(byDefault), wantEma)).toBe(0);
    expect(maxAbsDiff(samplesOf(fromNet), wantNet)).toBe(0);
    const described = t.readJson(`${byDefault}.json`).config;
    expect(described).toMatchObject({ runKind: 'import', weights: 'ema', checkpointStep: 7, train: null, model: { kind: 'reference-unet', schedule: { numTrainTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.03 } } });
    expect(described.imported.sourceSha256).toMatch(/^[0-9a-f]{64}$/);
    // `oclt import --samples` draws with the same sampler (its labels are grouped by class the same way here).
    const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'samples.safetensors'))), 'samples');
    expect(maxAbsDiff(Float32Array.from(tensors.samples!.toTypedArray() as ArrayLike<number>), wantEma)).toBe(0);
  });

  it('refuses a directory that is neither a run nor an import, both at once, and an import.json with a bad field, naming the file and the field', async () => {
    const empty = t.file('empty');
    fs.mkdirSync(empty);
    const r = await t.run(['sample', '--run', empty, '--num', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--run .*empty is neither an oclt run directory \(no run\.json.*nor an import directory \(no import\.json/);

    const net = model(3);
    const file = t.file('m.safetensors');
    writeExchangeFile(file, net, net, { step: 1 });
    const dir = t.file('imp2');
    expect((await t.run(['import', '--checkpoint', file, '--out', dir])).code).toBe(0);
    const jsonFile = path.join(dir, 'import.json');
    const good = fs.readFileSync(jsonFile, 'utf8');
    expect(loadModelDir(dir).modelConfig.schedule).toBeUndefined(); // DDPM's betas: not stated

    fs.writeFileSync(jsonFile, JSON.stringify({ ...JSON.parse(good), weights: 'best' }));
    expect(() => loadModelDir(dir)).toThrow(/import\.json: field 'weights' must be 'ema' or 'net', got "best"/);
    fs.writeFileSync(jsonFile, JSON.stringify({ ...JSON.parse(good), flags: { beta_1: 0.05, beta_T: 0.02 } }));
    expect(() => loadModelDir(dir)).toThrow(/import\.json: field 'flags\.beta_1' is 0\.05, above beta_T 0\.02/);
    fs.writeFileSync(jsonFile, JSON.stringify({ ...JSON.parse(good), config: { ...JSON.parse(good).config, ch: 64 } }));
    expect(() => loadModelDir(dir)).toThrow(/import\.json: field 'config' disagrees with .*model\.safetensors on ch/);
    fs.writeFileSync(jsonFile, good);
    fs.writeFileSync(path.join(dir, 'run.json'), '{}');
    expect(() => loadModelDir(dir)).toThrow(/holds both run\.json .* and import\.json/);
  });
});
