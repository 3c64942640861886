/**
 * The environment switch and process exit, in fresh Node processes: OCLT_CPU=reference must install the
 * reference kernels at start-up, and a process that used the worker threads must exit by itself (workers are
 * unref'ed). The child's own exit is the oracle; the timeout catches a hang.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const indexPath = path.resolve(here, '../../../index.ts');

function runChild(env: Record<string, string>): string {
  const script = [
    `const T = await import(${JSON.stringify(indexPath)});`,
    'T.cpuThreads(2);',
    'const g = new T.Generator(1);',
    // Large enough to be split between two threads.
    'const c = T.matmul(T.randn([200, 200], g), T.randn([200, 200], g));',
    'console.log(T.getBackend("cpu").info() + " " + c.shape.join("x"));',
  ].join('\n');
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    timeout: 30_000,
    encoding: 'utf8',
  }).trim();
}

// Relaxed SIMD is on by default from Node 22 (V8 11.4+); Node 20 has it only behind a V8 flag.
const nativeRelaxed = Number(process.versions.node.split('.')[0]) >= 22;

describe('cpu kernel switch in a fresh process', () => {
  it('runs the fast kernels on two threads by default and exits without help', () => {
    const fma = nativeRelaxed ? '\\(relaxed\\)' : '';
    expect(runChild({ OCLT_CPU: '', OCLT_RELAXED_SIMD: '' })).toMatch(new RegExp(`^cpu:wasm-simd${fma} x2 threads 200x200$`));
  });

  it('OCLT_RELAXED_SIMD=1 turns on FMA in the GEMM (with V8 flag on Node 20), =0 keeps mul + add', () => {
    expect(runChild({ OCLT_CPU: '', OCLT_RELAXED_SIMD: '1' })).toBe('cpu:wasm-simd(relaxed) x2 threads 200x200');
    expect(runChild({ OCLT_CPU: '', OCLT_RELAXED_SIMD: '0' })).toBe('cpu:wasm-simd x2 threads 200x200');
  });

  it('OCLT_CPU=reference installs the reference kernels', () => {
    expect(runChild({ OCLT_CPU: 'reference' })).toBe('cpu:reference (plain TypeScript) 200x200');
  });
});
