/**
 * The tensor core's layers, read from the source files' imports. Kernels (backends/) sit under the ops: they build
 * their results with kernel-util.ts and their shapes with shape.ts, never by calling back into ops/ (issue 25).
 * And the one import cycle left is Tensor's: tensor.ts's methods call the ops, the ops (and kernel-util.ts, which
 * constructs Tensors) import tensor.ts; no other file may join it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/** The non-test source files under src/, relative, with '/' separators. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    if (!e.name.endsWith('.ts') || e.name.endsWith('.test.ts') || e.name === 'test-helpers.ts') return [];
    return [relative(SRC, p).split('\\').join('/')];
  });
}

interface Import {
  /** The imported file, relative to src/ (or the bare specifier of a package). */
  target: string;
  /** `import type ...`, or only `type` specifiers: erased from the JavaScript, so no edge at run time. */
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const target = spec.startsWith('.') ? relative(SRC, resolve(SRC, dirname(file), spec)).split('\\').join('/').replace(/\.js$/, '.ts') : spec;
    out.push({ target, typeOnly });
  };
  // import/export ... from '...' (the clause holds only names, braces, commas, `*`, `as` and `type`).
  for (const m of text.matchAll(/\b(?:import|export)\s+(type\s+)?([\w$*{},\s]*?)\s*from\s*['"]([^'"]+)['"]/g)) {
    const clause = m[2]!;
    const braces = clause.match(/\{([^}]*)\}/);
    const outside = clause.replace(/\{[^}]*\}/, '').replace(/[\s,]/g, '');
    const allTypes = braces !== null && outside === '' && braces[1]!.split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    add(m[3]!, m[1] !== undefined || allTypes);
  }
  // import '...' and import('...').
  for (const m of text.matchAll(/\bimport\s*\(?\s*['"]([^'"]+)['"]/g)) add(m[1]!, false);
  return out;
}

const files = sourceFiles();
const graph = new Map(files.map((f) => [f, importsOf(f)] as const));

/** Strongly connected components with more than one file (the import cycles), over run-time or all imports. */
function cycles(withTypes: boolean): string[][] {
  const edges = (f: string) => graph.get(f)!.filter((i) => (withTypes || !i.typeOnly) && graph.has(i.target)).map((i) => i.target);
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges(v).includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

describe('layering of the tensor core', () => {
  it('reads the imports it checks', () => {
    expect(files).toContain('backends/cpu/kernels/reduce.ts');
    expect(graph.get('ops/reduce.ts')!.map((i) => i.target)).toContain('shape.ts');
    expect(graph.get('backends/cpu/wasm/conv.ts')!.find((i) => i.target === 'shape.ts')).toEqual({ target: 'shape.ts', typeOnly: true });
  });

  it('kernels, and what they build on (kernel-util.ts, shape.ts), import nothing from ops/', () => {
    const below = files.filter((f) => f.startsWith('backends/') || f === 'kernel-util.ts' || f === 'shape.ts');
    expect(below.length).toBeGreaterThan(20);
    const offending = below.flatMap((f) => graph.get(f)!.filter((i) => i.target.startsWith('ops/')).map((i) => `${f} -> ${i.target}`));
    expect(offending).toEqual([]);
  });

  it('shape.ts imports nothing: pure shape arithmetic', () => {
    expect(graph.get('shape.ts')).toEqual([]);
  });

  it('the only run-time import cycle is Tensor with its ops (and kernel-util.ts, which constructs Tensors)', () => {
    const allowed = (f: string) => f === 'tensor.ts' || f === 'kernel-util.ts' || f.startsWith('ops/');
    const found = cycles(false);
    expect(found.flat().filter((f) => !allowed(f))).toEqual([]);
    expect(found.length).toBeLessThanOrEqual(1);
  });

  it('no file under backends/ is in an import cycle, counting type-only imports too', () => {
    expect(cycles(true).flat().filter((f) => f.startsWith('backends/'))).toEqual([]);
  });
});
