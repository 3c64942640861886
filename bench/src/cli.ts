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
    'usage: npm run bench -- <suite|all> [--quick] [--json PATH]',
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
  const jsonIdx = args.indexOf('--json');
  const jsonPath = jsonIdx >= 0 ? args[jsonIdx + 1] : undefined;
  if (jsonIdx >= 0 && !jsonPath) throw new Error('--json needs a file path');
  const names = args.filter((a, i) => !a.startsWith('--') && (jsonIdx < 0 || i !== jsonIdx + 1));
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
    const rows = await s.run({ quick });
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
