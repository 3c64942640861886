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

  it('documents every option in --help', () => {
    const h = helpText('train', 'Train a model.', specs);
    for (const k of Object.keys(specs)) expect(h).toContain(`--${k}`);
    expect(h).toContain('(default: 100)');
    expect(h).toContain('(required)');
  });
});
