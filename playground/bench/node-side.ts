/** Node's side of browser-vs-node.ts: a long-lived process answering `setup <threads>`, `matmul`, `unet` lines with JSON. */
import { createInterface } from 'node:readline';
import { fallbacks, matmulSample, setup, unetSample } from './cases.js';

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, arg] = line.trim().split(' ');
  let out: unknown;
  if (cmd === 'setup') out = await setup(Number(arg));
  else if (cmd === 'matmul') out = { ms: matmulSample(), fallbacks: fallbacks() };
  else if (cmd === 'unet') out = { ms: unetSample(), fallbacks: fallbacks() };
  else out = { error: `unknown command ${line}` };
  process.stdout.write(JSON.stringify(out) + '\n');
}
