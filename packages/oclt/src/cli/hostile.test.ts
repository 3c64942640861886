import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { fromTypedArray } from '@oclt/tensor';
import { encodeSafetensors } from '@oclt/autograd';
import { checkpointStore } from '@oclt/diffusion/node';
import { cliTestSetup, writeIdxFile } from '../test-helpers.js';

/**
 * A fuzz suite of hostile flags, data files, checkpoints and diverging runs: each must end with a clear error
 * (usage errors: exit 2 naming the flag, before anything is written; bad files: exit 1 naming the file), never a
 * silently wrong result or a lost run.
 */
const SYNTH = ['--dataset', 'synthetic', '--image-size', '8'];
const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '8', '--grid-samples', '0'];

const t = cliTestSetup('hostile');
const { run, readJson } = t;

const writeIdx = writeIdxFile;

/** A Fashion-MNIST-format directory with `perClass` images of every class, `size` x `size` pixels. */
function idxDir(name: string, size: number, perClass = 12): string {
  const d = t.file(name);
  fs.mkdirSync(d, { recursive: true });
  for (const [prefix, n] of [['train', perClass * 10], ['t10k', 4 * 10]] as const) {
    const labels = Array.from({ length: n }, (_, i) => i % 10);
    // Class c: a bright row at height c * size / 10 on a dark background.
    const px = new Uint8Array(n * size * size);
    labels.forEach((c, i) => {
      const y = Math.floor((c * size) / 10);
      for (let x = 0; x < size; x++) px[i * size * size + y * size + x] = 200 + (i % 50);
    });
    writeIdx(path.join(d, `${prefix}-images-idx3-ubyte.gz`), 0x08, [n, size, size], px, true);
    writeIdx(path.join(d, `${prefix}-labels-idx1-ubyte`), 0x08, [n], labels);
  }
  return d;
}

describe('hostile flags: exit 2 naming the flag, nothing written', () => {
  const file = () => {
    const f = t.file('a-file');
    fs.writeFileSync(f, 'x');
    return f;
  };
  // [command and flags (--out is added for train), the flag the message must name]
  const cases: [string[], string][] = [
    [['train', '--batch-size', '-4'], '--batch-size'],
    [['train', '--batch-size', '1000000'], '--batch-size'],
    [['train', '--data-dir', '/nonexistent'], '--data-dir'],
    [['train', '--data-dir', '<file>'], '--data-dir'],
    [['train', '--grid-samples', '7'], '--grid-samples'],
    [['train', '--grid-samples', '-1'], '--grid-samples'],
    [['train', '--sample-steps', '0'], '--sample-steps'],
    [['train', '--sample-steps', '1001'], '--sample-steps'],
    [['train', '--checkpoint-every', '0'], '--checkpoint-every'],
    [['train', '--checkpoint-every', '-1'], '--checkpoint-every'],
    [['train', '--layers', '-1'], '--layers'],
    [['train', '--hidden', '0'], '--hidden'],
    [['train', '--steps', '0x10'], '--steps'],
    [['train', '--steps', '1e3'], '--steps'],
    [['train', '--steps', '12.0'], '--steps'],
    [['train', '--steps', '0'], '--steps'],
    [['train', '--steps', '99999999999999999999'], '--steps'],
    [['train', '--steps', ' 5'], '--steps'],
    [['train', '--steps', '3', '--steps', '4'], '--steps'],
    [['train', '--warmup', '-1'], '--warmup'],
    [['train', '--lr', '0'], '--lr'],
    [['train', '--lr', '-1e-3'], '--lr'],
    [['train', '--lr', 'Infinity'], '--lr'],
    [['train', '--lr', 'NaN'], '--lr'],
    [['train', '--lr', '0x10'], '--lr'],
    [['train', '--lr', '1e400'], '--lr'],
    [['train', '--ema-decay', '1.5'], '--ema-decay'],
    [['train', '--label-drop', '-0.1'], '--label-drop'],
    [['train', '--imbalance', '0'], '--imbalance'],
    [['train', '--imbalance', '2'], '--imbalance'],
    [['train', '--image-size', '7'], '--image-size'],
    [['train', '--image-size', '29'], '--image-size'],
    [['train', '--model', 'unet', '--channels', '3'], '--channels'],
    [['train', '--model', 'unet', '--channels', '9'], '--channels'],
    [['train', '--model', 'unet', '--image-size', '9'], '--image-size'],
    [['train', '--model', 'transformer'], '--model'],
    [['train', '--recipe', 'magic'], '--recipe'],
    [['train', '--recipe', 't2h+cut=abc'], '--recipe'],
    [['train', '--resume=yes'], '--resume'],
    [['train', '--constructor', '1'], '--constructor'],
    [['train', '--__proto__', '1'], '--__proto__'],
    [['train', '--out='], '--out'],
    [['train', '--out', '<file>'], '--out'],
    [['train', '--out', '--steps', '3'], '--out'],
    [['train', '--out'], '--out'],
    [['train', '--clip-x0', '2'], '--clip-x0'],
    [['train', '--scheduler', 'euler'], '--scheduler'],
    [['sample', '--run', '/nonexistent'], '--run'],
    [['sample', '--run', '<dir>', '--steps', '0'], '--steps'],
    [['sample', '--run', '<dir>', '--num', '0'], '--num'],
    [['sample', '--run='], '--run'],
    [['eval', '--samples', '/nonexistent.safetensors'], '--samples'],
    [['eval', '--samples', '<dir>'], '--samples'],
    [['eval', '--samples', 'x', '--image-size', '5'], '--image-size'],
    [['transfer-curve', '--out', '<dir>/tc', '--t-step', '0'], '--t-step'],
    [['transfer-curve', '--out', '<dir>/tc', '--batch-size', '1'], '--batch-size'],
    [['ablation', '--out', '<dir>/abl', '--num-samples', '15'], '--num-samples'],
    [['ablation', '--out', '<dir>/abl', '--checkpoint-every', '0'], '--checkpoint-every'],
    [['ablation', '--out', '<dir>/abl', '--results', ''], '--results'],
    [['ablation', '--out', '<dir>/abl', '--results', '<dir>/res', '--methods', 'U-nothing'], '--methods'],
    [['ablation', '--out', '<dir>/abl', '--results', '<dir>/res', '--methods', ','], '--methods'],
    [['study', 'plan', '--design', '<file>', '--max-tier', '0'], '--max-tier'],
  ];

  it.each(cases)('%j names %s', async (argv, flag) => {
    const out = t.file('flags', crypto.randomBytes(4).toString('hex'));
    const subst = argv.map((a) => a.replace('<file>', file()).replace('<dir>', out));
    const train = subst[0] === 'train';
    const withOut = train && !subst.some((a) => a.startsWith('--out')) ? [...subst, '--out', out] : subst;
    const data = !train ? [] : subst.includes('--image-size') ? ['--dataset', 'synthetic'] : SYNTH;
    const { code, stderr } = await run([...withOut, ...data]);
    expect(code).toBe(2);
    const first = stderr.split('\n')[0]!;
    expect(first).toMatch(new RegExp(`^oclt ${subst[0]}( [a-z-]+)?: `)); // a subcommand names itself: 'oclt study plan: '
    expect(first).not.toMatch(new RegExp(`^oclt ${subst[0]}( [a-z-]+)?: oclt `)); // the prefix is never doubled
    expect(first).toContain(flag);
    expect(fs.existsSync(out)).toBe(false); // nothing was started
  });
});

describe('failed starts leave nothing that blocks the corrected command', () => {
  it('a data directory without the files fails (exit 1) without a run.json; the corrected command then trains', async () => {
    const out = t.file('failed-start');
    const empty = t.file('empty-data');
    fs.mkdirSync(empty);
    const bad = await run(['train', '--out', out, '--data-dir', empty, '--steps', '2', ...TINY]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^oclt train: loadFashionMnist: the train files/);
    expect(fs.existsSync(path.join(out, 'run.json'))).toBe(false);
    expect((await run(['train', '--out', out, '--steps', '2', ...TINY, ...SYNTH])).code).toBe(0);
  });

  it('a run.json left by an older failed start (no checkpoint) is replaced, not a reason to refuse', async () => {
    const out = t.file('stale');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'run.json'), JSON.stringify({ kind: 'oclt-run', config: { batchSize: -4 } }));
    const r = await run(['train', '--out', out, '--steps', '2', ...TINY, ...SYNTH]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wrote no checkpoint; replacing it/);
    expect(readJson(path.join(out, 'run.json')).config.batchSize).toBe(8);
  });
});

describe('data: other image sizes and hostile IDX files', () => {
  it('8x8 IDX images train (resized to --image-size) with finite losses, MLP and UNet', async () => {
    const data = idxDir('idx8', 8);
    for (const model of [['--model', 'mlp'], ['--model', 'unet', '--channels', '8']]) {
      const out = t.file(`idx8-${model[1]}`);
      const r = await run(['train', '--out', out, '--data-dir', data, '--image-size', '12', '--steps', '3', '--imbalance', '0.5', ...TINY, ...model]);
      expect(r.code, r.stderr).toBe(0);
      const result = readJson(path.join(out, 'result.json'));
      expect(result.finalLoss).toBeTypeOf('number');
      expect(Number.isFinite(result.finalLoss)).toBe(true);
      const steps = fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'step');
      for (const s of steps) expect(s.loss).toBeTypeOf('number');
    }
  });

  // Each: how to spoil a good 8x8 directory, and what the error must say (the file and the field).
  const spoil: [string, (d: string) => void, RegExp][] = [
    ['labels count differs', (d) => writeIdx(path.join(d, 'train-labels-idx1-ubyte'), 0x08, [119], Array.from({ length: 119 }, (_, i) => i % 10)), /train-labels-idx1-ubyte: count: 119 labels for the 120 images/],
    ['a label out of range', (d) => writeIdx(path.join(d, 'train-labels-idx1-ubyte'), 0x08, [120], Array.from({ length: 120 }, (_, i) => (i === 5 ? 12 : i % 10))), /train-labels-idx1-ubyte: label: label 12 of row 5 is outside 0\.\.9/],
    ['a class missing', (d) => writeIdx(path.join(d, 'train-labels-idx1-ubyte'), 0x08, [120], Array.from({ length: 120 }, (_, i) => (i % 10 === 3 ? 4 : i % 10))), /no image of class 3 \(Dress\)/],
    ['images int32', (d) => writeIdx(path.join(d, 'train-images-idx3-ubyte.gz'), 0x0c, [1, 1, 1], [0, 0, 0, 7], true), /train-images-idx3-ubyte\.gz: type: images must be uint8/],
    ['images 2-D', (d) => writeIdx(path.join(d, 'train-images-idx3-ubyte.gz'), 0x08, [120, 64], new Uint8Array(120 * 64), true), /train-images-idx3-ubyte\.gz: dims: images must be \[N, height, width\]/],
    ['images truncated', (d) => fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(zlib.gunzipSync(fs.readFileSync(path.join(d, 'train-images-idx3-ubyte.gz'))).subarray(0, 500))), /train-images-idx3-ubyte\.gz: truncated: has 500 bytes/],
    ['images with trailing bytes', (d) => fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(Buffer.concat([zlib.gunzipSync(fs.readFileSync(path.join(d, 'train-images-idx3-ubyte.gz'))), Buffer.alloc(3)]))), /train-images-idx3-ubyte\.gz: count: .*3 bytes more/],
    ['bad magic', (d) => fs.writeFileSync(path.join(d, 'train-labels-idx1-ubyte'), Buffer.from('hello world')), /train-labels-idx1-ubyte: magic: does not start with the IDX magic/],
    ['a gzip that does not decompress', (d) => fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3])), /train-images-idx3-ubyte\.gz looks gzipped but does not decompress/],
    ['zero images', (d) => writeIdx(path.join(d, 'train-images-idx3-ubyte.gz'), 0x08, [0, 8, 8], [], true), /train-images-idx3-ubyte\.gz: dims: images must have N, height and width >= 1/],
    ['a zero-width image', (d) => writeIdx(path.join(d, 'train-images-idx3-ubyte.gz'), 0x08, [120, 8, 0], [], true), /train-images-idx3-ubyte\.gz: dims: images must have N, height and width >= 1/],
  ];

  it.each(spoil)('%s: exit 1 naming the file and the field, no run.json', async (name, damage, message) => {
    const data = idxDir(`spoiled-${name.replace(/\W+/g, '-')}`, 8);
    damage(data);
    const out = t.file(`spoiled-out-${name.replace(/\W+/g, '-')}`);
    const r = await run(['train', '--out', out, '--data-dir', data, '--image-size', '8', '--steps', '2', ...TINY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(fs.existsSync(path.join(out, 'run.json'))).toBe(false);
  });
});

describe('divergence and non-finite checkpoints through the CLI', () => {
  it('train --lr 1e30 exits 1 naming the step and the quantity; the log records it; no checkpoint holds NaN', async () => {
    const out = t.file('diverge');
    const r = await run(['train', '--out', out, '--lr', '1e30', '--warmup', '10', '--steps', '12', '--checkpoint-every', '1', ...TINY, ...SYNTH]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^oclt train: Trainer: training diverged: .* is (NaN|Infinity|-Infinity) at step \d+/);
    const events = fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ event: 'diverged' });
    expect(fs.existsSync(path.join(out, 'result.json'))).toBe(false);
    const store = checkpointStore(out);
    for (const step of store.steps()) {
      const { tensors } = (await import('@oclt/autograd')).decodeSafetensors(store.load(step).payload);
      for (const [k, t] of Object.entries(tensors)) expect(t.toTypedArray().every(Number.isFinite), k).toBe(true);
    }
    // The last kept checkpoint has finite but huge weights (lr 1e27 steps): sampling overflows and says so.
    expect(store.steps().length).toBeGreaterThan(0);
    const s = await run(['sample', '--run', out, '--num', '10', '--steps', '2']);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/^oclt sample: 10 of 10 samples from the EMA weights of step \d+ in .* hold NaN or infinite values .*no images were written/);
    expect(fs.readdirSync(out).filter((f) => f.startsWith('samples-'))).toEqual([]);
  });

  it('sample refuses a checkpoint with non-finite weights (file and tensor named); eval refuses non-finite samples', async () => {
    const out = t.file('nan-ckpt');
    expect((await run(['train', '--out', out, '--steps', '2', ...TINY, ...SYNTH])).code).toBe(0);
    const store = checkpointStore(out);
    const ckpt = store.load(store.steps().at(-1)!);
    const { decodeSafetensors } = await import('@oclt/autograd');
    const { tensors } = decodeSafetensors(ckpt.payload);
    const name = Object.keys(tensors).find((k) => k.startsWith('ema.'))!;
    const poisoned = Float32Array.from(tensors[name]!.toTypedArray());
    poisoned[0] = NaN;
    tensors[name] = fromTypedArray(poisoned, tensors[name]!.shape);
    store.save(ckpt.step + 1, encodeSafetensors(tensors), ckpt.meta);
    const r = await run(['sample', '--run', out, '--num', '10', '--steps', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ckpt-${String(ckpt.step + 1).padStart(8, '0')}.safetensors holds non-finite weights: tensor ${name}`);
    expect(fs.readdirSync(out).filter((f) => f.startsWith('samples-'))).toEqual([]);

    const samples = t.file('nan-samples.safetensors');
    const images = new Float32Array(10 * 64);
    images[70] = NaN;
    fs.writeFileSync(samples, encodeSafetensors({ images: fromTypedArray(images, [10, 1, 8, 8]) }));
    const e = await run(['eval', '--samples', samples, '--feature-net', 'random-untrained', ...SYNTH]);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/nan-samples\.safetensors: 1 of 640 image values are NaN/);
  });

  it('hostile manifests in a run: each is refused naming the file and sampling falls back to the previous checkpoint', async () => {
    const out = t.file('hostile-manifests');
    expect((await run(['train', '--out', out, '--steps', '4', '--checkpoint-every', '2', ...TINY, ...SYNTH])).code).toBe(0);
    const manifest = path.join(out, 'checkpoints', 'ckpt-00000004.json');
    const original = fs.readFileSync(manifest, 'utf8');
    const forge = (edit: (body: Record<string, unknown>) => void) => {
      const { body } = JSON.parse(original);
      edit(body);
      fs.writeFileSync(manifest, JSON.stringify({ body, bodySha256: crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex') }));
    };
    const forgeries: [string, (body: Record<string, unknown>) => void, RegExp][] = [
      ['meta without trainer', (b) => void (b.meta = { run: {} }), /ckpt-00000004\.json is corrupt: meta\.trainer is missing/],
      ['trainer without generators', (b) => void delete (b.meta as { trainer: Record<string, unknown> }).trainer.generators, /ckpt-00000004\.json is corrupt: meta\.trainer\.generators is missing/],
      ['trainer without samplerState', (b) => void delete (b.meta as { trainer: Record<string, unknown> }).trainer.samplerState, /ckpt-00000004\.json is corrupt: meta\.trainer\.samplerState is missing/],
      ['trainer without ema', (b) => void delete (b.meta as { trainer: Record<string, unknown> }).trainer.ema, /ckpt-00000004\.json is corrupt: meta\.trainer\.ema is missing or malformed/],
      ['trainer with ema "x"', (b) => void ((b.meta as { trainer: Record<string, unknown> }).trainer.ema = 'x'), /ckpt-00000004\.json is corrupt: meta\.trainer\.ema is missing or malformed/],
      ['payloadFile outside the run', (b) => void (b.payloadFile = '../../run.json'), /ckpt-00000004\.json is corrupt: payloadFile "\.\.\/\.\.\/run\.json" is not a plain file name/],
      ['payload size that lies', (b) => void (b.payloadBytes = 10), /ckpt-00000004\.safetensors is corrupt: \d+ bytes, manifest says 10/],
    ];
    for (const [what, edit, message] of forgeries) {
      forge(edit);
      vi.mocked(console.warn).mockClear();
      const r = await run(['sample', '--run', out, '--num', '10', '--steps', '2', '--out', path.join(out, 's')]);
      expect(r.code, what).toBe(0);
      const warned = vi.mocked(console.warn).mock.calls.flat().join('\n');
      expect(warned, what).toMatch(message);
      expect(readJson(path.join(out, 's.json')).config.checkpointStep, what).toBe(2);
    }
  });

  it('the final loss in result.json is the same after a resume, also one at the last step', async () => {
    const args = (out: string) => ['train', '--out', out, '--steps', '10', '--checkpoint-every', '3', ...TINY, ...SYNTH];
    const a = t.file('loss-a');
    expect((await run(args(a))).code).toBe(0);
    const straight = readJson(path.join(a, 'result.json'));
    expect(straight.finalLossSteps).toBe(2);
    const b = t.file('loss-b');
    expect((await run(args(b))).code).toBe(0);
    // As if killed after the checkpoint of step 9: resume runs step 10 only, the window holds steps 9 and 10.
    for (const f of ['ckpt-00000010.json', 'ckpt-00000010.safetensors']) fs.rmSync(path.join(b, 'checkpoints', f));
    expect((await run(args(b))).code).toBe(0);
    const resumed = readJson(path.join(b, 'result.json'));
    expect(resumed.resumedFrom).toBe(9);
    expect(resumed.finalLoss).toBe(straight.finalLoss);
    expect(resumed.lastLoss).toBe(straight.lastLoss);
    // Resumed at the last step: nothing to train, the same losses (printed, not 'undefined').
    const r = await run(args(b));
    expect(r.code).toBe(0);
    const again = readJson(path.join(b, 'result.json'));
    expect([again.resumedFrom, again.finalLoss]).toEqual([10, straight.finalLoss]);
    expect(vi.mocked(console.log).mock.calls.flat().join('\n')).not.toMatch(/final loss undefined/);
  });
});
