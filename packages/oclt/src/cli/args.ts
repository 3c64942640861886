/**
 * A small, strict command-line parser: declared options only, typed values, clear errors, generated --help.
 * `--name value` and `--name=value`; booleans as `--flag` / `--no-flag`.
 */
export interface OptionSpec {
  type: 'string' | 'number' | 'integer' | 'boolean';
  description: string;
  default?: string | number | boolean;
  /** Allowed values for string options. */
  choices?: readonly string[];
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
    const dflt = s.default !== undefined ? ` (default: ${s.default})` : s.type === 'boolean' ? '' : ' (required)';
    return `  ${flag.padEnd(34)} ${s.description}${dflt}`;
  });
  return [`usage: oclt ${command} [options]`, '', summary, '', 'options:', ...rows, `  ${'--help'.padEnd(34)} show this help`].join('\n');
}

export function parseArgs<S extends OptionSpecs>(command: string, argv: readonly string[], specs: S): ParsedOptions<S> {
  const out: Record<string, string | number | boolean> = {};
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
      out[name.slice(3)] = false;
      continue;
    }
    if (!spec) throw new UsageError(`oclt ${command}: unknown option --${name} (see oclt ${command} --help)`);
    if (spec.type === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`oclt ${command}: --${name} takes no value or true/false, got '${value}'`);
      out[name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`oclt ${command}: --${name} needs a value`);
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

function convert(command: string, name: string, spec: OptionSpec, raw: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`oclt ${command}: --${name} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
    return raw;
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`oclt ${command}: --${name} must be a number, got '${raw}'`);
  if (spec.type === 'integer' && !Number.isInteger(v)) throw new UsageError(`oclt ${command}: --${name} must be an integer, got '${raw}'`);
  return v;
}
