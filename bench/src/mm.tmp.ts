import { Generator, matmul, randn, cpuThreads } from '@oclt/tensor';
const n = Number(process.env.N ?? 1024);
const a = randn([n, n], new Generator(2)), b = randn([n, n], new Generator(3));
for (const th of [1, 2, 1, 2, 1, 2]) {
  cpuThreads(th);
  matmul(a, b).dataSync();
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) { const t0 = performance.now(); matmul(a, b).dataSync(); ts.push(performance.now() - t0); }
  ts.sort((x, y) => x - y);
  console.log(th, 'threads', ts[2]!.toFixed(1), 'ms', (2 * n ** 3 / ts[2]! / 1e6).toFixed(1), 'GFLOP/s');
}
process.exit(0);
