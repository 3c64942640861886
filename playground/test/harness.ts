/**
 * The browser test harness: headless Chromium (Debian's `chromium`, or CHROMIUM_PATH) driven by playwright-core,
 * pages bundled from TypeScript with esbuild (the `source` condition, so the workspace packages come from src/),
 * and a static server that sends the cross-origin isolation headers (COOP/COEP) or not.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';

/** The Chromium executable, or null where none is installed (tests then skip, saying why). */
export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

export const noChromiumReason = 'no Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH); .ci/run installs it';

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(noChromiumReason);
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu-sandbox', '--disable-dev-shm-usage'] });
}

/** One ESM bundle of `entry` for the browser (workspace packages from their TypeScript sources). */
export async function bundle(entry: string, define: Record<string, string> = {}): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    write: false,
    minify: false,
    define,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, so worker threads). */
export const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** Serves `files` (path -> [content type, body]) on 127.0.0.1, with or without the isolation headers. */
export async function serve(files: Record<string, [string, string | Buffer]>, isolated: boolean): Promise<Served> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = files[path === '/' ? '/index.html' : path];
    const headers: Record<string, string> = isolated ? { ...ISOLATION_HEADERS } : {};
    if (!file && path === '/favicon.ico') {
      res.writeHead(204, headers).end();
      return;
    }
    if (!file) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': file[0], 'Cache-Control': 'no-store' }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

/** A page that runs one bundled module. */
export const modulePage = (script = '/main.js') => `<!doctype html><meta charset="utf-8"><title>oclt test</title><body><script type="module" src="${script}"></script></body>`;
