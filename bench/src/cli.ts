/**
 * `npm run bench -- <suite> [--quick] [--json PATH]`: runs one benchmark suite (or `all`), prints a Markdown table
 * and optionally writes `{ machine, suite, rows }` as JSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineInfo, markdownTable, type Suite } from './harness.js';
import { suites } from './suites/index.js';

function usage(): string {
  return [
    'usage: npm run bench -- <suite|all> [--quick] [--json PATH] [--cases a,b] [--impls x,y] [--profile] [--rounds N]',
    '',
    'suites:',
    ...suites.map((s) => `  ${s.name.padEnd(16)} ${s.description}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    console.log(usage());
    return;
  }
  const quick = args.includes('--quick');
  const profile = args.includes('--profile');
  const valued = new Set<number>();
  const value = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    valued.add(i + 1);
    return v;
  };
  const jsonPath = value('--json');
  const list = (flag: string) => value(flag)?.split(',').filter(Boolean);
  const cases = list('--cases');
  const impls = list('--impls');
  const roundsArg = value('--rounds');
  const rounds = roundsArg === undefined ? undefined : Number(roundsArg);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds needs a positive integer, got ${roundsArg}`);
  const names = args.filter((a, i) => !a.startsWith('--') && !valued.has(i));
  const chosen: Suite[] = names.includes('all') ? suites : names.map((n) => {
    const s = suites.find((x) => x.name === n);
    if (!s) throw new Error(`unknown suite '${n}'\n\n${usage()}`);
    return s;
  });
  const machine = machineInfo();
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, Node ${machine.node}, ${machine.date}\n`);
  const results = [];
  for (const s of chosen) {
    console.log(`## ${s.name}${quick ? ' (quick)' : ''}\n`);
    const rows = await s.run({ quick, cases, impls, profile, rounds });
    console.log(markdownTable(rows) + '\n');
    results.push({ suite: s.name, rows });
  }
  if (jsonPath) {
    const out = chosen.length === 1 ? { machine, suite: results[0]!.suite, quick, rows: results[0]!.rows } : { machine, quick, suites: results, rows: results.flatMap((r) => r.rows) };
    fs.mkdirSync(path.dirname(path.resolve(jsonPath)), { recursive: true });
    const tmp = `${jsonPath}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(out, null, 2) + '\n');
    fs.renameSync(tmp, jsonPath);
    console.log(`wrote ${jsonPath}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
