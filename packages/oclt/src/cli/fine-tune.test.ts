import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ocltReferenceDDIMScheduler } from '../reference-sampling.js';
import { dataConfigFrom, loadLongTailedTrain, samplingConfigFrom, samplingScheduler, type ModelConfig } from './common.js';
import { COMMANDS } from './main.js';
import { cliTestSetup } from '../test-helpers.js';

/**
 * `oclt train` beyond a plain run: fine-tuning from another run (--init-from), extending a run past its planned
 * steps, CBDM's settings, the class order of the long tail, and the DDIM x0 clip of the sampling scheduler.
 * Bit-for-bit claims are checked on the SHA-256 of the final checkpoint's payload (weights, EMA, optimizer).
 */
const SYNTH = ['--dataset', 'synthetic', '--image-size', '8'];
const TINY = ['--hidden', '16', '--layers', '1', '--batch-size', '8', '--grid-samples', '0', ...SYNTH];

const t = cliTestSetup('finetune');
const { run, readJson } = t;

const manifest = (out: string, step: number) => path.join(out, 'checkpoints', `ckpt-${String(step).padStart(8, '0')}.json`);
/** The payload SHA-256 its manifest records (checked against the file on every load). */
const payloadSha = (out: string, step: number) => readJson(manifest(out, step)).body.payloadSha256 as string;
const fileSha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('oclt train --steps raised on an existing run: an extension', () => {
  it('20 steps, then --steps 40, equal a straight 40-step run bit for bit (warmup 10: both regimes of the schedule); recorded in run.json', async () => {
    const args = (out: string, steps: number) => ['train', '--out', out, '--steps', String(steps), '--warmup', '10', '--recipe', 't2h', ...TINY];
    const straight = t.file('ext-straight');
    expect((await run(args(straight, 40))).code).toBe(0);
    const ext = t.file('ext');
    expect((await run(args(ext, 20))).code).toBe(0);
    expect(payloadSha(ext, 20)).not.toBe(payloadSha(straight, 40));
    const r = await run(args(ext, 40));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/extending the run from 20 to 40 steps/);
    expect(r.stderr).not.toMatch(/changed config|will not match/);
    expect(payloadSha(ext, 40)).toBe(payloadSha(straight, 40));
    expect(readJson(manifest(ext, 40)).body.meta.trainer).toEqual(readJson(manifest(straight, 40)).body.meta.trainer);
    const [a, b] = [readJson(path.join(straight, 'result.json')), readJson(path.join(ext, 'result.json'))];
    expect([b.steps, b.resumedFrom, b.finalLoss, b.lastLoss]).toEqual([40, 20, a.finalLoss, a.lastLoss]);
    const desc = readJson(path.join(ext, 'run.json'));
    expect(desc.config.steps).toBe(40);
    expect(desc.provenance.config.steps).toBe(20); // how it was started
    expect(desc.extensions).toMatchObject([{ fromSteps: 20, toSteps: 40, atStep: 20 }]);
    expect(b.extensions).toEqual(desc.extensions);

    // The same command again: nothing to do, no new extension.
    expect((await run(args(ext, 40))).code).toBe(0);
    expect(readJson(path.join(ext, 'run.json')).extensions).toHaveLength(1);
    // Lowering --steps is refused; so is any other change, also together with a higher --steps.
    const lower = await run(args(ext, 30));
    expect(lower.code).toBe(1);
    expect(lower.stderr).toMatch(/planned for 40 steps .*can be raised to extend it, not lowered to 30/);
    const other = await run([...args(ext, 60), '--lr', '0.5']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/holds a run with a different config/);
    expect(readJson(path.join(ext, 'run.json')).config.steps).toBe(40);
  });

  it('a partial run (interrupted before its planned end) can be extended too, and the result still equals the straight run', async () => {
    const args = (out: string, steps: number) => ['train', '--out', out, '--steps', String(steps), '--warmup', '10', '--checkpoint-every', '6', ...TINY];
    const straight = t.file('ext2-straight');
    expect((await run(args(straight, 24))).code).toBe(0);
    const ext = t.file('ext2');
    expect((await run(args(ext, 16))).code).toBe(0);
    // As if killed after the checkpoint of step 12.
    for (const f of ['ckpt-00000016.json', 'ckpt-00000016.safetensors']) fs.rmSync(path.join(ext, 'checkpoints', f));
    expect((await run(args(ext, 24))).code).toBe(0);
    expect(readJson(path.join(ext, 'result.json')).resumedFrom).toBe(12);
    expect(readJson(path.join(ext, 'run.json')).extensions).toMatchObject([{ fromSteps: 16, toSteps: 24, atStep: 12 }]);
    expect(payloadSha(ext, 24)).toBe(payloadSha(straight, 24));
  });
});

describe('oclt train --init-from (fine-tuning)', () => {
  const source = () => t.file('ft-source');
  const ensureSource = async () => {
    if (!fs.existsSync(path.join(source(), 'result.json'))) expect((await run(['train', '--out', source(), '--steps', '12', '--checkpoint-every', '4', ...TINY])).code).toBe(0);
  };
  const fineTune = (out: string, extra: string[] = []) => ['train', '--out', out, '--init-from', source(), '--recipe', 't2h+resample', '--steps', '9', '--checkpoint-every', '3', '--warmup', '0', '--seed', '5', ...TINY, ...extra];

  it('records the source, its step and payload SHA-256 in run.json and result.json; a fine-tune killed and resumed equals an uninterrupted one', async () => {
    await ensureSource();
    const a = t.file('ft-a');
    const r = await run(fineTune(a));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/starting from .*ckpt-00000012\.json \(step 12, its EMA weights, a fresh optimizer\)/);
    const desc = readJson(path.join(a, 'run.json'));
    expect(desc.config.initFrom).toEqual({ source: path.resolve(source()), weights: 'ema', optimizer: false });
    expect(desc.initFrom).toMatchObject({ source: path.resolve(source()), weights: 'ema', optimizer: false, step: 12, manifestPath: manifest(source(), 12), payloadSha256: payloadSha(source(), 12) });
    expect(desc.initFrom.payloadSha256).toBe(fileSha(path.join(source(), 'checkpoints', 'ckpt-00000012.safetensors')));
    expect(readJson(path.join(a, 'result.json')).initFrom).toEqual(desc.initFrom);
    expect(readJson(manifest(a, 9)).body.meta.run.initFrom).toEqual({ manifestPath: desc.initFrom.manifestPath, step: 12, payloadSha256: desc.initFrom.payloadSha256 });

    const b = t.file('ft-b');
    expect((await run(fineTune(b))).code).toBe(0);
    // As if killed after the checkpoint of step 6; meanwhile the source run is extended (its newest checkpoint
    // changes): the fine-tune resumes from its own checkpoint, its record still names step 12.
    for (const f of ['ckpt-00000009.json', 'ckpt-00000009.safetensors']) fs.rmSync(path.join(b, 'checkpoints', f));
    expect((await run(['train', '--out', source(), '--steps', '16', '--checkpoint-every', '4', ...TINY])).code).toBe(0);
    const resumed = await run(fineTune(b));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readJson(path.join(b, 'result.json')).resumedFrom).toBe(6);
    expect(readJson(path.join(b, 'run.json')).initFrom.step).toBe(12);
    expect(payloadSha(b, 9)).toBe(payloadSha(a, 9));
  });

  it('the model starts from the source: --model-seed no longer matters, and a run from scratch differs', async () => {
    await ensureSource();
    const pinned = manifest(source(), 12);
    const args = (out: string, extra: string[]) => ['train', '--out', out, '--recipe', 't2h', '--steps', '3', '--warmup', '0', ...TINY, ...extra];
    const seeds = [];
    for (const seed of ['0', '7']) {
      const out = t.file(`ft-seed-${seed}`);
      expect((await run(args(out, ['--init-from', pinned, '--model-seed', seed]))).code).toBe(0);
      seeds.push(payloadSha(out, 3));
    }
    expect(seeds[1]).toBe(seeds[0]);
    const scratch = t.file('ft-scratch');
    expect((await run(args(scratch, []))).code).toBe(0);
    expect(payloadSha(scratch, 3)).not.toBe(seeds[0]);
    // Raw weights and the optimizer state: another start, recorded as such.
    const raw = t.file('ft-raw');
    expect((await run(args(raw, ['--init-from', pinned, '--init-weights', 'model', '--init-optimizer']))).code).toBe(0);
    expect(readJson(path.join(raw, 'run.json')).initFrom).toMatchObject({ weights: 'model', optimizer: true, step: 12, manifestPath: pinned });
    expect(payloadSha(raw, 3)).not.toBe(seeds[0]);
  });

  it('refuses another architecture (exit 1) naming the tensor and both shapes, writing no run.json', async () => {
    await ensureSource();
    const wide = t.file('ft-wide');
    const r = await run(['train', '--out', wide, '--init-from', source(), '--steps', '2', ...TINY.map((a) => (a === '16' ? '32' : a))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^oclt train: initTrainerFrom: .*ckpt-\d+\.json does not fit this model .*tensor model\.\S+: checkpoint \[16(, \d+)*\], model \[32(, \d+)*\]/);
    expect(fs.existsSync(path.join(wide, 'run.json'))).toBe(false);
    const uncond = t.file('ft-uncond');
    const u = await run(['train', '--out', uncond, '--init-from', source(), '--recipe', 'h2t+uncond', '--steps', '2', ...TINY]);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/does not fit this model .*: checkpoint \[[\d, ]+\], model absent/);
    expect(fs.existsSync(path.join(uncond, 'run.json'))).toBe(false);
  });
});

describe('oclt train: CBDM settings and the class order', () => {
  const base = (out: string, recipe: string, extra: string[] = []) => ['train', '--out', out, '--recipe', recipe, '--steps', '4', ...TINY, ...extra];

  it('--cbdm-tau 0 trains the baseline bit for bit; tau, gamma and the y\' distribution change the run and are recorded', async () => {
    const shas: Record<string, string> = {};
    const cases: [string, string, string[]][] = [
      ['baseline', 'baseline', []],
      ['tau0', 'cbdm', ['--cbdm-tau', '0']],
      ['default', 'cbdm', []],
      ['tau05', 'cbdm', ['--cbdm-tau', '0.5']],
      ['gamma1', 'cbdm', ['--cbdm-gamma', '1']],
      ['uniform', 'cbdm', ['--cbdm-labels', 'uniform']],
    ];
    for (const [name, recipe, extra] of cases) {
      const out = t.file(`cbdm-${name}`);
      const r = await run(base(out, recipe, extra));
      expect(r.code, r.stderr).toBe(0);
      shas[name] = payloadSha(out, 4);
    }
    expect(shas.tau0).toBe(shas.baseline);
    expect(new Set(Object.values(shas)).size).toBe(cases.length - 1);
    expect(readJson(t.file('cbdm-default', 'run.json')).config.cbdm).toEqual({ tau: 1, gamma: 0.25, labels: 'train' });
    expect(readJson(t.file('cbdm-uniform', 'run.json')).config.cbdm).toEqual({ tau: 1, gamma: 0.25, labels: 'uniform' });
    expect(readJson(t.file('cbdm-baseline', 'run.json')).config.cbdm).toBeUndefined();
  });

  it('a CBDM run written before the flags existed (no cbdm in run.json) resumes as the same config', async () => {
    const out = t.file('cbdm-old');
    expect((await run(base(out, 'cbdm'))).code).toBe(0);
    const file = path.join(out, 'run.json');
    const desc = readJson(file);
    delete desc.config.cbdm;
    fs.writeFileSync(file, JSON.stringify(desc));
    const again = await run(base(out, 'cbdm'));
    expect(again.code, again.stderr).toBe(0);
    expect(readJson(path.join(out, 'result.json')).resumedFrom).toBe(4);
    expect((await run(base(out, 'cbdm', ['--cbdm-tau', '0.5']))).code).toBe(1); // another tau is another run
  });

  it('--class-order picks which class is the head; recorded in run.json (the identity is the default, not recorded)', async () => {
    const data = (order: string) => loadLongTailedTrain(dataConfigFrom({ dataset: 'synthetic', 'data-dir': '', 'image-size': 8, imbalance: 0.01, 'lt-seed': 0, 'class-order': order }));
    const plain = data('').classCounts;
    expect(plain[0]).toBeGreaterThan(plain[9]!);
    const reversed = data('9,8,7,6,5,4,3,2,1,0').classCounts;
    expect(reversed).toEqual([...plain].reverse());
    const shifted = data('5,6,7,8,9,0,1,2,3,4');
    expect(shifted.classCounts[5]).toBe(plain[0]);
    expect(shifted.classCounts[4]).toBe(plain[9]);
    expect(shifted.groups.head).toContain(5);
    expect(shifted.groups.tail).toContain(4);
    expect(dataConfigFrom({ dataset: 'synthetic', 'data-dir': '', 'image-size': 8, imbalance: 0.01, 'lt-seed': 0, 'class-order': '0,1,2,3,4,5,6,7,8,9' }).classOrder).toBeUndefined();

    const out = t.file('class-order');
    expect((await run(base(out, 't2h', ['--class-order', '5,6,7,8,9,0,1,2,3,4']))).code).toBe(0);
    expect(readJson(path.join(out, 'run.json')).config.data.classOrder).toEqual([5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    const other = t.file('class-order-default');
    expect((await run(base(other, 't2h'))).code).toBe(0);
    expect(readJson(path.join(other, 'run.json')).config.data.classOrder).toBeUndefined();
    expect(payloadSha(out, 4)).not.toBe(payloadSha(other, 4));
  });
});

describe('the flags of this file: usage errors (exit 2) naming the flag, nothing written', () => {
  const cases: [string[], string][] = [
    [['--init-from', '/nonexistent/run'], '--init-from'],
    [['--init-optimizer'], '--init-optimizer'],
    [['--init-weights', 'model'], '--init-weights'],
    [['--init-weights', 'raw', '--init-from', '<src>'], '--init-weights'],
    [['--init-from', '<out>'], '--init-from'],
    [['--recipe', 't2h', '--cbdm-tau', '0.5'], '--cbdm-tau'],
    [['--recipe', 'baseline', '--cbdm-labels', 'uniform'], '--cbdm-labels'],
    [['--recipe', 'cbdm', '--cbdm-tau', '-1'], '--cbdm-tau'],
    [['--recipe', 'cbdm', '--cbdm-gamma', 'NaN'], '--cbdm-gamma'],
    [['--recipe', 'cbdm', '--cbdm-labels', 'frequencies'], '--cbdm-labels'],
    [['--class-order', '0,1,2'], '--class-order'],
    [['--class-order', '0,0,1,2,3,4,5,6,7,8'], '--class-order'],
    [['--class-order', '0,1,2,3,4,5,6,7,8,10'], '--class-order'],
    [['--class-order', 'a,b,c,d,e,f,g,h,i,j'], '--class-order'],
    [['--class-order', '-1,0,1,2,3,4,5,6,7,8'], '--class-order'],
  ];
  it.each(cases)('%j names %s', async (flags, flag) => {
    const out = t.file('usage', crypto.randomBytes(4).toString('hex'));
    const src = t.file('usage-src');
    fs.mkdirSync(src, { recursive: true });
    const argv = ['train', '--out', out, ...flags.map((a) => a.replace('<src>', src).replace('<out>', out)), ...SYNTH];
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    const first = stderr.split('\n')[0]!;
    expect(first).toMatch(/^oclt train: /);
    expect(first).toContain(flag);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('the help names the new flags and +cut-full', () => {
    const help = COMMANDS.train!.help;
    for (const s of ['--init-from', '--init-weights <ema|model>', '--init-optimizer', '--cbdm-tau', '--cbdm-gamma', '--cbdm-labels <train|uniform>', '--class-order', '+cut-full', 'extends the run']) expect(help).toContain(s);
  });
});

describe('the sampling scheduler of the CLI', () => {
  const model: ModelConfig = { kind: 'mlp', imageSize: 8, hidden: 16, layers: 1, channels: 16, numClasses: 10, seed: 0, prediction: 'epsilon' };
  it("defaults to OC_LT's reference sampler (no x0 clip, abar_0 after the last step, leading spacing); --clip-x0 1 clips", () => {
    const ref = ocltReferenceDDIMScheduler('epsilon');
    const d = samplingScheduler(model);
    expect([d.clipSample, d.finalAlphaCumprod, d.timestepSpacing, d.eta]).toEqual([ref.clipSample, ref.finalAlphaCumprod, ref.timestepSpacing, ref.eta]);
    expect(d.clipSample).toBeNull();
    expect(d.finalAlphaCumprod).toBeLessThan(1);
    expect(d.setTimesteps(100).timesteps).toEqual(ref.timesteps);
    expect(samplingScheduler(model, samplingConfigFrom({ 'clip-x0': 'none' })).clipSample).toBeNull();
    const clipped = samplingScheduler(model, samplingConfigFrom({ 'clip-x0': '1' }));
    expect(clipped.clipSample).toBe(1);
    expect(clipped.finalAlphaCumprod).toBe(d.finalAlphaCumprod);
    expect(() => samplingConfigFrom({ 'clip-x0': '2' })).toThrow(/--clip-x0 must be 'none' or '1'/);
  });
});
