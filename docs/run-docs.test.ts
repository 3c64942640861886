/**
 * Runs every TypeScript code block of the docs chapters and of the packages' READMEs (what npm shows a new user),
 * so neither can drift from the code.
 *
 * Each chapter's ```ts blocks are concatenated in order into one module (imports hoisted to the top), written to
 * docs/.generated/, and imported. A block fenced as ```ts no-run is shown but not executed. The blocks check
 * themselves with node:assert, so a wrong claim in the text fails the test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const docsDir = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(docsDir, '.generated');

export function extractBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const re = /^```(ts|typescript)([^\n]*)\n([\s\S]*?)^```/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    if (!m[2]!.includes('no-run')) blocks.push(m[3]!);
  }
  return blocks;
}

export function assembleModule(blocks: readonly string[]): string {
  const imports: string[] = [];
  const body: string[] = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    let i = 0;
    // Leading import statements (possibly multi-line) are hoisted.
    while (i < lines.length) {
      if (/^import\s/.test(lines[i]!)) {
        let stmt = lines[i]!;
        while (!/;\s*$/.test(stmt) && i + 1 < lines.length) stmt += '\n' + lines[++i];
        imports.push(stmt);
        i++;
      } else if (lines[i]!.trim() === '' || lines[i]!.startsWith('//')) {
        body.push(lines[i]!);
        i++;
      } else break;
    }
    body.push(...lines.slice(i));
  }
  return [...new Set(imports), 'export async function run(): Promise<void> {', ...body.map((l) => '  ' + l), '}', ''].join('\n');
}

const chapters = fs.readdirSync(docsDir).filter((f) => /^\d\d-.+\.md$/.test(f)).sort();
const packagesDir = path.join(docsDir, '..', 'packages');
const readmes = fs.readdirSync(packagesDir).filter((p) => fs.existsSync(path.join(packagesDir, p, 'README.md'))).sort();

describe('docs code blocks run', () => {
  it('finds the chapters', () => {
    expect(chapters.length).toBeGreaterThan(0);
  });
  const sources = [
    ...chapters.map((chapter) => ({ name: chapter, file: path.join(docsDir, chapter), out: chapter.replace(/\.md$/, '.ts') })),
    ...readmes.map((p) => ({ name: `packages/${p}/README.md`, file: path.join(packagesDir, p, 'README.md'), out: `readme-${p}.ts` })),
  ];
  for (const source of sources) {
    it(source.name, async () => {
      const blocks = extractBlocks(fs.readFileSync(source.file, 'utf8'));
      expect(blocks.length).toBeGreaterThan(0);
      fs.mkdirSync(outDir, { recursive: true });
      const file = path.join(outDir, source.out);
      fs.writeFileSync(file, assembleModule(blocks));
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        const mod = await import(pathToFileURL(file).href);
        await mod.run();
      } finally {
        log.mockRestore();
      }
    }, 120_000);
  }
});

describe('docs excerpts of the source stay the source', () => {
  it("ch. 1's excerpt of packages/autograd/src/value.ts: every line occurs in the file, in order", () => {
    const chapter = fs.readFileSync(path.join(docsDir, '01-autograd.md'), 'utf8');
    const at = chapter.indexOf('Here is the heart of `packages/autograd/src/value.ts`');
    expect(at).toBeGreaterThan(0);
    const excerpt = /```ts no-run\n([\s\S]*?)^```/m.exec(chapter.slice(at))![1]!;
    const source = fs.readFileSync(path.join(packagesDir, 'autograd', 'src', 'value.ts'), 'utf8').split('\n');
    // A subsequence: the excerpt leaves lines out (the other ops) but changes none and keeps their order.
    let i = 0;
    const lines = excerpt.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      while (i < source.length && source[i] !== line) i++;
      expect(i, `not in value.ts (in this order): ${line}`).toBeLessThan(source.length);
      i++;
    }
  });
});
