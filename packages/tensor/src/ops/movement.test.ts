/**
 * Views and copies. Oracles: index arithmetic on plain arrays written here (a permuted / sliced / flipped element
 * is looked up by its multi-index), NumPy's documented slice rules, and storage identity for "never copies".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../index.js';
import { add, arange, broadcastTo, clone, contiguous, expand, flatten, flip, narrow, permute, reshape, sizeOf, slice, squeeze, tensor, transpose, unsqueeze, view, zeros } from '../index.js';
import { expectClose, expectOpError, FC, fromCase, layoutArb, makeTensor, ravel, shapeArb, tensorCaseArb, unravel, valuesOf } from '../test-helpers.js';

const caseArb = tensorCaseArb(shapeArb({ maxRank: 4, minDim: 1, maxDim: 4 }));

describe('non-contiguous test inputs', () => {
  it('makeTensor views read back the logical values (checks slice/flip/permute against independent placement)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t, values } = fromCase(c);
        expect(valuesOf(t)).toEqual(values);
        expect([...t.shape]).toEqual(c.shape);
      }),
      FC,
    );
  });
});

describe('views never copy', () => {
  it('permute, transpose, expand, slice, narrow, flip, squeeze, unsqueeze share storage', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t } = fromCase(c);
        const same = (v: { storage: unknown }) => expect(v.storage).toBe(t.storage);
        const r = t.ndim;
        same(permute(t, [...Array(r).keys()].reverse()));
        if (r >= 2) same(transpose(t, 0, -1));
        same(expand(t, [2, ...t.shape]));
        same(slice(t, t.shape.map(() => [null, null, 2] as const)));
        same(flip(t, [...Array(r).keys()]));
        same(unsqueeze(t, 0));
        same(squeeze(unsqueeze(t, r)));
        if (r >= 1) same(narrow(t, 0, 0, 1));
      }),
      FC,
    );
  });

  it('contiguous() returns the same tensor when row-major and a copy otherwise', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t, values } = fromCase(c);
        const k = contiguous(t);
        if (t.isContiguous) expect(k).toBe(t);
        else {
          expect(k.storage).not.toBe(t.storage);
          expect(k.isContiguous).toBe(true);
        }
        expect(valuesOf(k)).toEqual(values);
      }),
      FC,
    );
  });

  it('clone() always copies', () => {
    const t = arange(6).reshape(2, 3);
    const c = clone(t);
    expect(c.storage).not.toBe(t.storage);
    expect(c.toArray()).toEqual(t.toArray());
  });

  it('writes through the backing array are visible in every view (they alias)', () => {
    const t = arange(6, undefined, 1, 'float32');
    const v = flip(reshape(t, [2, 3]), 1);
    t.dataSync()[0] = 100;
    expect(v.toArray()).toEqual([[2, 1, 100], [5, 4, 3]]);
  });
});

describe('reshape', () => {
  it('is a view for contiguous inputs and matches the row-major order', () => {
    fc.assert(
      fc.property(shapeArb({ maxRank: 4 }), fc.nat(), (shape, seed) => {
        const n = sizeOf(shape);
        const t = arange(n);
        // Target: a random factorisation of n into up to 3 dims, in a different rank.
        const target = n % 2 === 0 ? [2, n / 2] : [n, 1];
        const r = reshape(t, target);
        expect(r.storage).toBe(t.storage);
        expect(valuesOf(r)).toEqual([...Array(n).keys()]);
        void seed;
      }),
      FC,
    );
  });

  it('copies only when no view exists, and the values always follow the logical row-major order', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 0, max: 3 }), (c, which) => {
        const { t, values } = fromCase(c);
        const n = values.length;
        const targets = [[n], [1, n, 1], [-1], n % 2 === 0 ? [n / 2, -1] : [-1, n]];
        const r = reshape(t, targets[which]!);
        expect(valuesOf(r)).toEqual(values);
        // Independent check of "when a view exists": flattening is a view iff the non-unit axes form one
        // arithmetic progression of addresses; test that by reading the storage positions.
        const positions = values.map((_, i) => {
          const idx = unravel(i, t.shape);
          return t.offset + idx.reduce((s, x, k) => s + x * t.strides[k]!, 0);
        });
        const step = positions.length > 1 ? positions[1]! - positions[0]! : 1;
        const arithmetic = positions.every((p, i) => p === positions[0]! + i * step);
        if (which !== 3 || n % 2 !== 0) {
          // Flattening to one non-unit axis.
          expect(r.storage === t.storage).toBe(arithmetic);
        }
      }),
      FC,
    );
  });

  it('view() throws where reshape would copy', () => {
    const t = transpose(arange(6).reshape(2, 3));
    expectOpError(() => view(t, [6]), 'view', '[3, 2]', '[6]');
    expect(reshape(t, [6]).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('keeps splitting and merging axes of a sliced view as views', () => {
    // [4, 6] sliced to columns 0..5 step 1 then split into [4, 2, 3]: a view (the column axis is contiguous).
    const base = arange(24).reshape(4, 6);
    const s = slice(base, [[0, 4, 2], null]); // rows 0 and 2
    const r = reshape(s, [2, 2, 3]);
    expect(r.storage).toBe(base.storage);
    expect(r.toArray()).toEqual([[[0, 1, 2], [3, 4, 5]], [[12, 13, 14], [15, 16, 17]]]);
    // Merging the two rows is impossible without a copy (they are 12 apart, not 6).
    const m = reshape(s, [12]);
    expect(m.storage).not.toBe(base.storage);
    expect(m.toArray()).toEqual([0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]);
  });

  it('rejects impossible shapes naming the op', () => {
    const t = zeros([2, 3]);
    expectOpError(() => reshape(t, [4]), 'reshape', '[2, 3]', '[4]');
    expectOpError(() => reshape(t, [-1, -1]), 'reshape');
    expectOpError(() => reshape(t, [-1, 4]), 'reshape');
    expectOpError(() => reshape(t, [2.5, 2]), 'reshape');
  });

  it('flatten merges an axis range', () => {
    const { t, values } = fromCase({ shape: [2, 3, 4], seed: 3, layout: { perm: [2, 0, 1], flips: [true, false, true], steps: [2, 1, 3], starts: [1, 0, 2], tails: [1, 1, 0] } });
    expectClose(flatten(t, 1), values, [2, 12]);
    expectClose(flatten(t), values, [24]);
    expectClose(flatten(t, 0, 1), values, [6, 4]);
    expectOpError(() => flatten(t, 2, 1), 'flatten');
  });
});

describe('permute / transpose', () => {
  it('moves axes: out[i_0..] = x[i_perm^-1..]', () => {
    fc.assert(
      fc.property(caseArb.chain((c) => fc.tuple(fc.constant(c), fc.shuffledSubarray([...Array(c.shape.length).keys()], { minLength: c.shape.length, maxLength: c.shape.length }))), ([c, perm]) => {
        const { t, values } = fromCase(c);
        const p = permute(t, perm);
        const outShape = perm.map((a) => c.shape[a]!);
        const expected = Array.from({ length: values.length }, (_, i) => {
          const o = unravel(i, outShape);
          const src = new Array<number>(c.shape.length);
          perm.forEach((a, k) => (src[a] = o[k]!));
          return values[ravel(src, c.shape)]!;
        });
        expectClose(p, expected, outShape);
      }),
      FC,
    );
  });

  it('T reverses all axes; transpose swaps two', () => {
    const t = arange(24).reshape(2, 3, 4);
    expect(t.T.shape).toEqual([4, 3, 2]);
    expect(t.T.toArray()[3][2][1]).toBe(1 * 12 + 2 * 4 + 3);
    expect(transpose(t, 0, 2).toArray()[3][1][0]).toBe(0 * 12 + 1 * 4 + 3);
  });

  it('rejects non-permutations', () => {
    const t = zeros([2, 3]);
    expectOpError(() => permute(t, [0]), 'permute', '[2, 3]');
    expectOpError(() => permute(t, [0, 0]), 'permute', 'not a permutation');
    expectOpError(() => permute(t, [0, 2]), 'permute', 'axis 2');
    expectOpError(() => transpose(zeros([3])), 'transpose', '[3]');
  });
});

describe('expand / broadcastTo', () => {
  it('repeats size-1 axes with stride 0 and adds leading axes', () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), fc.nat(), (c, lead, mask) => {
        // Make some axes size 1 so they can be expanded.
        const shape = c.shape.map((d, i) => ((mask >> i) & 1 ? 1 : d));
        const { t, values } = fromCase({ ...c, shape });
        const target = [...lead, ...shape.map((d, i) => (d === 1 ? 1 + ((mask >> (i + 4)) & 3) : d))];
        const e = expand(t, target);
        expect(e.storage).toBe(t.storage);
        const expected = Array.from({ length: sizeOf(target) }, (_, i) => {
          const o = unravel(i, target).slice(lead.length);
          return values[ravel(o.map((x, k) => (shape[k] === 1 ? 0 : x)), shape)]!;
        });
        expectClose(e, expected, target);
        // -1 keeps a dimension.
        expect(expand(t, [...lead, ...shape.map(() => -1)]).shape).toEqual([...lead, ...shape]);
      }),
      FC,
    );
  });

  it('rejects a non-1 axis that differs, and fewer dims', () => {
    expectOpError(() => expand(zeros([2, 3]), [2, 4]), 'expand', '[2, 3]', '[2, 4]');
    expectOpError(() => expand(zeros([2, 3]), [3]), 'expand');
    expectOpError(() => broadcastTo(zeros([2, 3]), [3, 3]), 'broadcastTo');
  });
});

/** Python's slice.indices + range, written from the language reference. */
function pySliceIndices(dim: number, start: number | null, stop: number | null, step: number): number[] {
  const norm = (v: number, lo: number, hi: number) => {
    if (v < 0) v += dim;
    return v < lo ? lo : v > hi ? hi : v;
  };
  let s: number;
  let e: number;
  if (step > 0) {
    s = start === null ? 0 : norm(start, 0, dim);
    e = stop === null ? dim : norm(stop, 0, dim);
  } else {
    s = start === null ? dim - 1 : norm(start, -1, dim - 1);
    e = stop === null ? -1 : norm(stop, -1, dim - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

describe('slice', () => {
  const bound = fc.option(fc.integer({ min: -7, max: 7 }), { nil: null });
  const specArb = fc.tuple(bound, bound, fc.integer({ min: -3, max: 3 }).filter((s) => s !== 0));

  it('follows Python/NumPy slicing on every axis (negative steps and out-of-range bounds included)', () => {
    fc.assert(
      fc.property(caseArb.chain((c) => fc.tuple(fc.constant(c), fc.array(specArb, { minLength: c.shape.length, maxLength: c.shape.length }))), ([c, specs]) => {
        const { t, values } = fromCase(c);
        const s = slice(t, specs);
        expect(s.storage).toBe(t.storage);
        const picks = specs.map(([a, b, st], k) => pySliceIndices(c.shape[k]!, a, b, st));
        const outShape = picks.map((p) => p.length);
        const expected = Array.from({ length: sizeOf(outShape) }, (_, i) => values[ravel(unravel(i, outShape).map((x, k) => picks[k]![x]!), c.shape)]!);
        expectClose(s, expected, outShape);
      }),
      FC,
    );
  });

  it('a number keeps the axis with size 1; null keeps it whole', () => {
    const t = arange(12).reshape(3, 4);
    expect(slice(t, [1]).toArray()).toEqual([[4, 5, 6, 7]]);
    expect(slice(t, [null, -1]).toArray()).toEqual([[3], [7], [11]]);
    expect(slice(t, [[null, null, -1], [1, 3]]).toArray()).toEqual([[9, 10], [5, 6], [1, 2]]);
  });

  it('rejects bad specs naming the op', () => {
    const t = arange(12).reshape(3, 4);
    expectOpError(() => slice(t, [5]), 'slice', 'index 5', 'axis 0');
    expectOpError(() => slice(t, [[0, 2, 0]]), 'slice', 'step');
    expectOpError(() => slice(t, [null, null, null]), 'slice', 'rank 2');
    // Fractional bounds would address between elements.
    expectOpError(() => slice(t, [[0.5, 2]]), 'slice');
    expectOpError(() => narrow(t, 1, 0.5, 2), 'narrow');
    expectOpError(() => narrow(t, 1, 3, 2), 'narrow', 'axis 1');
  });
});

describe('flip / squeeze / unsqueeze / narrow', () => {
  it('flip reverses the chosen axes', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), (c, mask) => {
        const { t, values } = fromCase(c);
        const axes = c.shape.flatMap((_, i) => ((mask >> i) & 1 ? [i] : []));
        const f = flip(t, axes);
        expect(f.storage).toBe(t.storage);
        const expected = values.map((_, i) => values[ravel(unravel(i, c.shape).map((x, k) => (axes.includes(k) ? c.shape[k]! - 1 - x : x)), c.shape)]!);
        expectClose(f, expected, c.shape);
      }),
      FC,
    );
  });

  it('squeeze / unsqueeze change only size-1 axes', () => {
    const { t, values } = fromCase({ shape: [3, 1, 2, 1], seed: 5, layout: { perm: [3, 2, 1, 0], flips: [true, true, false, false], steps: [1, 2, 1, 3], starts: [1, 0, 1, 0], tails: [0, 1, 0, 1] } });
    expectClose(squeeze(t), values, [3, 2]);
    expectClose(squeeze(t, 1), values, [3, 2, 1]);
    expectClose(squeeze(t, [-1, 1]), values, [3, 2]);
    expectClose(unsqueeze(t, -1), values, [3, 1, 2, 1, 1]);
    expectClose(unsqueeze(t, 0), values, [1, 3, 1, 2, 1]);
    expectOpError(() => squeeze(t, 0), 'squeeze', 'axis 0', 'size 3');
    expectOpError(() => unsqueeze(t, 6), 'unsqueeze', 'axis 6');
  });

  it('views of views compose (slice of a flip of a permute) and elementwise ops read them correctly', () => {
    const x = arange(24, undefined, 1, 'float32').reshape(2, 3, 4);
    const v = slice(flip(permute(x, [2, 0, 1]), [0, 2]), [[null, null, 2], null, [1, 3]]);
    // Oracle by hand: permute -> [4, 2, 3] with p[a][b][c] = x[b][c][a]; flip axes 0 and 2; take a in {3, 1}
    // (flipped rows 0 and 2), c' in {1, 2} -> c = 2 - c' in {1, 0}.
    const expected: number[] = [];
    for (const a of [3, 1]) for (let b = 0; b < 2; b++) for (const c of [1, 0]) expected.push(b * 12 + c * 4 + a);
    expectClose(v, expected, [2, 2, 2]);
    expectClose(add(v, 1), expected.map((e) => e + 1), [2, 2, 2]);
  });
});

describe('tensor() round trip', () => {
  it('toArray gives back nested arrays', () => {
    const values = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
    expect(tensor(values).toArray()).toEqual(values);
    expect(makeTensor([1, 2, 3, 4, 5, 6], [2, 3], 'int32', { perm: [1, 0], flips: [true, false], steps: [2, 1], starts: [1, 0], tails: [1, 0] }).toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });
});

describe('layout invariance: every op gives the same result on a view as on a row-major copy of its values', () => {
  // Metamorphic oracle: the contiguous input is built from plain values (not from the view), and each op is
  // checked against float64 references in its own test file; here only the layout changes. Expanded (stride-0)
  // and strided/flipped/permuted views of 4-D inputs go through reductions, softmax, matmul, conv2d and pooling.
  const arb = fc.record({
    shape: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 2, max: 4 })),
    ones: fc.nat({ max: 15 }),
    seed: fc.nat(),
    layout: layoutArb(4),
  });
  it('reductions, softmax, matmul, conv2d, pooling, gather, concat, pad, reshape, cast', () => {
    fc.assert(
      fc.property(arb, ({ shape, ones, seed, layout }) => {
        // Some axes of size 1 in storage, expanded to the full shape (stride 0).
        const small = shape.map((d, i) => ((ones >> i) & 1 ? 1 : d));
        const sv = Array.from({ length: sizeOf(small) }, (_, i) => Math.round(Math.sin(seed + i) * 1000) / 250);
        const view = expand(makeTensor(sv, small, 'float64', layout), shape);
        const values = Array.from({ length: sizeOf(shape) }, (_, i) => sv[ravel(unravel(i, shape).map((x, k) => (small[k] === 1 ? 0 : x)), small)]!);
        const dense = tensor(values, 'float64').reshape(shape);
        const same = (a: import('../index.js').Tensor, b: import('../index.js').Tensor) => expectClose(a, valuesOf(b), [...b.shape], { rtol: 1e-12, atol: 1e-12 });
        same(view.sum([1, 3]), dense.sum([1, 3]));
        same(view.max(2, true), dense.max(2, true));
        same(view.softmax(1), dense.softmax(1));
        same(view.matmul(view.transpose(2, 3)), dense.matmul(dense.transpose(2, 3)));
        const w = tensor(Array.from({ length: 2 * shape[1] * 4 }, (_, i) => (i % 5) - 2), 'float64').reshape([2, shape[1], 2, 2]);
        same(T.conv2d(view, w, null, { padding: 1 }), T.conv2d(dense, w, null, { padding: 1 }));
        same(T.maxPool2d(view, { kernel: 2, stride: 1 }), T.maxPool2d(dense, { kernel: 2, stride: 1 }));
        same(T.avgPool2d(view, { kernel: 2, padding: 1 }), T.avgPool2d(dense, { kernel: 2, padding: 1 }));
        same(T.gather(view, 3, T.zeros(shape, 'int32')), T.gather(dense, 3, T.zeros(shape, 'int32')));
        same(T.concat([view, dense], 2), T.concat([dense, dense], 2));
        same(T.pad(view, [1, 0, 0, 2]), T.pad(dense, [1, 0, 0, 2]));
        same(view.reshape([-1]), dense.reshape([-1]));
        same(view.astype('float32'), dense.astype('float32'));
      }),
      { numRuns: 30 },
    );
  });

  it('zero-size tensors pass through views and ops', () => {
    const e = zeros([2, 0, 3]);
    expect(slice(e, [null, [null, null, -1]]).shape).toEqual([2, 0, 3]);
    expect(flip(e, 1).shape).toEqual([2, 0, 3]);
    expect(reshape(e, [0, 6]).shape).toEqual([0, 6]);
    expect(permute(e, [2, 0, 1]).contiguous().shape).toEqual([3, 2, 0]);
    expect(add(e, 1).shape).toEqual([2, 0, 3]);
    expect(T.sum(e, 1).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(T.matmul(zeros([2, 0]), zeros([0, 3])).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });
});
