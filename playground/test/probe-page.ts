/** The page side of tensor.browser.test.ts: runs the probe with and without relaxed SIMD and posts the results. */
import { runProbe } from '../src/probe.js';

const w = globalThis as unknown as { __probe?: unknown; __probeError?: string };
try {
  const plain = runProbe({ relaxedSimd: false });
  const relaxed = runProbe({ relaxedSimd: 'auto' });
  w.__probe = { plain, relaxed };
} catch (e) {
  w.__probeError = e instanceof Error ? `${e.message}\n${e.stack}` : String(e);
}
