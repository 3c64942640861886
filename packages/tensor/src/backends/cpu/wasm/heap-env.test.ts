/**
 * OCLT_CPU_HEAP_MB as a program meets it (issue 20 item 4): read from the environment at the first fast op of a
 * fresh process, so each case runs in a child process. A value that is not a number of MiB in (0, 2048] stops
 * the program at its first op with an error naming the variable and the value (before the fix, `abc` gave NaN
 * and `4096` a bound beyond the 2 GiB memory, and a plain loop crashed hundreds of steps later); a valid one
 * is the bound in force, and a loop that keeps more results than it allows still computes the right values.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = pathToFileURL(path.resolve(here, '../../../index.ts')).href;

// 100 live results of 4096 float32 (16 KiB each, 1.6 MiB in all): more than a 1 MiB bound holds.
const program = `
import * as T from ${JSON.stringify(entry)};
const x = T.tensor(new Float32Array(4096).map((_, i) => i % 7));
const live = [];
for (let i = 0; i < 100; i++) live.push(x.mul(i));
let s = 0;
for (const t of live) s += t.sum().item();
console.log(JSON.stringify({ limit: T.cpuResultLimit(), sum: s, kernels: T.cpuKernelsInfo() }));
`;

function runWith(value: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', program],
      { env: { ...process.env, OCLT_CPU_HEAP_MB: value, OCLT_CPU: '' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('OCLT_CPU_HEAP_MB in a fresh process', () => {
  it('refuses abc, 0, -1 and 4096 (over 2 GiB) with an error naming it and the value; accepts 1 and 2048', async () => {
    const bad = ['abc', '0', '-1', '4096'];
    const good = ['1', '2048'];
    const runs = await Promise.all([...bad, ...good].map(runWith)); // in parallel: each child is mostly start-up
    bad.forEach((v, i) => {
      const r = runs[i]!;
      expect(r.code, `OCLT_CPU_HEAP_MB=${v}: ${r.stderr}`).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`OCLT_CPU_HEAP_MB: expected a number of MiB greater than 0 and at most 2048`);
      expect(r.stderr).toContain(`got "${v}"`);
    });
    // The sum over i of i * sum(x), with sum(x) = 585 * (0 + 1 + ... + 6) + 0 = 12285 (4096 = 585 * 7 + 1): every
    // partial value is an integer below 2^24, exact in float32, so the answer is exact.
    const exact = 12285 * ((99 * 100) / 2);
    good.forEach((v, j) => {
      const r = runs[bad.length + j]!;
      expect(r.code, `OCLT_CPU_HEAP_MB=${v}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as { limit: number; sum: number; kernels: string };
      expect(out.limit).toBe(Number(v) * 2 ** 20);
      expect(out.sum).toBe(exact);
    });
  }, 120_000);
});
