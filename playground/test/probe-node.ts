/** The Node side of tensor.browser.test.ts: the same probe, printed as JSON (R=1: relaxed SIMD, with V8's flag on Node 20; THREADS=n). */
import { runProbe } from '../src/probe.js';

console.log(JSON.stringify(runProbe({ relaxedSimd: process.env.R === '1' ? true : false, threads: Number(process.env.THREADS ?? 1) })));
