import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkpointStore } from './train.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../../..');

describe('signals (a real child process)', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} saves a checkpoint and exits with ${code}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-sig-'));
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(here, 'testing/train-until-signal.ts'), dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let sent = false;
      child.stderr.on('data', (d) => (err += d));
      child.stdout.on('data', (d) => {
        out += d;
        if (!sent && /step 5\n/.test(out)) {
          sent = true;
          child.kill(signal);
        }
      });
      const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(exitCode, err).toBe(code);
      const m = /stopped (\w+) at (\d+)/.exec(out);
      expect(m?.[1]).toBe(signal);
      const step = Number(m![2]);
      expect(step).toBeGreaterThanOrEqual(5);
      expect(checkpointStore(dir).loadLatest()!.step).toBe(step);
      fs.rmSync(dir, { recursive: true });
    }, 60_000);
  }
});
