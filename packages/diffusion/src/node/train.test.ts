import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { Generator, tensor, type Tensor } from '@oclt/tensor';
import { gaussianMixtureDataset } from '../data/toy.js';
import { MLPDenoiser } from '../models/mlp.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { Linear, encodeSafetensors } from '@oclt/autograd';
import { NonFiniteError, Trainer, type TrainerConfig } from '../training/trainer.js';
import { checkpointStore, initTrainerFrom, loadModelFromRun, runTraining, saveTrainerCheckpoint, type CheckpointMeta, type TrainRunResult } from './train.js';
import { sha256 } from './checkpoint.js';
import { saveImageGrid } from './images.js';
import { ProgressBar, formatDuration } from './progress.js';

const data = gaussianMixtureDataset([{ mean: [1, 1], std: 0.2, count: 30 }, { mean: [-1, 0], std: 0.2, count: 10 }], new Generator(3));
const makeTrainerOptions = () => ({
  model: new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 1 }),
  scheduler: new DDPMScheduler({ numTrainTimesteps: 100 }),
  dataset: data,
  config: { batchSize: 8, numSteps: 12, lr: 1e-2, warmupSteps: 3, emaDecay: 0.9, seed: 9 },
});
const makeTrainer = () => new Trainer(makeTrainerOptions());
const bits = (t: Tensor) => [...new Uint32Array(Float32Array.from(t.toTypedArray()).buffer)];
const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-run-'));
const quiet = { progress: false, logEvery: 1, checkpointEvery: 4 };

/** The reference run of 12 steps (shared by the tests below). */
const refTrainer = makeTrainer();
const refRunResult: Promise<TrainRunResult> = runTraining(refTrainer, { dir: tmpdir(), ...quiet });
const refFinished = async () => {
  await refRunResult;
  return refTrainer;
};

function expectSameState(a: Trainer, b: Trainer): void {
  const sa = a.snapshot();
  const sb = b.snapshot();
  for (const k of Object.keys(sa.tensors)) expect(bits(sb.tensors[k]!), k).toEqual(bits(sa.tensors[k]!));
  expect(sb.meta).toEqual(sa.meta);
}

describe('runTraining', () => {
  const reference = makeTrainer();
  const refDir = tmpdir();
  const refRun = runTraining(reference, { dir: refDir, ...quiet });

  it('an interrupted (SIGINT) and resumed run equals an uninterrupted one, bit for bit', async () => {
    expect((await refRun).stoppedBy).toBe('completed');
    const dir = tmpdir();
    const first = await runTraining(makeTrainer(), { dir, ...quiet, onStep: (s) => s.step === 6 && process.emit('SIGINT') });
    expect(first).toMatchObject({ stoppedBy: 'SIGINT', step: 6, resumedFrom: null });
    expect(fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => f.endsWith('.json')).sort()).toEqual(['ckpt-00000004.json', 'ckpt-00000006.json']);
    const resumed = makeTrainer();
    const second = await runTraining(resumed, { dir, ...quiet });
    expect(second).toMatchObject({ stoppedBy: 'completed', step: 12, resumedFrom: 6 });
    expectSameState(reference, resumed);
    const events = fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
    expect(events.filter((e) => e !== 'step')).toEqual(['start', 'interrupted', 'resume', 'done']);
  });

  it('a corrupt newest checkpoint is reported and the previous one is used; the result is still exact', async () => {
    await refRun;
    const dir = tmpdir();
    await runTraining(makeTrainer(), { dir, ...quiet, onStep: (s) => s.step === 6 && process.emit('SIGTERM') });
    const p = path.join(dir, 'checkpoints', 'ckpt-00000006.safetensors');
    const bytes = fs.readFileSync(p);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(p, bytes);
    const warnings: string[] = [];
    const resumed = makeTrainer();
    const res = await runTraining(resumed, { dir, ...quiet, warn: (m) => warnings.push(m) });
    expect(res.resumedFrom).toBe(4);
    expect(warnings.join('\n')).toMatch(/ckpt-00000006.safetensors is corrupt: SHA-256 mismatch/);
    expect(warnings.join('\n')).not.toMatch(/changed config/);
    expectSameState(reference, resumed);
  });

  it('warns when a run is resumed with a changed config', async () => {
    await refRun;
    const dir = tmpdir();
    await runTraining(makeTrainer(), { dir, ...quiet, onStep: (s) => s.step === 2 && process.emit('SIGINT') });
    const changed = new Trainer({ ...makeTrainerOptions(), config: { ...makeTrainerOptions().config, lr: 5e-3 } });
    const warnings: string[] = [];
    await runTraining(changed, { dir, ...quiet, warn: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(/changed config \(lr: 0.01 -> 0.005\)/);
  });

  it('a higher numSteps on a finished run extends it: 12 + 8 steps equal a straight 20-step run, bit for bit (numSteps is not a changed config)', async () => {
    await refRun;
    const longer = () => new Trainer({ ...makeTrainerOptions(), config: { ...makeTrainerOptions().config, numSteps: 20 } });
    const straight = longer();
    await runTraining(straight, { dir: tmpdir(), ...quiet });
    const dir = tmpdir();
    await runTraining(makeTrainer(), { dir, ...quiet });
    const warnings: string[] = [];
    const extended = longer();
    const res = await runTraining(extended, { dir, ...quiet, warn: (m) => warnings.push(m) });
    expect(res).toMatchObject({ resumedFrom: 12, step: 20, stoppedBy: 'completed' });
    expect(warnings.join('\n')).toMatch(/extending .*ckpt-00000012\.json \(planned for 12 steps\) to 20 steps/);
    expect(warnings.join('\n')).not.toMatch(/changed config/);
    expectSameState(straight, extended);
  });

  it('loadModelFromRun loads the EMA weights (default) or the training weights', async () => {
    await refRun;
    const m = new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 77 });
    expect(loadModelFromRun(m, refDir)).toBe(12);
    const shadow = reference.ema!.shadowParameters();
    for (const [name, p] of m.namedParameters()) expect(bits(p), name).toEqual(bits(shadow[name]!));
    loadModelFromRun(m, refDir, { ema: false });
    const own = reference.model.stateDict();
    for (const [name, p] of m.namedParameters()) expect(bits(p), name).toEqual(bits(own[name]!));
  });
});

describe('image and progress output', () => {
  it('saveImageGrid tiles images with padding and maps [-1, 1] to 0..255', () => {
    const dir = tmpdir();
    // two 1x2x2 gray images: [-1, 0; 1, 0.5] and all 1
    const imgs = tensor([[[[-1, 0], [1, 0.5]]], [[[1, 1], [1, 1]]]]);
    const file = path.join(dir, 'grid.png');
    saveImageGrid(file, imgs, { nrow: 2, padding: 1, padValue: 7 });
    const png = PNG.sync.read(fs.readFileSync(file));
    // width = 2 * 2 + 3 * 1 padding = 7, height = 2 + 2 = 4
    expect([png.width, png.height]).toEqual([7, 4]);
    const at = (x: number, y: number) => png.data[(y * 7 + x) * 4]!;
    expect([at(0, 0), at(1, 1), at(2, 1), at(1, 2), at(2, 2), at(3, 1), at(4, 1), at(5, 2)]).toEqual([7, 0, 128, 255, 191, 7, 255, 255]);
  });

  it('the progress line shows count, rate and ETA', () => {
    const bar = new ProgressBar({ total: 10, enabled: false, width: 10 });
    bar.begin(0);
    expect(bar.render(5, 2.5, 'loss 0.1')).toBe('[#####.....] 5/10 2.00 it/s ETA 00:03 loss 0.1');
    expect(bar.render(1, 4)).toBe('[#.........] 1/10 4.00 s/it ETA 00:36');
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});

describe('runTraining: divergence', () => {
  /** The reference trainer whose loss hook turns NaN from step `from` (1-based) on. */
  const diverging = (from: number, config: Partial<TrainerConfig> = {}) =>
    new Trainer({ ...makeTrainerOptions(), config: { ...makeTrainerOptions().config, ...config }, lossHook: (ctx) => ctx.prediction.mul(0).sum().add(ctx.step + 1 >= from ? NaN : 0) });
  const events = (dir: string) => fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const manifests = (dir: string) => fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => f.endsWith('.json')).sort();

  it('stops at the step that diverges, logs it, writes no checkpoint and keeps the good ones (keepLast included)', async () => {
    const dir = tmpdir();
    const run = runTraining(diverging(7), { dir, ...quiet, checkpointEvery: 2, keepLast: 2 });
    await expect(run).rejects.toThrow(NonFiniteError);
    await expect(run).rejects.toThrow(/NaN at step 7/);
    expect(manifests(dir)).toEqual(['ckpt-00000004.json', 'ckpt-00000006.json']);
    const last = events(dir).at(-1);
    expect(last).toMatchObject({ event: 'diverged', step: 7, quantity: 'extraLoss', value: 'NaN', lastGoodCheckpoint: 6 });
    // Resuming re-runs the bad step and stops again: the good checkpoints survive every attempt.
    await expect(runTraining(diverging(7), { dir, ...quiet, checkpointEvery: 2, keepLast: 2 })).rejects.toThrow(/NaN at step 7/);
    expect(manifests(dir)).toEqual(['ckpt-00000004.json', 'ckpt-00000006.json']);
  });

  it("policy 'skip' logs each skipped step and reports the count", async () => {
    const dir = tmpdir();
    const t = new Trainer({ ...makeTrainerOptions(), config: { ...makeTrainerOptions().config, onNonFinite: 'skip' }, lossHook: (ctx) => ctx.prediction.mul(0).sum().add(ctx.step === 4 ? NaN : 0) });
    const res = await runTraining(t, { dir, ...quiet });
    expect(res).toMatchObject({ stoppedBy: 'completed', step: 12, skippedSteps: 1 });
    expect(events(dir).filter((e) => e.event === 'skip')).toMatchObject([{ step: 5, quantity: 'extraLoss' }]);
  });

  it('saveTrainerCheckpoint refuses non-finite weights (nothing written or pruned); resume and loadModelFromRun refuse such a checkpoint', async () => {
    const dir = tmpdir();
    const t = makeTrainer();
    await runTraining(t, { dir, ...quiet, onStep: (s) => s.step === 8 && process.emit('SIGINT') });
    expect(manifests(dir)).toEqual(['ckpt-00000004.json', 'ckpt-00000008.json']);
    const store = checkpointStore(dir);
    t.step();
    const w = t.optimizer.params[0]!;
    w.dataSync()[3] = NaN;
    expect(() => saveTrainerCheckpoint(t, store)).toThrow(/refusing to write the checkpoint of step 9 .*tensor model\.\S+ has 1 non-finite/);
    expect(manifests(dir)).toEqual(['ckpt-00000004.json', 'ckpt-00000008.json']);
    expect(fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => f.includes('.tmp-'))).toEqual([]);

    // A checkpoint with NaN weights that an older version wrote: refused by sampling, skipped by resume.
    const { tensors, meta } = t.snapshot();
    store.save(9, encodeSafetensors(tensors), { trainer: meta, run: {} } satisfies CheckpointMeta);
    const m = new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 77 });
    expect(() => loadModelFromRun(m, dir)).toThrow(/ckpt-00000009\.safetensors holds non-finite weights: tensor (model|optim|ema)\./);
    const warnings: string[] = [];
    const resumed = makeTrainer();
    const res = await runTraining(resumed, { dir, ...quiet, warn: (msg) => warnings.push(msg) });
    expect(res.resumedFrom).toBe(8);
    expect(warnings.join('\n')).toMatch(/ckpt-00000009\.safetensors holds non-finite weights.*falling back/);
    expectSameState(await refFinished(), resumed);
  });

  it('the losses of the last steps travel in the checkpoints, so a resumed run reports the same ones', async () => {
    const full = (await refRunResult).recentSteps;
    expect(full.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const dir = tmpdir();
    await runTraining(makeTrainer(), { dir, ...quiet, onStep: (s) => s.step === 5 && process.emit('SIGINT') });
    expect((await runTraining(makeTrainer(), { dir, ...quiet })).recentSteps).toEqual(full);
    // Resumed at the last step: no step taken, the history still comes from the checkpoint.
    expect((await runTraining(makeTrainer(), { dir, ...quiet })).recentSteps).toEqual(full);
  });
});

describe('initTrainerFrom (fine-tuning from another run)', () => {
  /** A fine-tune of the reference run: another seed and lr, 8 steps (the source is the 12-step reference run). */
  const fineTuneOptions = () => ({ ...makeTrainerOptions(), model: new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 55 }), config: { ...makeTrainerOptions().config, numSteps: 8, lr: 3e-3, seed: 4 } });
  const refDir = tmpdir();
  const source = makeTrainer();
  const sourceRun = runTraining(source, { dir: refDir, ...quiet });
  const manifest = () => path.join(refDir, 'checkpoints', 'ckpt-00000012.json');

  it("weights 'ema' (the default): the model and the EMA start at the source's EMA (its update count kept), a fresh optimizer", async () => {
    await sourceRun;
    const t = new Trainer(fineTuneOptions());
    const r = initTrainerFrom(t, refDir);
    expect(r.step).toBe(12);
    expect(r.manifestPath).toBe(manifest());
    const body = JSON.parse(fs.readFileSync(manifest(), 'utf8')).body;
    expect(r.payloadSha256).toBe(body.payloadSha256);
    expect(r.payloadSha256).toBe(sha256(fs.readFileSync(path.join(refDir, 'checkpoints', 'ckpt-00000012.safetensors'))));
    const shadow = source.ema!.shadowParameters();
    for (const [name, p] of t.model.namedParameters()) expect(bits(p), name).toEqual(bits(shadow[name]!));
    const own = t.ema!.shadowParameters();
    for (const name of Object.keys(shadow)) expect(bits(own[name]!), name).toEqual(bits(shadow[name]!));
    expect(t.ema!.numUpdates).toBe(12);
    expect(Object.keys(t.optimizer.stateDict().tensors)).toEqual([]);
    expect(Object.values(t.optimizer.stateDict().scalars.steps).every((n) => n === 0)).toBe(true);
    expect(t.stepCount).toBe(0);
  });

  it("weights 'model' + optimizer: the source's raw weights and Adam state; a manifest path names the same checkpoint", async () => {
    await sourceRun;
    const t = new Trainer(fineTuneOptions());
    const r = initTrainerFrom(t, manifest(), { weights: 'model', optimizer: true });
    expect(r.step).toBe(12);
    const weights = source.model.stateDict();
    for (const [name, p] of t.model.namedParameters()) expect(bits(p), name).toEqual(bits(weights[name]!));
    const a = source.optimizer.stateDict();
    const b = t.optimizer.stateDict();
    expect(b.scalars.steps).toEqual(a.scalars.steps);
    for (const k of Object.keys(a.tensors)) expect(bits(b.tensors[k]!), k).toEqual(bits(a.tensors[k]!));
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    // The payload path names the same checkpoint.
    const viaPayload = initTrainerFrom(new Trainer(fineTuneOptions()), manifest().replace(/\.json$/, '.safetensors'));
    expect(viaPayload).toEqual({ ...r });
  });

  it('refuses another architecture naming the tensor and both shapes, a trainer that has stepped, and sources without checkpoints', async () => {
    await sourceRun;
    const wider = new Trainer({ ...fineTuneOptions(), model: new MLPDenoiser({ dataDim: 2, hidden: 32, numLayers: 1, numClasses: 2, seed: 1 }) });
    expect(() => initTrainerFrom(wider, refDir)).toThrow(/ckpt-00000012\.json does not fit this model .*tensor model\.\S+: checkpoint \[16(, \d+)*\], model \[32(, \d+)*\]/);
    const unconditional = new Trainer({ ...fineTuneOptions(), model: new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 0, seed: 1 }) });
    expect(() => initTrainerFrom(unconditional, refDir)).toThrow(/does not fit this model .*model absent/);
    const stepped = new Trainer(fineTuneOptions());
    stepped.step();
    expect(() => initTrainerFrom(stepped, refDir)).toThrow(/has taken 1 steps/);
    const empty = tmpdir();
    expect(() => initTrainerFrom(new Trainer(fineTuneOptions()), empty)).toThrow(/holds no checkpoint/);
    expect(() => initTrainerFrom(new Trainer(fineTuneOptions()), path.join(empty, 'nope'))).toThrow(/cannot be read \(ENOENT\)/);
    expect(() => initTrainerFrom(new Trainer(fineTuneOptions()), refDir, { weights: 'raw' as 'ema' })).toThrow(/weights must be 'ema' or 'model'/);
  });

  it("fresh: a module the source lacks (a new head) keeps its own initialisation, the rest comes from the source; misuse is refused by name", async () => {
    await sourceRun;
    const withHead = () => {
      const model = new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, numClasses: 2, seed: 55 });
      model.addModule('head', new Linear(16, 4, { generator: new Generator(8) }));
      return new Trainer({ ...fineTuneOptions(), model });
    };
    const t = withHead();
    const headStart = Object.fromEntries(t.model.namedParameters().filter(([n]) => n.startsWith('head.')).map(([n, p]) => [n, bits(p)]));
    expect(Object.keys(headStart).sort()).toEqual(['head.bias', 'head.weight']);
    // Without `fresh` the extra tensors are an architecture mismatch.
    expect(() => initTrainerFrom(withHead(), refDir)).toThrow(/does not fit this model .*tensor model\.head\.\w+: checkpoint absent, model \[/);
    const r = initTrainerFrom(t, refDir, { fresh: ['head'] });
    expect(r.freshTensors.sort()).toEqual(['head.bias', 'head.weight']);
    const shadow = source.ema!.shadowParameters();
    const emaNow = t.ema!.shadowParameters();
    for (const [name, p] of t.model.namedParameters()) {
      const expected = name.startsWith('head.') ? headStart[name]! : bits(shadow[name]!);
      expect(bits(p), name).toEqual(expected);
      expect(bits(emaNow[name]!), `ema ${name}`).toEqual(expected);
    }
    expect(() => initTrainerFrom(withHead(), refDir, { fresh: ['head'], optimizer: true })).toThrow(/no optimizer state for the fresh module\(s\) head/);
    expect(() => initTrainerFrom(withHead(), refDir, { fresh: ['tail'] })).toThrow(/fresh module tail: the model has no tensor under it/);
    // A module the source does hold loads from it like any other (continuing a run that already has the head).
    const trunk = t.model.namedParameters()[0]![0].split('.')[0]!;
    const u = withHead();
    expect(initTrainerFrom(u, refDir, { fresh: ['head', trunk] }).freshTensors.sort()).toEqual(['head.bias', 'head.weight']);
    for (const [name, p] of u.model.namedParameters()) if (!name.startsWith('head.')) expect(bits(p), name).toEqual(bits(shadow[name]!));
  });

  it('a fine-tune interrupted (SIGINT) and resumed equals an uninterrupted one, bit for bit (init called again before the resume)', async () => {
    await sourceRun;
    const straight = new Trainer(fineTuneOptions());
    initTrainerFrom(straight, refDir, { optimizer: true });
    await runTraining(straight, { dir: tmpdir(), ...quiet });
    expect(straight.stepCount).toBe(8);
    const dir = tmpdir();
    const first = new Trainer(fineTuneOptions());
    initTrainerFrom(first, refDir, { optimizer: true });
    expect((await runTraining(first, { dir, ...quiet, onStep: (s) => s.step === 5 && process.emit('SIGINT') })).stoppedBy).toBe('SIGINT');
    const resumed = new Trainer(fineTuneOptions());
    initTrainerFrom(resumed, refDir, { optimizer: true }); // what a harness does blindly; the run's own checkpoint then wins
    expect((await runTraining(resumed, { dir, ...quiet })).resumedFrom).toBe(5);
    expectSameState(straight, resumed);
    // And the fine-tune did move away from its start.
    const start = source.ema!.shadowParameters();
    expect(resumed.model.namedParameters().some(([n, p]) => bits(p).join() !== bits(start[n]!).join())).toBe(true);
  });
});
