/**
 * Agreement with an independent implementation: tfjs's own gradients (`tf.grads`, cpu backend) for conv2d
 * (with stride and padding; tfjs has no conv gradient with dilation, which the float64 gradient check in
 * gradients.test.ts covers), matmul (with batch broadcasting), max and average pooling, softmax and
 * log-softmax. Both sides compute in float32. tfjs is NHWC with [kH, kW, in, out] filters, so tensors are
 * transposed on the way in and out.
 *
 * Tolerance: float32 unit roundoff is 6e-8; every compared value is a sum of at most ~150 products of O(1)
 * normals, so accumulated rounding on either side stays below ~1e-5. |ours - tfjs| <= 1e-4 (1 + |tfjs|) leaves
 * a wide margin, while a wrong gradient (index, stride or transpose mistake) is off by O(1).
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  avgPool2d, conv2d, fromTypedArray, Generator, logSoftmax, matmul, maxPool2d, mul, permute, randn, softmax, sum, type Tensor,
} from '@oclt/tensor';
import { gradients } from './engine.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const NUM_RUNS = 12;
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

function expectClose(ours: Tensor, theirs: tf.Tensor, what: string): void {
  expect(ours.shape, what).toEqual(theirs.shape);
  const a = ours.toTypedArray();
  const b = theirs.dataSync();
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - b[i]!);
    if (!(err <= 1e-4 * (1 + Math.abs(b[i]!)))) throw new Error(`${what}: element ${i} is ${a[i]} here and ${b[i]} in tfjs`);
  }
}

const toTf = (t: Tensor) => tf.tensor(Array.from(t.toTypedArray()), [...t.shape], 'float32');
const nchwToNhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);
const nhwcToNchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);

/** Random float32 inputs that require gradients, plus a random weight W for the loss sum(y * W). */
function randomLeaves(seed: number, ...shapes: number[][]): Tensor[] {
  const g = new Generator(seed);
  return shapes.map((s) => randn(s, g).requiresGrad_());
}

describe('gradients agree with tfjs tf.grads (cpu backend, float32)', () => {
  it('conv2d with stride and padding', () => {
    const arb = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), o: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 3, max: 7 }), w: fc.integer({ min: 3, max: 7 }), k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }), padding: fc.integer({ min: 0, max: 1 }), seed: seedArb,
      })
      .filter((p) => Math.min(p.h, p.w) + 2 * p.padding >= p.k);
    fc.assert(
      fc.property(arb, (p) => {
        const [x, w] = randomLeaves(p.seed, [p.n, p.c, p.h, p.w], [p.o, p.c, p.k, p.k]) as [Tensor, Tensor];
        const opts = { stride: p.stride, padding: p.padding };
        const y = conv2d(x, w, null, opts);
        const weights = randn([...y.shape], new Generator(p.seed + 1));
        const [dx, dw] = gradients(sum(mul(y, weights)), [x, w]) as [Tensor, Tensor];

        const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [p.padding, p.padding], [p.padding, p.padding], [0, 0]];
        const W = nchwToNhwc(toTf(weights));
        const [tdx, tdw] = tf.grads((xt: tf.Tensor, ft: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(xt as tf.Tensor4D, ft as tf.Tensor4D, p.stride, pad), W)),
        )([nchwToNhwc(toTf(x)), tf.transpose(toTf(w), [2, 3, 1, 0])]) as [tf.Tensor, tf.Tensor];
        expectClose(dx, nhwcToNchw(tdx), 'conv2d dx');
        expectClose(dw, tf.transpose(tdw, [3, 2, 0, 1]), 'conv2d dw');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('matmul, plain and batched', () => {
    const arb = fc.record({
      m: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 5 }),
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), seed: seedArb,
    });
    fc.assert(
      fc.property(arb, (p) => {
        const [a, b] = randomLeaves(p.seed, [...p.batch, p.m, p.k], [...p.batch, p.k, p.n]) as [Tensor, Tensor];
        const y = matmul(a, b);
        const weights = randn([...y.shape], new Generator(p.seed + 1));
        const [da, db] = gradients(sum(mul(y, weights)), [a, b]) as [Tensor, Tensor];
        const W = toTf(weights);
        const [tda, tdb] = tf.grads((at: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(tf.matMul(at, bt), W)))([toTf(a), toTf(b)]) as [tf.Tensor, tf.Tensor];
        expectClose(da, tda, 'matmul da');
        expectClose(db, tdb, 'matmul db');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  const poolArb = fc
    .record({
      n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 2, max: 7 }), w: fc.integer({ min: 2, max: 7 }),
      k: fc.integer({ min: 1, max: 3 }), stride: fc.integer({ min: 1, max: 3 }), seed: seedArb,
    })
    .filter((p) => p.h >= p.k && p.w >= p.k);

  it('maxPool2d (no padding; random normals have no ties)', () => {
    fc.assert(
      fc.property(poolArb, (p) => {
        const [x] = randomLeaves(p.seed, [p.n, p.c, p.h, p.w]) as [Tensor];
        const y = maxPool2d(x, { kernel: p.k, stride: p.stride });
        const weights = randn([...y.shape], new Generator(p.seed + 1));
        const [dx] = gradients(sum(mul(y, weights)), [x]) as [Tensor];
        const W = nchwToNhwc(toTf(weights));
        const tdx = tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xt as tf.Tensor4D, p.k, p.stride, 'valid'), W)))(nchwToNhwc(toTf(x)));
        expectClose(dx, nhwcToNchw(tdx), 'maxPool2d dx');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // tfjs divides a padded window by its in-bounds count, this project by the full window (PyTorch's
  // count_include_pad=True), so average pooling is compared without padding.
  it('avgPool2d (no padding)', () => {
    fc.assert(
      fc.property(poolArb, (p) => {
        const [x] = randomLeaves(p.seed, [p.n, p.c, p.h, p.w]) as [Tensor];
        const y = avgPool2d(x, { kernel: p.k, stride: p.stride });
        const weights = randn([...y.shape], new Generator(p.seed + 1));
        const [dx] = gradients(sum(mul(y, weights)), [x]) as [Tensor];
        const W = nchwToNhwc(toTf(weights));
        const tdx = tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(xt as tf.Tensor4D, p.k, p.stride, 'valid'), W)))(nchwToNhwc(toTf(x)));
        expectClose(dx, nhwcToNchw(tdx), 'avgPool2d dx');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('softmax and logSoftmax along any axis (tfjs takes the last axis; both sides permute it there)', () => {
    const arb = fc
      .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 })
      .chain((shape) => fc.record({ shape: fc.constant(shape), axis: fc.integer({ min: 0, max: shape.length - 1 }), seed: seedArb, log: fc.boolean() }));
    fc.assert(
      fc.property(arb, (p) => {
        const [x] = randomLeaves(p.seed, p.shape) as [Tensor];
        const y = p.log ? logSoftmax(x, p.axis) : softmax(x, p.axis);
        const weights = randn([...y.shape], new Generator(p.seed + 1));
        const [dx] = gradients(sum(mul(y, weights)), [x]) as [Tensor];
        // Move the axis last for tfjs, and back.
        const perm = [...p.shape.keys()].filter((i) => i !== p.axis).concat(p.axis);
        const inverse = perm.map((_, i) => perm.indexOf(i));
        const W = tf.transpose(toTf(weights), perm);
        const fn = p.log ? tf.logSoftmax : tf.softmax;
        const tdx = tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(fn(xt), W)))(tf.transpose(toTf(x), perm));
        expectClose(dx, tf.transpose(tdx, inverse), `${p.log ? 'logSoftmax' : 'softmax'} dx`);
        expect(permute(dx, perm).shape).toEqual(tdx.shape);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// The same inputs through fromTypedArray: guards against the tests above comparing a tensor with itself.
it('the comparison helper rejects a wrong gradient', () => {
  const t = fromTypedArray(Float32Array.from([1, 2, 3]), [3]);
  expect(() => expectClose(t, tf.tensor([1, 2, 3.01]), 'probe')).toThrow(/element 2/);
});
