/**
 * `oclt study` end to end on the synthetic data set at toy sizes: plan / unit / run / report, resume after a
 * kill (a stale lock), a lock held elsewhere, and two processes sharing one study without clobbering each other
 * (every unit run once, results identical to a one-process run).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

const ROOT = path.resolve(__dirname, '../../../..');
const DESIGN = {
  kind: 'oclt-study-design',
  name: 'tiny',
  data: { dataset: 'synthetic', imageSize: 8, imbalance: 0.1, ltSeed: 0 },
  model: { kind: 'mlp', hidden: 16, layers: 1, channels: 16, seed: 0, prediction: 'epsilon' },
  train: { batchSize: 10, lr: 0.001, warmup: 2, emaDecay: 0.9, labelDrop: 0.1, checkpointEvery: 2 },
  protocol: { kind: 'fine-tune', pretrainSteps: 4, pretrainSeed: 0, curveEvery: 2, curveSamples: 20, steps: 2, warmup: 0, weights: 'ema' },
  seeds: [1, 2],
  sampling: { numSamples: 20, steps: 2, guidance: 1.5, sweep: { weights: [0, 1.5], numSamples: 20, steps: 2 } },
  featureNet: 'random-untrained',
  arms: [
    { id: 'C-base', recipe: 'baseline' },
    { id: 'C-T2H', recipe: 't2h+resample' },
    { id: 'U-base', recipe: 'baseline+uncond' },
    { id: 'U-H2T', recipe: 'h2t+uncond', tier: 2 },
  ],
  compare: { baseline: { conditional: 'C-base', unconditional: 'U-base' } },
};

let dir = '';
let designFile = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-study-'));
  designFile = path.join(dir, 'design.json');
  fs.writeFileSync(designFile, JSON.stringify(DESIGN));
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const unitJson = (out: string, id: string) => readJson(path.join(out, 'units', id, 'unit.json'));
const logged = () => vi.mocked(console.error).mock.calls.flat().join('\n');
const printed = () => vi.mocked(console.log).mock.calls.flat().join('\n');

/** `oclt study ...` in a child process (as a runner would start it); resolves with its exit code and stderr. */
function child(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(ROOT, 'packages/oclt/src/cli/main.ts'), 'study', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe('oclt study', () => {
  it('plans, runs unit by unit (refusing one whose pre-training is not done), resumes after a kill, reports', async () => {
    const out = path.join(dir, 'a');
    const args = ['--design', designFile, '--out', out, '--results', path.join(dir, 'res-a')];
    expect(await main(['study', 'plan', ...args, '--max-tier', '1'])).toBe(0);
    const plan = printed().split('\n').filter((l) => l.startsWith('oclt study unit'));
    expect(plan.map((l) => l.split('--unit ')[1])).toEqual([
      'baselines',
      'pretrain-C',
      'pretrain-U',
      'C-base@1  # waiting for pretrain-C',
      'C-T2H@1  # waiting for pretrain-C',
      'U-base@1  # waiting for pretrain-U',
      'C-base@2  # waiting for pretrain-C',
      'C-T2H@2  # waiting for pretrain-C',
      'U-base@2  # waiting for pretrain-U',
    ]);
    vi.mocked(console.error).mockClear();
    expect(await main(['study', 'unit', ...args, '--unit', 'C-base@1'])).toBe(1);
    expect(logged()).toMatch(/unit C-base@1 needs pretrain-C to be done first/);
    expect(await main(['study', 'unit', ...args, '--unit', 'nope@1'])).toBe(2);

    // Each printed command runs as written (minus the leading 'oclt').
    expect(await main(plan[1]!.split(' ').slice(1))).toBe(0);
    const pre = unitJson(out, 'pretrain-C');
    expect(pre.status).toBe('done');
    expect(pre.curve.map((p: { step: number }) => p.step)).toEqual([2, 4]);
    expect(fs.existsSync(path.join(out, 'units', 'pretrain-C', 'lock'))).toBe(false);

    // A unit killed while running leaves a lock of a dead process: it is stale, taken over, and the unit resumes.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const lock = path.join(out, 'units', 'C-base@1', 'lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, JSON.stringify({ host: os.hostname(), pid: dead, started: new Date().toISOString() }));
    expect(await main(['study', 'unit', ...args, '--unit', 'C-base@1'])).toBe(0);
    const u = unitJson(out, 'C-base@1');
    expect(u.status).toBe('done');
    expect(u.sweep.map((p: { guidance: number }) => p.guidance)).toEqual([0, 1.5]);
    const run = readJson(path.join(out, 'units', 'C-base@1', 'run', 'run.json'));
    expect(run.initFrom.step).toBe(4);
    expect(run.initFrom.manifestPath).toMatch(/pretrain-C\/run\/checkpoints\/ckpt-00000004\.json$/);

    // A lock held on another host is respected: the unit is not run, and plan shows it running.
    const other = path.join(out, 'units', 'C-T2H@1', 'lock');
    fs.mkdirSync(path.dirname(other), { recursive: true });
    fs.writeFileSync(other, JSON.stringify({ host: 'another-host', pid: 1, started: new Date().toISOString() }));
    vi.mocked(console.error).mockClear();
    expect(await main(['study', 'unit', ...args, '--unit', 'C-T2H@1'])).toBe(1);
    expect(logged()).toMatch(/unit C-T2H@1 is being run by another process/);
    vi.mocked(console.log).mockClear();
    expect(await main(['study', 'plan', ...args])).toBe(0);
    expect(printed()).toMatch(/--unit C-T2H@1 {2}# running/);
    fs.rmSync(other);

    // A changed sampling setting is refused for a study that has results, naming the file.
    const changed = path.join(dir, 'changed.json');
    fs.writeFileSync(changed, JSON.stringify({ ...DESIGN, sampling: { ...DESIGN.sampling, numSamples: 30 } }));
    vi.mocked(console.error).mockClear();
    expect(await main(['study', 'run', '--design', changed, '--out', out])).toBe(1);
    expect(logged()).toMatch(/holds a study made with other data\/sampling\/metrics settings/);

    expect(await main(['study', 'run', ...args, '--max-tier', '1'])).toBe(0);
    const md = fs.readFileSync(path.join(dir, 'res-a.md'), 'utf8');
    expect(md).toContain('9 of 9 units done');
    expect(md).toMatch(/\| C-T2H \| C-base \(baseline\) \| 2 \|/);
  }, 120_000);

  it('fid-n: FID of disjoint class-balanced sets at each N on one finished arm, drawing extra samples from its checkpoint once', async () => {
    const out = path.join(dir, 'a'); // C-base@1 finished above (20 samples, 2 per class)
    const args = ['--design', designFile, '--out', out, '--results', path.join(dir, 'res-a')];
    expect(await main(['study', 'fid-n', ...args, '--unit', 'C-base@1', '--n', '10,20,40'])).toBe(0);
    const r = readJson(path.join(dir, 'res-a-fid-n-C-base-seed1.json'));
    expect(r.totalSamples).toBe(40);
    expect(r.rows.map((x: { n: number; sets: number }) => [x.n, x.sets])).toEqual([[10, 4], [20, 2], [40, 1]]);
    // The first N = 20 set is the unit's own samples, so its FID is the one the unit recorded.
    expect(r.rows[1].fid[0]).toBeCloseTo(unitJson(out, 'C-base@1').evaluation.fid, 9);
    expect(r.rows[0].fidSummary.n).toBe(4);
    expect(fs.existsSync(path.join(out, 'units', 'C-base@1', 'fid-n-extra.safetensors'))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'res-a-fid-n-C-base-seed1.md'), 'utf8')).toMatch(/\| 10 \| 4 \| [0-9.]+ \| [0-9.]+ \|/);
    // A rerun reuses the extra samples: the same numbers.
    expect(await main(['study', 'fid-n', ...args, '--unit', 'C-base@1', '--n', '10,20,40'])).toBe(0);
    expect(readJson(path.join(dir, 'res-a-fid-n-C-base-seed1.json')).rows).toEqual(r.rows);
    // Bad input is refused before any work, naming the flag.
    vi.mocked(console.error).mockClear();
    expect(await main(['study', 'fid-n', ...args, '--unit', 'C-base@1', '--n', '15'])).toBe(2);
    expect(logged()).toMatch(/--n 15 is not a multiple of the 10 classes/);
    expect(await main(['study', 'fid-n', ...args, '--unit', 'pretrain-C'])).toBe(2);
    expect(logged()).toMatch(/--unit must be an arm unit/);
  }, 120_000);

  it('a CORAL arm fine-tunes from the plain pre-training (its head fresh); every UNet arm records the bottleneck separation, backfilled for units finished without it', async () => {
    const unet = {
      ...DESIGN,
      name: 'tiny-unet',
      model: { kind: 'unet', hidden: 16, layers: 1, channels: 8, seed: 0, prediction: 'epsilon' },
      seeds: [1],
      sampling: { numSamples: 20, steps: 2, guidance: 1.5 },
      arms: [
        { id: 'C-base', recipe: 'baseline' },
        { id: 'C-CORAL', recipe: 'coral' },
      ],
      compare: { baseline: { conditional: 'C-base' } },
    };
    const file = path.join(dir, 'unet.json');
    fs.writeFileSync(file, JSON.stringify(unet));
    const out = path.join(dir, 'u');
    const args = ['study', 'run', '--design', file, '--out', out, '--results', path.join(dir, 'res-u')];
    expect(await main(args)).toBe(0);
    const coralRun = readJson(path.join(out, 'units', 'C-CORAL@1', 'run', 'run.json'));
    expect(coralRun.initFrom).toMatchObject({ step: 4, freshTensors: ['coral_head.proj.weight', 'coral_head.proj.bias'] });
    const sep = unitJson(out, 'C-CORAL@1').separation;
    // Two timesteps x {labels fed, null label}, a finite positive ratio for each group of classes.
    expect(sep.map((r: { timestep: number; labels: string }) => `${r.timestep}/${r.labels}`)).toEqual(['100/fed', '100/null', '500/fed', '500/null']);
    for (const r of sep) {
      expect(Object.keys(r.ratio).sort()).toEqual(['head', 'medium', 'tail']);
      for (const v of Object.values(r.ratio) as number[]) expect(v > 0 && Number.isFinite(v)).toBe(true);
    }
    // The fed labels enter the representation: it is not the null-label one.
    expect(sep[0].ratio).not.toEqual(sep[1].ratio);
    // A unit finished before the diagnostic existed gets it on the next run, with the same values (fixed inputs).
    const baseFile = path.join(out, 'units', 'C-base@1', 'unit.json');
    const base = readJson(baseFile);
    const { separation, ...without } = base;
    fs.writeFileSync(baseFile, JSON.stringify(without));
    expect(await main(args)).toBe(0);
    expect(readJson(baseFile).separation).toEqual(separation);
    expect(readJson(baseFile).evaluation).toEqual(base.evaluation);
    const md = fs.readFileSync(path.join(dir, 'res-u.md'), 'utf8');
    expect(md).toContain('## Bottleneck separation');
    expect(md).toMatch(/\| C-CORAL \| 100 \| null \| 1 \| [\d.]+ \(1 seed\) \|/);
  }, 120_000);

  it('two processes share one study: every unit runs once, with the results of a one-process run', async () => {
    const shared = path.join(dir, 'b');
    const args = ['run', '--design', designFile, '--out', shared, '--results', path.join(dir, 'res-b')];
    const [p1, p2] = await Promise.all([child(args), child(args)]);
    expect([p1.code, p2.code]).toEqual([0, 0]);
    const doneLines = (s: string) => s.split('\n').filter((l) => /: done$/.test(l)).map((l) => l.replace(/^\[study [\d:]+\] /, '').replace(/: done$/, ''));
    const d1 = doneLines(p1.stderr);
    const d2 = doneLines(p2.stderr);
    // Every unit finished by exactly one of them (no unit run twice, none skipped).
    expect([...d1, ...d2].sort()).toEqual(['C-T2H@1', 'C-T2H@2', 'C-base@1', 'C-base@2', 'U-H2T@1', 'U-H2T@2', 'U-base@1', 'U-base@2', 'baselines', 'pretrain-C', 'pretrain-U'].sort());
    expect(d1.length).toBeGreaterThan(0);
    expect(d2.length).toBeGreaterThan(0);
    // The same units run by one process give bit-identical metrics (nothing depends on who ran what).
    const single = path.join(dir, 'c');
    expect(await main(['study', 'run', '--design', designFile, '--out', single, '--results', path.join(dir, 'res-c')])).toBe(0);
    for (const id of ['pretrain-U', 'C-T2H@2', 'U-H2T@1']) {
      const a = unitJson(shared, id);
      const b = unitJson(single, id);
      const metrics = (u: { evaluation?: unknown; curve?: { evaluation: unknown }[] }) => u.evaluation ?? u.curve!.map((c) => c.evaluation);
      expect(metrics(a)).toEqual(metrics(b));
    }
  }, 180_000);
});
