/**
 * The CLI's other data sets, on small files the tests write: CIFAR-10 / CIFAR-100 in the binary format
 * (`--dataset cifar10|cifar100 --data-dir`), any labelled IDX pair (`--dataset idx --data-dir`, grayscale
 * [N, H, W] or [N, C, H, W]), RGB through train / sample / eval / ablation, and errors that name the file and field.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '@oclt/autograd';
import { cliTestSetup, writeCifarFile, writeIdxFile } from '../test-helpers.js';
import { dataConfigFrom, loadLongTailedTrain, loadTestSet } from './common.js';
import { COMMANDS } from './main.js';

const t = cliTestSetup('data');
const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '10', '--grid-samples', '0', '--steps', '2', '--imbalance', '0.5'];

/** Class c of record r: the red plane bright on row 3c (of 32), green r-dependent, blue a constant c-dependent level. */
const pixel = (labels: readonly number[]) => (r: number, ch: number, y: number, x: number) =>
  ch === 0 ? (y === (3 * labels[r]!) % 32 ? 250 : 5) : ch === 1 ? (r * 7 + x) % 256 : 20 * (labels[r]! % 10) + (y % 3);

/** A cifar-10-batches-bin folder (inside `root`, as extracted) with `perBatch` images of every class in each of the five batches. */
function cifar10Dir(root: string, perBatch = 2, testPer = 3): string {
  const d = path.join(t.file(root), 'cifar-10-batches-bin');
  fs.mkdirSync(d, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: 10 * perBatch }, (_, i) => i % 10);
    writeCifarFile(path.join(d, `data_batch_${b}.bin`), 'cifar10', labels, pixel(labels));
  }
  const test = Array.from({ length: 10 * testPer }, (_, i) => i % 10);
  writeCifarFile(path.join(d, 'test_batch.bin'), 'cifar10', test, pixel(test));
  return t.file(root);
}

function cifar100Dir(name: string): string {
  const d = t.file(name);
  fs.mkdirSync(d, { recursive: true });
  const train = Array.from({ length: 300 }, (_, i) => i % 100);
  const test = Array.from({ length: 200 }, (_, i) => i % 100);
  writeCifarFile(path.join(d, 'train.bin'), 'cifar100', train, pixel(train));
  writeCifarFile(path.join(d, 'test.bin'), 'cifar100', test, pixel(test));
  return d;
}

/** An IDX pair per split with MNIST-unlike names; images [N, H, W] (channels 0) or [N, C, H, W]. */
function idxDir(name: string, opts: { size?: number; classes?: number; perClass?: number; channels?: number; prefix?: string } = {}): string {
  const { size = 12, classes = 4, perClass = 6, channels = 0, prefix = 'kmnist' } = opts;
  const d = t.file(name);
  fs.mkdirSync(d, { recursive: true });
  for (const [split, n] of [['train', perClass * classes], ['t10k', 3 * classes]] as const) {
    const labels = Array.from({ length: n }, (_, i) => i % classes);
    const C = Math.max(1, channels);
    const px = new Uint8Array(n * C * size * size);
    labels.forEach((c, i) => {
      for (let ch = 0; ch < C; ch++) for (let x = 0; x < size; x++) px[((i * C + ch) * size + Math.floor((c * size) / classes)) * size + x] = 100 + 50 * ch + (i % 40);
    });
    writeIdxFile(path.join(d, `${prefix}-${split}-images.idx${channels ? 4 : 3}-ubyte.gz`), 0x08, channels ? [n, C, size, size] : [n, size, size], px, true);
    writeIdxFile(path.join(d, `${prefix}-${split}-labels.idx1-ubyte`), 0x08, [n], labels);
  }
  return d;
}

const flags = (o: Record<string, string | number>) => ({ dataset: 'fashion-mnist', 'data-dir': '', 'image-size': 32, imbalance: 1, 'lt-seed': 0, 'class-order': '', 'num-classes': 0, ...o }) as Parameters<typeof dataConfigFrom>[0];
const shapeOf = (prefix: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(`${prefix}.safetensors`)), prefix).tensors.images!.shape;

describe('--dataset cifar10 | cifar100', () => {
  it('reads the binary records channel-major into [N, 3, S, S] in [-1, 1], the five batches in order, the folder or the one above it', () => {
    const root = cifar10Dir('c10-read');
    for (const dir of [root, path.join(root, 'cifar-10-batches-bin')]) {
      const cfg = dataConfigFrom(flags({ dataset: 'cifar10', 'data-dir': dir }));
      expect([cfg.channels, cfg.numClasses]).toEqual([3, undefined]);
      const lt = loadLongTailedTrain(cfg); // imbalance 1: every image, class by class
      expect(lt.classCounts).toEqual(new Array(10).fill(10));
      expect(lt.train.channels).toBe(3);
      expect(lt.classNames[0]).toBe('airplane');
      const test = loadTestSet(cfg);
      expect([test.count, test.channels, test.size]).toEqual([30, 3, 32]);
      // Record 4 of the test file (class 4): its planes as written, byte / 127.5 - 1.
      const labels = Array.from({ length: 30 }, (_, i) => i % 10);
      const f = pixel(labels);
      for (const [ch, y, x] of [[0, 12, 5], [0, 11, 5], [1, 3, 17], [2, 31, 0]] as const) {
        expect(test.pixels[((4 * 3 + ch) * 32 + y) * 32 + x]).toBeCloseTo(f(4, ch, y, x) / 127.5 - 1, 6);
      }
    }
  });

  it('train (MLP and UNet) -> sample -> eval on RGB CIFAR-10: 3 channels in the model, the samples and the metrics (luminance features)', async () => {
    const data = ['--dataset', 'cifar10', '--data-dir', cifar10Dir('c10'), '--image-size', '8'];
    for (const model of [[], ['--model', 'unet', '--channels', '8']]) {
      const run = t.file(`c10-run-${model.length}`);
      const r = await t.run(['train', '--out', run, '--recipe', 't2h+resample', ...TINY, ...data, ...model]);
      expect(r.code, r.stderr).toBe(0);
      const cfg = t.readJson(path.join(run, 'run.json')).config;
      expect([cfg.data.dataset, cfg.data.channels, cfg.model.inChannels, cfg.model.numClasses]).toEqual(['cifar10', 3, 3, 10]);
      expect(Number.isFinite(t.readJson(path.join(run, 'result.json')).finalLoss)).toBe(true);
      const prefix = path.join(run, 's');
      expect((await t.run(['sample', '--run', run, '--out', prefix, '--num', '20', '--steps', '2'])).code).toBe(0);
      expect(shapeOf(prefix)).toEqual([20, 3, 8, 8]);
      const e = await t.run(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained', '--no-baselines']);
      expect(e.code, e.stderr).toBe(0);
      const m = t.readJson(`${prefix}.metrics.json`);
      expect(m.config.data.dataset).toBe('cifar10'); // from the samples' description
      expect(m.config.featureInput).toMatch(/luminance/);
      expect(Number.isFinite(m.metrics.fid)).toBe(true);
      expect(m.metrics.n_reference).toBe(30);
    }
  });

  it('CIFAR-100: 100 fine classes end to end (conditional model of 100 classes, --num a multiple of 100), ablation included', async () => {
    const data = ['--dataset', 'cifar100', '--data-dir', cifar100Dir('c100'), '--image-size', '8'];
    const run = t.file('c100-run');
    const r = await t.run(['train', '--out', run, '--recipe', 'baseline', ...TINY, ...data]);
    expect(r.code, r.stderr).toBe(0);
    const cfg = t.readJson(path.join(run, 'run.json')).config;
    expect([cfg.data.numClasses, cfg.model.numClasses, cfg.model.inChannels]).toEqual([100, 100, 3]);
    const bad = await t.run(['sample', '--run', run, '--out', path.join(run, 'x'), '--num', '20']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--num must be a multiple of 100/);
    const prefix = path.join(run, 's');
    expect((await t.run(['sample', '--run', run, '--out', prefix, '--num', '200', '--steps', '2'])).code).toBe(0);
    const e = await t.run(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained']);
    expect(e.code, e.stderr).toBe(0);
    const m = t.readJson(`${prefix}.metrics.json`);
    expect(m.metrics.per_class_fid.per_class).toHaveLength(100);
    expect(m.baselines.test_half_vs_half.n_generated).toBe(100);

    const results = t.file('c100-abl', 'res');
    const a = await t.run(['ablation', ...data, '--hidden', '16', '--layers', '1', '--imbalance', '0.5', '--out', t.file('c100-abl', 'runs'), '--results', results, '--methods', 'C-base,U-base', '--steps', '2', '--batch-size', '10', '--num-samples', '100', '--sample-steps', '2', '--feature-net', 'random-untrained']);
    expect(a.code, a.stderr).toBe(0);
    const ab = t.readJson(`${results}.json`);
    expect(ab.methods['C-base'].status).toBe('done');
    // Unconditional: the feature network's 10 classes are not CIFAR-100's, so no per-class FID (said why).
    expect(ab.methods['U-base'].evaluation.perClassFidError).toMatch(/10 classes, the data 100/);
    expect(fs.readFileSync(`${results}.md`, 'utf8')).toMatch(/CIFAR-100-LT/);
    // The transfer diagnostic on RGB data of 100 classes: a 100 x 100 class matrix, whole (3-channel) images compared.
    const tc = t.file('c100-tc');
    const curve = await t.run(['transfer-curve', ...data, '--imbalance', '0.5', '--out', tc, '--batch-size', '20', '--t-step', '500', '--batches', '2', '--gates', 'full']);
    expect(curve.code, curve.stderr).toBe(0);
    const full = t.readJson(`${tc}.json`).curves.full;
    expect(full.classTransferMatrix).toHaveLength(100);
    expect(full.classTransferMatrix[0]).toHaveLength(100);
    for (const p of full.transferProbability) expect(p === null || (p >= 0 && p <= 1)).toBe(true);
    expect((await t.run(['ablation', ...data, '--num-samples', '150', '--results', t.file('c100-abl', 'r2'), '--out', t.file('c100-abl', 'o2')])).stderr).toMatch(/--num-samples must be a multiple of 100/);
  });

  it('errors name the file and what is wrong: a missing batch, a truncated record, a label byte out of range', async () => {
    const root = cifar10Dir('c10-bad');
    const d = path.join(root, 'cifar-10-batches-bin');
    const train = (out: string) => t.run(['train', '--out', t.file(out), ...TINY, '--dataset', 'cifar10', '--data-dir', root, '--image-size', '8']);
    fs.renameSync(path.join(d, 'data_batch_3.bin'), path.join(d, 'moved'));
    let r = await train('c10-bad-1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data_batch_3\.bin are not in .*cifar-10-batches-bin/);
    fs.writeFileSync(path.join(d, 'data_batch_3.bin'), fs.readFileSync(path.join(d, 'moved')).subarray(0, 3073 * 5 + 100));
    r = await train('c10-bad-2');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data_batch_3\.bin has 15465 bytes.*record 5 .* is truncated/);
    const bytes = new Uint8Array(fs.readFileSync(path.join(d, 'moved')));
    bytes[3073 * 2] = 10;
    fs.writeFileSync(path.join(d, 'data_batch_3.bin'), bytes);
    r = await train('c10-bad-3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data_batch_3\.bin record 2 .*label 10, outside \[0, 10\)/);
    expect(fs.existsSync(path.join(t.file('c10-bad-3'), 'run.json'))).toBe(false);
  });
});

describe('--dataset idx: any labelled IDX pair', () => {
  it('grayscale [N, H, W] with --num-classes 4: trains, samples and evaluates; the config says 4 classes, 1 channel', async () => {
    const dir = idxDir('idx-gray');
    const run = t.file('idx-gray-run');
    const r = await t.run(['train', '--out', run, '--recipe', 'h2t+resample', ...TINY, '--dataset', 'idx', '--data-dir', dir, '--num-classes', '4', '--image-size', '12']);
    expect(r.code, r.stderr).toBe(0);
    const cfg = t.readJson(path.join(run, 'run.json')).config;
    expect([cfg.data.numClasses, cfg.data.channels, cfg.model.numClasses, cfg.model.inChannels]).toEqual([4, undefined, 4, undefined]);
    const prefix = path.join(run, 's');
    expect((await t.run(['sample', '--run', run, '--out', prefix, '--num', '20', '--steps', '2'])).code).toBe(0);
    expect(shapeOf(prefix)).toEqual([20, 1, 12, 12]);
    const e = await t.run(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained', '--no-baselines']);
    expect(e.code, e.stderr).toBe(0);
    expect(t.readJson(`${prefix}.metrics.json`).metrics.n_reference).toBe(12);
  });

  it('RGB [N, 3, H, W] images train a 3-channel UNet; 10 classes by default', async () => {
    const dir = idxDir('idx-rgb', { channels: 3, classes: 10, perClass: 3, size: 8, prefix: 'rgb' });
    expect(dataConfigFrom(flags({ dataset: 'idx', 'data-dir': dir, 'image-size': 8 }))).toMatchObject({ dataset: 'idx', channels: 3 });
    const run = t.file('idx-rgb-run');
    const r = await t.run(['train', '--out', run, ...TINY, '--dataset', 'idx', '--data-dir', dir, '--image-size', '8', '--model', 'unet', '--channels', '8']);
    expect(r.code, r.stderr).toBe(0);
    expect(t.readJson(path.join(run, 'run.json')).config.model.inChannels).toBe(3);
  });

  it('refuses, naming the flag or the file and its field: no --data-dir, no labels file, two candidates, float labels, a count mismatch, a label beyond --num-classes, 2-channel images', async () => {
    const base = (dir: string, extra: string[] = []) => ['train', '--out', t.file('idx-err', String(Math.random()).slice(2)), ...TINY, '--dataset', 'idx', '--data-dir', dir, '--image-size', '12', ...extra];
    let r = await t.run(['train', '--out', t.file('idx-err', 'a'), '--dataset', 'idx']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, 'oclt train: --dataset idx needs --data-dir <directory of the IDX files>']);
    r = await t.run(['train', '--out', t.file('idx-err', 'b'), '--num-classes', '5', '--dataset', 'synthetic']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--num-classes only applies to --dataset idx/);
    r = await t.run(['train', '--out', t.file('idx-err', 'c'), '--image-size', '32', '--dataset', 'synthetic']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--image-size must be in 8\.\.28/);

    const noLabels = idxDir('idx-nolabels');
    fs.rmSync(path.join(noLabels, 'kmnist-train-labels.idx1-ubyte'));
    r = await t.run(base(noLabels, ['--num-classes', '4']));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--data-dir .*idx-nolabels has no train labels IDX file/);

    const two = idxDir('idx-two');
    fs.copyFileSync(path.join(two, 'kmnist-train-labels.idx1-ubyte'), path.join(two, 'other-train-labels.idx1-ubyte'));
    r = await t.run(base(two, ['--num-classes', '4']));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/more than one train labels IDX file \(kmnist-train-labels\.idx1-ubyte, other-train-labels\.idx1-ubyte\)/);

    const float = idxDir('idx-float');
    const n = 24;
    const f32 = new Uint8Array(n * 4);
    writeIdxFile(path.join(float, 'kmnist-train-labels.idx1-ubyte'), 0x0d, [n], f32);
    r = await t.run(base(float, ['--num-classes', '4']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kmnist-train-labels\.idx1-ubyte: type: labels must be integers/);

    const count = idxDir('idx-count');
    writeIdxFile(path.join(count, 'kmnist-train-labels.idx1-ubyte'), 0x08, [n - 1], Array.from({ length: n - 1 }, (_, i) => i % 4));
    r = await t.run(base(count, ['--num-classes', '4']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kmnist-train-labels\.idx1-ubyte: count: 23 labels for the 24 images of .*kmnist-train-images/);

    const range = idxDir('idx-range', { classes: 5 });
    r = await t.run(base(range, ['--num-classes', '4']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kmnist-train-labels\.idx1-ubyte: label: label 4 of row 4 is outside 0\.\.3/);

    const twoChannels = idxDir('idx-2ch', { channels: 2 });
    r = await t.run(base(twoChannels, ['--num-classes', '4']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kmnist-train-images\.idx4-ubyte\.gz: dims: images must be \[N, height, width\] .*got dims \[24,2,12,12\]/);
  });
});

describe('the help of the data flags', () => {
  it('names the data sets, --num-classes and, for the sampling commands, --clip-x0', () => {
    for (const name of ['train', 'eval', 'ablation']) {
      expect(COMMANDS[name]!.help).toContain('--dataset <fashion-mnist|cifar10|cifar100|idx|synthetic>');
      expect(COMMANDS[name]!.help).toContain('--num-classes <integer>');
    }
    for (const name of ['sample', 'ablation']) expect(COMMANDS[name]!.help).toContain('--clip-x0 <none|1>');
  });
});
