/**
 * A small, strict command-line parser: declared options only, typed values, clear errors, generated --help.
 * `--name value` and `--name=value`; booleans as `--flag` / `--no-flag`.
 *
 * Every value is checked before a command does any work, and a bad one is a UsageError naming the flag (exit 2):
 * integers are plain decimal (`12`, not `0x0c`, `1e1` or `12.0`) and safe; numbers are decimal, optionally with an
 * exponent (`1e-3`; no hex, Infinity or NaN); numeric options may declare a range (`min`, `max`, `above`); a
 * string option may be empty only where its default is the empty string ("not set"); a value given separately
 * may not look like an option (`--out --steps` is refused, `--out=--steps` is taken literally); an option may be
 * given once.
 */
export interface OptionSpec {
  type: 'string' | 'number' | 'integer' | 'boolean';
  description: string;
  default?: string | number | boolean;
  /** Allowed values for string options. */
  choices?: readonly string[];
  /** Inclusive bounds of numeric options. */
  min?: number;
  max?: number;
  /** Exclusive lower bound of numeric options (e.g. 0 for a learning rate). */
  above?: number;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedOptions<S extends OptionSpecs> = {
  [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : S[K]['type'] extends 'string' ? string : number;
};

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function helpText(command: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = s.type === 'boolean' ? `--${name}` : `--${name} <${s.choices ? s.choices.join('|') : s.type}>`;
    // A description that states its own default (e.g. "when it is a terminal") keeps it; '' means "not set".
    const ownDefault = /\(default: /.test(s.description);
    const dflt = ownDefault || s.default === '' ? '' : s.default !== undefined ? ` (default: ${s.default})` : s.type === 'boolean' ? '' : ' (required)';
    return `  ${flag.padEnd(34)} ${s.description}${dflt}`;
  });
  return [`usage: oclt ${command} [options]`, '', summary, '', 'options:', ...rows, `  ${'--help'.padEnd(34)} show this help`].join('\n');
}

export function parseArgs<S extends OptionSpecs>(command: string, argv: readonly string[], specs: S): ParsedOptions<S> {
  const out: Record<string, string | number | boolean> = {};
  const seen = new Set<string>();
  const once = (name: string) => {
    if (seen.has(name)) throw new UsageError(`oclt ${command}: --${name} is given more than once`);
    seen.add(name);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`oclt ${command}: unexpected argument '${arg}' (options start with --)`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    let spec = specs[name];
    if (!spec && name.startsWith('no-') && specs[name.slice(3)]?.type === 'boolean' && value === undefined) {
      once(name.slice(3));
      out[name.slice(3)] = false;
      continue;
    }
    if (!spec || !Object.prototype.hasOwnProperty.call(specs, name)) throw new UsageError(`oclt ${command}: unknown option --${name} (see oclt ${command} --help)`);
    once(name);
    if (spec.type === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`oclt ${command}: --${name} takes no value or true/false, got '${value}'`);
      out[name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`oclt ${command}: --${name} needs a value`);
      if (value.startsWith('--')) throw new UsageError(`oclt ${command}: --${name} needs a value, got the option '${value}' (write --${name}=${value} if you mean it)`);
    }
    out[name] = convert(command, name, spec, value);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (out[name] !== undefined) continue;
    if (spec.default !== undefined) out[name] = spec.default;
    else if (spec.type === 'boolean') out[name] = false;
    else throw new UsageError(`oclt ${command}: missing required option --${name}`);
  }
  return out as ParsedOptions<S>;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(command: string, name: string, spec: OptionSpec, raw: string): string | number {
  const bad = (what: string) => new UsageError(`oclt ${command}: --${name} ${what}, got '${raw}'`);
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) throw bad(`must be one of ${spec.choices.join(', ')}`);
    if (raw === '' && spec.default !== '') throw bad('must not be empty');
    return raw;
  }
  if (spec.type === 'integer') {
    if (!INTEGER.test(raw)) throw bad(DECIMAL.test(raw) ? 'must be an integer' : 'must be an integer (plain decimal digits)');
  } else if (!DECIMAL.test(raw)) {
    throw bad('must be a number (decimal, e.g. 0.001 or 1e-3)');
  }
  const v = Number(raw);
  if (!Number.isFinite(v)) throw bad('must be a finite number');
  if (spec.type === 'integer' && !Number.isSafeInteger(v)) throw bad(`must be an integer of at most ${Number.MAX_SAFE_INTEGER}`);
  checkRange(command, name, spec, v, raw);
  return Object.is(v, -0) ? 0 : v;
}

function checkRange(command: string, name: string, spec: OptionSpec, v: number, raw: string): void {
  const range = [spec.above !== undefined ? `> ${spec.above}` : '', spec.min !== undefined ? `>= ${spec.min}` : '', spec.max !== undefined ? `<= ${spec.max}` : ''].filter(Boolean).join(' and ');
  const out = (spec.above !== undefined && !(v > spec.above)) || (spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max);
  if (out) throw new UsageError(`oclt ${command}: --${name} must be ${range}, got '${raw}'`);
}
