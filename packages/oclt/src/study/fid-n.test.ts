import { describe, expect, it } from 'vitest';
import { disjointSubsets, fidAgainstN } from './fid-n.js';

describe('FID against N', () => {
  it('splits conditional samples into disjoint class-balanced sets, unconditional ones into chunks', () => {
    // Labels grouped by class as the samplers write them (3 classes x 4), then 3 more of each class appended.
    const labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    const sets = disjointSubsets(labels.length, 6, labels, 3);
    expect(sets.map((s) => Array.from(s))).toEqual([
      [0, 1, 4, 5, 8, 9],
      [2, 3, 6, 7, 10, 11],
      [12, 13, 15, 16, 18, 19],
    ]);
    const seen = new Set(sets.flatMap((s) => Array.from(s)));
    expect(seen.size).toBe(18); // disjoint
    for (const s of sets) expect([0, 1, 2].map((c) => Array.from(s).filter((i) => labels[i] === c).length)).toEqual([2, 2, 2]);
    expect(disjointSubsets(10, 4, null, 0).map((s) => Array.from(s))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(() => disjointSubsets(21, 7, labels, 3)).toThrow(/N = 7 is not a multiple of the 3 classes/);
    expect(() => disjointSubsets(21, 30, labels, 3)).toThrow(/N = 30 is more than the 21 samples/);
    expect(() => disjointSubsets(3, 3, [0, 1, 5], 3)).toThrow(/label 5 of sample 2 is outside 0\.\.2/);
  });

  it('scores every set and summarises the spread over sets (checked by hand)', () => {
    // A fake score: the sum of the rows of the set, so each set's value is known.
    const rows = fidAgainstN(12, [6, 3], null, 0, (r) => ({ fid: r.reduce((a, b) => a + b, 0), tail: r[0] === 0 ? null : r[0]! }));
    expect(rows.map((r) => [r.n, r.sets, r.fid])).toEqual([
      [3, 4, [3, 12, 21, 30]],
      [6, 2, [15, 51]],
    ]);
    // N = 3: values 3, 12, 21, 30: mean 16.5, sd sqrt(((13.5)^2 + 4.5^2) * 2 / 3) = sqrt(135) = 11.619.
    expect(rows[0]!.fidSummary!.mean).toBeCloseTo(16.5, 12);
    expect(rows[0]!.fidSummary!.sd).toBeCloseTo(Math.sqrt(135), 12);
    // The tail of the first set is missing: three values 3, 6, 9, mean 6.
    expect(rows[0]!.tailSummary!.mean).toBeCloseTo(6, 12);
    expect(rows[0]!.tailSummary!.n).toBe(3);
    expect(rows[1]!.fidSummary!.sd).toBeCloseTo(Math.sqrt(648), 12); // 15, 51: sd = 36 / sqrt(2)
  });
});
