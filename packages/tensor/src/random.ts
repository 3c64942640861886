/**
 * Seeded random numbers: every stochastic function takes a `Generator`, so the same seed gives the same bits.
 *
 * The engine is xoshiro128** (Blackman & Vigna), 32-bit arithmetic only so that it is fast in JavaScript,
 * seeded through SplitMix32. Uniform doubles use 53 random bits; normals use the Box-Muller transform.
 * `getState()` / `setState()` let a trainer checkpoint and resume the exact stream.
 */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Generator: seed must be a finite number, got ${seed}`);
    this.seed(seed);
  }

  /**
   * Resets the stream from a seed (an integer; fractions are truncated). The low 32 bits seed the first two state
   * words and the high bits are mixed into the last two, so distinct safe-integer seeds give distinct streams.
   */
  seed(seed: number): this {
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    let x = seed >>> 0;
    const next = () => {
      // SplitMix32 step.
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    x ^= hi; // zero for seeds below 2^32
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    return this;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Fills `out` with `hit` where a 32-bit draw is at least `threshold`, else `miss`, one draw per element in order:
   * bit for bit what `out[i] = g.nextUint32() >= threshold ? hit : miss` gives, and leaves the same state, but with
   * the state in locals (a dropout mask of a million elements: measured several times faster than that loop).
   */
  fillThreshold(out: { length: number; [i: number]: number }, threshold: number, hit: number, miss: number): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    const n = out.length;
    for (let i = 0; i < n; i++) {
      const x = Math.imul(s1, 5);
      const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = result >= threshold ? hit : miss;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [low, high) without modulo bias. */
  integer(low: number, high: number): number {
    const span = high - low;
    if (!Number.isInteger(low) || !Number.isInteger(high) || span <= 0 || span > 2 ** 32) {
      throw new RangeError(`Generator.integer: need integers low < high with high - low <= 2^32, got [${low}, ${high})`);
    }
    const limit = Math.floor(2 ** 32 / span) * span;
    let r: number;
    do r = this.nextUint32();
    while (r >= limit);
    return low + (r % span);
  }

  /** A standard normal draw (Box-Muller; uses two uniforms, no cached spare, so the state stays four words). */
  normal(): number {
    const u1 = 1 - this.random(); // (0, 1]
    const u2 = this.random();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out` with standard normals, using both Box-Muller outputs per pair of uniforms. */
  fillNormal(out: { length: number; [i: number]: number }, mean = 0, std = 1): void {
    const n = out.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.random()));
      const th = 2 * Math.PI * this.random();
      out[i] = mean + std * r * Math.cos(th);
      out[i + 1] = mean + std * r * Math.sin(th);
    }
    if (i < n) out[i] = mean + std * this.normal();
  }

  /** Draws an index from unnormalised non-negative weights (inverse CDF). */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`Generator.categorical: weight ${i} is ${w}; weights must be finite and >= 0`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('Generator.categorical: weights sum to zero');
    let u = this.random() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i]!;
      if (u < 0) return i;
    }
    // Rounding can leave u >= 0 after the last weight: return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
    return weights.length - 1;
  }

  /** Fisher-Yates shuffle of [0, n). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(0, i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  /** A new generator with an independent stream derived from this one (advances this one). */
  spawn(): Generator {
    const g = new Generator(0);
    g.setState([this.nextUint32(), this.nextUint32(), this.nextUint32(), (this.nextUint32() | 1) >>> 0]);
    return g;
  }

  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: readonly number[]): this {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w >= 2 ** 32)) {
      throw new RangeError(`Generator.setState: expected four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new RangeError('Generator.setState: the all-zero state is invalid');
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w | 0) as [number, number, number, number];
    return this;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
