import * as T from '@oclt/tensor';
const x = T.tensor(new Float32Array(1 << 20).map((_, i) => Math.sin(i) * 3)).reshape(1024, 1024);
function time(name: string, f: () => unknown) {
  for (let i = 0; i < 10; i++) T.tidy(() => void f());
  const ts: number[] = [];
  for (let i = 0; i < 30; i++) { const t0 = performance.now(); T.tidy(() => void f()); ts.push(performance.now() - t0); }
  ts.sort((a, b) => a - b);
  console.log(name.padEnd(20), ts[15]!.toFixed(3));
}
for (const th of [1, 2]) {
  T.cpuThreads(th);
  time(`softmax ${th}t`, () => T.softmax(x, -1));
  time(`exp ${th}t`, () => T.exp(x));
  time(`sum-rows ${th}t`, () => T.sum(x, -1));
  time(`max-rows ${th}t`, () => T.max(x, -1));
}
process.exit(0);
