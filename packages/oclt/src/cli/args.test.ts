import { describe, expect, it } from 'vitest';
import { helpText, parseArgs, UsageError } from './args.js';

const specs = {
  steps: { type: 'integer', description: 'training steps', default: 100 },
  recipe: { type: 'string', description: 'method', choices: ['baseline', 't2h'] },
  lr: { type: 'number', description: 'learning rate', default: 2e-4 },
  resume: { type: 'boolean', description: 'continue from the last checkpoint' },
} as const;

describe('parseArgs', () => {
  it('parses values, defaults and booleans', () => {
    const o = parseArgs('train', ['--recipe', 't2h', '--steps=5', '--resume'], specs);
    expect(o).toEqual({ recipe: 't2h', steps: 5, lr: 2e-4, resume: true });
    expect(parseArgs('train', ['--recipe=baseline', '--no-resume'], specs).resume).toBe(false);
  });

  it('rejects unknown options, bad numbers, bad choices and missing required values', () => {
    expect(() => parseArgs('train', ['--recipe', 't2h', '--stepz', '3'], specs)).toThrow(/unknown option --stepz/);
    expect(() => parseArgs('train', ['--recipe', 't2h', '--steps', '1.5'], specs)).toThrow(/--steps must be an integer/);
    expect(() => parseArgs('train', ['--recipe', 't2h', '--lr', 'fast'], specs)).toThrow(/--lr must be a number/);
    expect(() => parseArgs('train', ['--recipe', 'cbdmx'], specs)).toThrow(/one of baseline, t2h/);
    expect(() => parseArgs('train', [], specs)).toThrow(UsageError);
    expect(() => parseArgs('train', ['--recipe'], specs)).toThrow(/needs a value/);
  });

  it('takes integers as plain decimal only, numbers as decimals, within declared ranges; refuses empty, repeated and option-like values', () => {
    const ranged = {
      out: { type: 'string', description: 'output' },
      dir: { type: 'string', description: 'data', default: '' },
      n: { type: 'integer', description: 'count', default: 1, min: 1, max: 10 },
      lr: { type: 'number', description: 'rate', default: 0.1, above: 0 },
    } as const;
    const p = (...argv: string[]) => parseArgs('train', ['--out', 'o', ...argv], ranged);
    expect(p('--n', '10', '--lr', '1e-3', '--dir=')).toEqual({ out: 'o', dir: '', n: 10, lr: 1e-3 });
    expect(p('--n', '+3', '--lr', '.5').n).toBe(3);
    for (const bad of ['0x10', '1e1', '12.0', ' 5', '5 ', '', '1_0', '0b1', '99999999999999999999']) expect(() => p('--n', bad), bad).toThrow(/--n must be an integer/);
    for (const bad of ['Infinity', 'NaN', '0x10', '1e400', '1,5', '']) expect(() => p('--lr', bad), bad).toThrow(/--lr must be a (finite )?number/);
    expect(() => p('--n', '0')).toThrow(/--n must be >= 1 and <= 10, got '0'/);
    expect(() => p('--n', '11')).toThrow(/--n must be >= 1 and <= 10/);
    expect(() => p('--lr', '0')).toThrow(/--lr must be > 0, got '0'/);
    expect(() => parseArgs('train', ['--out='], ranged)).toThrow(/--out must not be empty/);
    expect(() => parseArgs('train', ['--out', '--n', '3'], ranged)).toThrow(/--out needs a value, got the option '--n'/);
    expect(parseArgs('train', ['--out=--n'], ranged).out).toBe('--n');
    expect(() => p('--n', '2', '--n=3')).toThrow(/--n is given more than once/);
    expect(() => p('--toString', '1')).toThrow(/unknown option --toString/);
  });

  it('documents every option in --help', () => {
    const h = helpText('train', 'Train a model.', specs);
    for (const k of Object.keys(specs)) expect(h).toContain(`--${k}`);
    expect(h).toContain('(default: 100)');
    expect(h).toContain('(required)');
  });
});

describe('helpText defaults', () => {
  it('states each default once, and none for an empty one', () => {
    const h = helpText('x', 'X.', {
      progress: { type: 'boolean', description: 'progress bar (default: when it is a terminal)' },
      'data-dir': { type: 'string', description: 'the IDX files', default: '' },
      steps: { type: 'integer', description: 'steps', default: 5 },
    });
    expect(h).toContain('(default: when it is a terminal)');
    expect(h).not.toMatch(/terminal\) \(default/);
    expect(h).not.toContain('(default: )');
    expect(h).toContain('steps (default: 5)');
  });
});
