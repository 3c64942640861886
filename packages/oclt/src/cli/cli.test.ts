import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from './main.js';
import { crossingTime } from './transfer-curve.js';
import { cliTestSetup } from '../test-helpers.js';

/** Every subcommand end to end on the synthetic data set (no files needed), at toy sizes. */
const SYNTH = ['--dataset', 'synthetic', '--image-size', '8'];
const TINY_MODEL = ['--hidden', '16', '--layers', '1'];

const t = cliTestSetup('cli');
const { readJson } = t;

describe('oclt command line', () => {
  it('prints help for every command and rejects unknown commands and options with usage errors (exit 2)', async () => {
    for (const [name, c] of Object.entries(COMMANDS)) {
      expect(await main([name, '--help'])).toBe(0);
      expect(c.help).toContain(`usage: oclt ${name}`);
      expect(c.help).toContain('--help');
    }
    expect(COMMANDS.train!.help).toContain('--recipe');
    expect(COMMANDS.ablation!.help).toContain('--num-samples');
    expect(await main(['fly'])).toBe(2);
    expect(await main(['train', '--out', t.file('x'), '--stepz', '3'])).toBe(2);
    expect(await main(['train'])).toBe(2); // --out is required
    // A bad recipe is a usage error naming the flag, with the recipe parser's message, before anything is written.
    const errors = vi.mocked(console.error);
    errors.mockClear();
    expect(await main(['train', '--out', t.file('bad'), '--recipe', 'magic', ...SYNTH])).toBe(2);
    expect(errors.mock.calls.flat().join(' ')).toMatch(/^oclt train: --recipe: .*unknown method 'magic'/);
    expect(fs.existsSync(t.file('bad'))).toBe(false);
  });

  it('crossingTime interpolates linearly between evaluated times', () => {
    // p(t) = t / 100 on a grid of 10: crosses 0.1 at t = 10 and 0.95 at t = 95 exactly.
    const ts = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    const p = ts.map((t) => t / 100);
    expect(crossingTime(ts, p, 0.1)).toBeCloseTo(10, 10);
    expect(crossingTime(ts, p, 0.95)).toBeCloseTo(95, 10);
    expect(crossingTime(ts, p, 1.5)).toBeNull();
  });

  it('transfer-curve: no transfer at t = 0, (B - 1) / B at t = T - 1 where the kernel is flat, gated curves below Full', async () => {
    const out = t.file('tc');
    const B = 16;
    expect(await main(['transfer-curve', ...SYNTH, '--out', out, '--t-step', '250', '--batches', '3', '--batch-size', String(B)])).toBe(0);
    const r = readJson(`${out}.json`);
    expect(r.gitCommit).toBeTypeOf('string');
    expect(r.config.batchSize).toBe(B);
    expect(r.timesteps).toEqual([0, 250, 500, 750, 999]);
    const full: number[] = r.curves.full.transferProbability;
    // abar_0 = 1 - 1e-4: sigma ~ 0.01 against image distances of order 1, so p_sel(i | i) = 1.
    expect(full[0]).toBeLessThan(1e-6);
    // abar_999 ~ 4e-5: every kernel weight is within ~1% of the others, so sum_{z != i} p_sel = (B - 1) / B.
    expect(full[4]).toBeCloseTo((B - 1) / B, 2);
    for (const gate of ['t2h', 'h2t']) {
      r.curves[gate].transferProbability.forEach((p: number, k: number) => expect(p).toBeLessThanOrEqual(full[k]! + 1e-9));
    }
    expect(fs.existsSync(`${out}.png`)).toBe(true);
    expect(fs.readFileSync(`${out}.md`, 'utf8')).toMatch(/rises from 0\.1 at t = \d+ to 0\.9 at t = \d+/);
  });

  it('train -> sample -> eval on synthetic data; re-running train resumes (no extra steps), a changed config is refused', async () => {
    const run = t.file('run');
    const args = ['train', ...SYNTH, ...TINY_MODEL, '--out', run, '--recipe', 't2h+resample', '--steps', '4', '--batch-size', '8', '--checkpoint-every', '2', '--grid-samples', '20', '--sample-steps', '2'];
    expect(await main(args)).toBe(0);
    const first = readJson(path.join(run, 'result.json'));
    expect(first.steps).toBe(4);
    expect(first.resumedFrom).toBeNull();
    expect(first.config.recipe).toBe('t2h+resample');
    expect(first.config.model.numClasses).toBe(10);
    expect(fs.existsSync(path.join(run, 'samples.png'))).toBe(true);
    const weights = fs.readdirSync(path.join(run, 'checkpoints')).filter((f) => f.endsWith('.safetensors')).sort();

    expect(await main(args)).toBe(0);
    const second = readJson(path.join(run, 'result.json'));
    expect(second.resumedFrom).toBe(4);
    expect(second.steps).toBe(4);
    // No step was taken: the final loss still comes from the last steps' losses (kept in the checkpoint).
    expect(second.finalLoss).toBe(first.finalLoss);
    expect(second.lastLoss).toBe(first.lastLoss);
    expect(first.finalLoss).toBeTypeOf('number');
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((f) => f.endsWith('.safetensors')).sort()).toEqual(weights);

    expect(await main([...args.slice(0, -2), '--sample-steps', '2', '--lr', '0.5'])).toBe(1); // another config, same --out

    const prefix = path.join(run, 's');
    expect(await main(['sample', '--run', run, '--out', prefix, '--num', '20', '--steps', '2', '--seed', '3'])).toBe(0);
    const s = readJson(`${prefix}.json`);
    expect(s.config.checkpointStep).toBe(4);
    expect(fs.existsSync(`${prefix}.png`) && fs.existsSync(`${prefix}.safetensors`)).toBe(true);

    expect(await main(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained', ...SYNTH])).toBe(0);
    const e = readJson(`${prefix}.metrics.json`);
    expect(e.labelSource).toBe('conditioning');
    expect(e.metrics.n_generated).toBe(20);
    expect(e.metrics.n_reference).toBe(400);
    expect(Number.isFinite(e.metrics.fid)).toBe(true);
    expect(Object.keys(e.metrics.per_class_fid.groups).sort()).toEqual(['head', 'medium', 'tail']);
    expect(Object.keys(e.baselines).sort()).toEqual(['balanced_train_sameN_vs_test', 'test_half_vs_half', 'train_lt_vs_test']);
    // Two halves of the same balanced test set are closer than anything generated by a 4-step model.
    expect(e.baselines.test_half_vs_half.fid).toBeLessThan(e.metrics.fid);
    expect(e.referenceSet).toBe('the balanced test set');

    // The paper's Table 6: the long-tailed training subset as the reference.
    const lt = `${prefix}.lt-metrics.json`;
    expect(await main(['eval', '--samples', `${prefix}.safetensors`, '--feature-net', 'random-untrained', '--reference', 'long-tailed', '--out', lt, ...SYNTH])).toBe(0);
    const l = readJson(lt);
    expect(l.referenceSet).toMatch(/^the long-tailed training subset/);
    expect(l.config.reference).toBe('long-tailed');
    expect(l.metrics.n_generated).toBe(20);
    expect(l.metrics.n_reference).toBe(e.baselines.train_lt_vs_test.n_generated); // the LT subset's size
    expect(l.metrics.fid).not.toBeCloseTo(e.metrics.fid, 6);
    expect(Object.keys(l.baselines).sort()).toEqual(['balanced_test_vs_lt_reference', 'lt_reference_half_vs_half']);
    // The Frechet distance is symmetric: the balanced test set against the LT reference is the balanced run's
    // 'long-tailed train set vs test' with the roles swapped (same two feature sets).
    expect(l.baselines.balanced_test_vs_lt_reference.fid).toBeCloseTo(e.baselines.train_lt_vs_test.fid, 6);
    vi.mocked(console.error).mockClear();
    expect(await main(['eval', '--samples', `${prefix}.safetensors`, '--reference', 'tail', ...SYNTH])).toBe(2);
    expect(vi.mocked(console.error).mock.calls.flat().join('\n')).toMatch(/--reference must be one of balanced, long-tailed/);
  });

  it('ablation: trains, samples and evaluates the chosen methods, then skips finished ones on a re-run', async () => {
    const results = t.file('res', 'abl');
    const args = ['ablation', ...SYNTH, ...TINY_MODEL, '--out', t.file('abl'), '--results', results, '--steps', '2', '--batch-size', '10', '--num-samples', '20', '--sample-steps', '2', '--feature-net', 'random-untrained'];
    expect(await main([...args, '--methods', 'U-H2T,C-CBDM'])).toBe(0);
    const r1 = readJson(`${results}.json`);
    expect(Object.keys(r1.methods).sort()).toEqual(['C-CBDM', 'U-H2T']);
    expect(r1.methods['U-H2T'].status).toBe('done');
    expect(r1.methods['U-H2T'].evaluation.labelSource).toBe('feature-net');
    expect(r1.methods['C-CBDM'].evaluation.labelSource).toBe('conditioning');
    expect(r1.baselines.test_half_vs_half.n_generated).toBe(200);

    const errors = vi.mocked(console.error);
    errors.mockClear();
    expect(await main([...args, '--methods', 'C-CBDM,C-base'])).toBe(0);
    const log = errors.mock.calls.flat().join('\n');
    expect(log).toMatch(/C-CBDM: done already, skipped/);
    expect(log).toMatch(/C-base \(baseline\): training 2 steps/);
    const r2 = readJson(`${results}.json`);
    expect(r2.methods['C-CBDM']).toEqual(r1.methods['C-CBDM']);
    expect(r2.methods['C-base'].status).toBe('done');
    const md = fs.readFileSync(`${results}.md`, 'utf8');
    expect(md).toMatch(/\| C-base \| cond\. baseline \| `baseline` \| \d/);
    expect(fs.existsSync(`${results}-per-class-fid.png`)).toBe(true);
    expect(fs.existsSync(`${results}-samples/C-base.png`)).toBe(true);
    // A different config against the same results file is refused, not mixed in.
    expect(await main([...args.map((a) => (a === '20' ? '30' : a)), '--methods', 'C-base'])).toBe(1);
  });
});
