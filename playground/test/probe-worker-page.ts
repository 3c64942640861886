/** Starts probe-worker.js and keeps what it posts for the test. */
const w = globalThis as unknown as { __probe?: unknown; __probeError?: string };
const worker = new Worker('/worker.js', { type: 'module' });
worker.onmessage = (e: MessageEvent<{ error?: string }>) => {
  if (e.data.error) w.__probeError = e.data.error;
  else w.__probe = e.data;
};
worker.onerror = (e) => (w.__probeError = `worker error: ${e.message}`);
