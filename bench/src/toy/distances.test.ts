import { describe, expect, it } from 'vitest';
import { Generator } from '@oclt/tensor';
import { nearestMeanShares, slicedWasserstein } from './distances.js';

function cloud(n: number, shift: [number, number], seed: number): Float64Array {
  const g = new Generator(seed);
  const out = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = shift[0] + g.normal();
    out[2 * i + 1] = shift[1] + g.normal();
  }
  return out;
}

describe('slicedWasserstein', () => {
  it('is zero between a set and itself', () => {
    const a = cloud(300, [0, 0], 1);
    expect(slicedWasserstein(a, a, 2)).toBe(0);
  });

  it('equals |d| * E|cos theta| = 2|d|/pi for a set and its translate by d (closed form in 2-D)', () => {
    const a = cloud(500, [0, 0], 2);
    const shifted = a.map((v, i) => v + (i % 2 === 0 ? 3 : -4)); // |d| = 5
    // Translation moves every projected quantile by <d, theta>; averaging |<d, theta>| over 4096 random directions
    // has a Monte-Carlo standard error of about 5 * 0.31 / 64 = 0.024, so 0.08 is > 3 standard errors.
    expect(Math.abs(slicedWasserstein(a, shifted, 2, 4096) - 10 / Math.PI)).toBeLessThan(0.08);
  });

  it('tells near from far and rejects bad input', () => {
    const a = cloud(400, [0, 0], 3);
    const near = cloud(400, [0, 0], 4);
    const far = cloud(400, [2, 0], 5);
    expect(slicedWasserstein(a, near, 2)).toBeLessThan(slicedWasserstein(a, far, 2));
    expect(() => slicedWasserstein([1, 2, 3], [1, 2], 2)).toThrow(/multiples of dim/);
    expect(() => slicedWasserstein([], [1, 2], 2)).toThrow(/non-empty/);
  });
});

describe('nearestMeanShares', () => {
  it('counts points by their nearest mean', () => {
    const pts = [0, 3.9, 0.1, 4.2, 0, -4.1];
    expect(nearestMeanShares(pts, 2, [[0, 4], [0, -4]])).toEqual([2 / 3, 1 / 3]);
  });
});
