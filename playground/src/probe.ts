/**
 * A representative part of the tensor suite as one function that runs the same way in Node and in a browser page:
 * GEMMs of several shapes (one split in GEMM blocks), conv2d forward and both gradients (through autograd),
 * softmax, silu, exp, sums over leading and trailing axes, a broadcast add, and a few Adam steps of a small MLP.
 *
 * Each case returns the bytes of its fast-kernel result as a hash (so Chromium's and Node's can be compared bit for
 * bit) and its largest error against the plain-TypeScript reference kernels relative to the largest reference
 * magnitude (so the page itself checks correctness, not only agreement).
 */
import * as T from '@oclt/tensor';
import { Adam, Linear, valueAndGrad } from '@oclt/autograd';
import '@oclt/autograd'; // installs backward() on tensors

export interface ProbeCase {
  name: string;
  shape: number[];
  /** FNV-1a of the float32 bytes, hex. */
  hash: string;
  /** max |fast - reference| / max |reference| */
  relErr: number;
}

export interface ProbeResult {
  info: string;
  crossOriginIsolated: boolean | null;
  cases: ProbeCase[];
}

function fnv1a(a: Float32Array): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0') + ':' + a.length;
}

const data = (t: T.Tensor) => T.contiguous(T.cast(t, 'float32')).toTypedArray() as Float32Array;

function relErr(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let e = 0;
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
    m = Math.max(m, Math.abs(want[i]!));
  }
  return e / (m || 1);
}

/** The cases: each builds its inputs from a fixed seed and returns float32 outputs. */
const CASES: Record<string, () => T.Tensor[]> = {
  'matmul 200x200x200': () => {
    const g = new T.Generator(1);
    return [T.matmul(T.randn([200, 200], g), T.randn([200, 200], g))];
  },
  'matmul 300x513x70 (blocked k)': () => {
    const g = new T.Generator(2);
    return [T.matmul(T.randn([300, 513], g), T.randn([513, 70], g))];
  },
  'batched matmul 4x33x65x17': () => {
    const g = new T.Generator(3);
    return [T.matmul(T.randn([4, 33, 65], g), T.randn([4, 65, 17], g))];
  },
  'conv2d 3x3 forward + grads 4x16x16x16': () => {
    const g = new T.Generator(4);
    const x = T.randn([4, 16, 16, 16], g);
    const w = T.mul(T.randn([32, 16, 3, 3], g), 0.1);
    const b = T.randn([32], g);
    const [y, grads] = valueAndGrad((xx: T.Tensor, ww: T.Tensor, bb: T.Tensor) => T.sum(T.silu(T.conv2d(xx, ww, bb, { padding: 1 }))), [0, 1, 2])(x, w, b) as unknown as [T.Tensor, T.Tensor[]];
    return [y, ...grads];
  },
  'conv2d 1x1 stride 2': () => {
    const g = new T.Generator(5);
    return [T.conv2d(T.randn([2, 8, 15, 15], g), T.randn([12, 8, 1, 1], g), null, { stride: 2 })];
  },
  'softmax 64x1000': () => [T.softmax(T.randn([64, 1000], new T.Generator(6)), -1)],
  'silu, sigmoid, exp 10000': () => {
    const x = T.randn([10000], new T.Generator(7));
    return [T.silu(x), T.sigmoid(x), T.exp(x)];
  },
  'sums 32x64x48': () => {
    const x = T.randn([32, 64, 48], new T.Generator(8));
    return [T.sum(x, [0, 1]), T.sum(x, -1), T.mean(x, 1)];
  },
  'broadcast add/mul 256x300 + 300': () => {
    const g = new T.Generator(9);
    const a = T.randn([256, 300], g);
    const b = T.randn([300], g);
    return [T.add(a, b), T.mul(a, b)];
  },
  'MLP 3 Adam steps': () => {
    const g = new T.Generator(10);
    const l1 = new Linear(2, 64, { generator: g });
    const l2 = new Linear(64, 2, { generator: g });
    const params = [...l1.parameters(), ...l2.parameters()];
    const opt = new Adam(params, { lr: 1e-2 });
    const x = T.randn([128, 2], g);
    const out: T.Tensor[] = [];
    for (let s = 0; s < 3; s++) {
      opt.zeroGrad();
      const loss = T.mean(T.square(T.sub(l2.forward(T.silu(l1.forward(x))), x)));
      loss.backward();
      opt.step();
      out.push(loss.detach());
    }
    return [...out, ...params.map((p) => T.add(p.detach(), 0))];
  },
};

/** Runs every case on the fast kernels (as the page has them, on `threads` threads, default 1) and on the reference kernels. */
export function runProbe(opts: { relaxedSimd?: boolean | 'auto'; threads?: number } = {}): ProbeResult {
  const relaxed = opts.relaxedSimd ?? 'auto';
  T.setCpuKernels('fast', { relaxedSimd: relaxed });
  T.cpuThreads(opts.threads ?? 1);
  const info = T.getBackend('cpu').info();
  const cases: ProbeCase[] = [];
  for (const [name, make] of Object.entries(CASES)) {
    T.setCpuKernels('fast', { relaxedSimd: relaxed });
    const fast = make().map(data);
    T.setCpuKernels('reference');
    const ref = make().map(data);
    T.setCpuKernels('fast', { relaxedSimd: relaxed });
    const all = new Float32Array(fast.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of fast) all.set(a, (o += a.length) - a.length);
    cases.push({ name, shape: fast.map((a) => a.length), hash: fnv1a(all), relErr: Math.max(...fast.map((a, i) => relErr(a, ref[i]!))) });
  }
  const coi = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return { info, crossOriginIsolated: coi ?? null, cases };
}
