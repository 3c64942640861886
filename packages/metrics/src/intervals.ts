/**
 * Statistics for results over seeds: a mean with its Student-t confidence interval, paired differences between
 * two arms run on the same seeds (the paired t interval and test), a seeded percentile bootstrap, and whether an
 * interval excludes 0 ("significant" at the interval's level).
 *
 * The t quantiles are computed, not tabulated: the Student t CDF is a regularized incomplete beta function,
 *   P(T > t) = I_{df / (df + t^2)}(df / 2, 1 / 2) / 2   (t >= 0),
 * evaluated by its continued fraction (modified Lentz), and the quantile inverts it by safeguarded Newton steps
 * (bisection whenever a step leaves the bracket). Any real df > 0 works (e.g. Welch's), to ~1e-12 relative.
 *
 * Which interval to report: with the 3-5 seeds a study can afford, the t interval is the honest one (it is exact
 * for normal data, and a mean of FIDs over seeds is close to normal); the percentile bootstrap is too narrow for so
 * few values (a resample of 3 values has only 10 distinct means) and is meant for larger n or for statistics
 * without a t theory. Browser-safe.
 */
import { Generator } from '@oclt/tensor';

// ---- special functions --------------------------------------------------------------------------------------

/** Lanczos coefficients (g = 7, 9 terms): log Gamma to ~1e-15 relative for x > 0. */
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Gamma(x) for x > 0 (reflection for x < 1/2). */
export function logGamma(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`logGamma: x must be a finite number > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let s = LANCZOS[0]!;
  for (let k = 1; k < LANCZOS.length; k++) s += LANCZOS[k]! / (z + k);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b). */
function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/**
 * The continued fraction of I_x(a, b) (its even and odd terms d_2m = m (b - m) x / ((a + 2m - 1)(a + 2m)),
 * d_2m+1 = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))), by the modified Lentz method. Converges fast for
 * x < (a + 1) / (a + b + 2); the caller uses the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
 */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) return h;
  }
  throw new Error(`regularizedIncompleteBeta: the continued fraction did not converge for x = ${x}, a = ${a}, b = ${b}`);
}

/**
 * I_x(a, b) and 1 - I_x(a, b), given x and y = 1 - x separately (so that a y computed without cancellation keeps
 * its digits). The side the continued fraction computes is accurate to ~1e-15 relative however small it is; the
 * other is 1 minus it, which is only done where the computed side is not near 1.
 */
function incompleteBetaBoth(x: number, y: number, a: number, b: number): { lower: number; upper: number } {
  if (x <= 0) return { lower: 0, upper: 1 };
  if (y <= 0) return { lower: 1, upper: 0 };
  const front = Math.exp(a * Math.log(x) + b * Math.log(y) - logBeta(a, b));
  if (x < (a + 1) / (a + b + 2)) {
    const lower = (front * betaContinuedFraction(x, a, b)) / a;
    return { lower, upper: 1 - lower };
  }
  const upper = (front * betaContinuedFraction(y, b, a)) / b;
  return { lower: 1 - upper, upper };
}

/** The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), for x in [0, 1], a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0) || !Number.isFinite(a) || !Number.isFinite(b)) throw new RangeError(`regularizedIncompleteBeta: a and b must be finite and > 0, got a = ${a}, b = ${b}`);
  if (!(x >= 0 && x <= 1)) throw new RangeError(`regularizedIncompleteBeta: x must be in [0, 1], got ${x}`);
  return incompleteBetaBoth(x, 1 - x, a, b).lower;
}

function checkDf(caller: string, df: number): void {
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`${caller}: degrees of freedom must be a finite number > 0, got ${df}`);
}

/** P(T > t) = I_x(df / 2, 1 / 2) / 2 for t >= 0, x = df / (df + t^2), with 1 - x = t^2 / (df + t^2) passed exactly. */
function upperTail(t: number, df: number): number {
  const t2 = t * t;
  if (t2 === Infinity) return 0;
  return 0.5 * incompleteBetaBoth(df / (df + t2), t2 / (df + t2), df / 2, 0.5).lower;
}

/** The Student t CDF P(T <= t) with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  checkDf('studentTCdf', df);
  if (Number.isNaN(t)) throw new RangeError('studentTCdf: t is NaN');
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  return t >= 0 ? 1 - upperTail(t, df) : upperTail(-t, df);
}

/** The Student t density. */
export function studentTPdf(t: number, df: number): number {
  checkDf('studentTPdf', df);
  return Math.exp(logGamma((df + 1) / 2) - logGamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/** The quantile t_{p, df}: P(T <= t) = p, e.g. studentTQuantile(0.975, 4) = 2.776445... */
export function studentTQuantile(p: number, df: number): number {
  checkDf('studentTQuantile', df);
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  // Solve for the smaller tail probability q, which keeps precision far out (1 - p is exact for p >= 1/2; for
  // p < 1/2, 1 - p would round away the digits of a tiny p): by symmetry t_p = -t_{1-p}.
  return p > 0.5 ? upperTailQuantile(1 - p, df) : -upperTailQuantile(p, df);
}

/** The t >= 0 with P(T > t) = q, for q in (0, 1/2). */
function upperTailQuantile(q: number, df: number): number {
  // Bracket [lo, hi] with upperTail(lo) >= q > upperTail(hi).
  let lo = 0;
  let hi = 1;
  while (upperTail(hi, df) > q) {
    lo = hi;
    hi *= 2;
    if (!Number.isFinite(hi)) return Infinity;
  }
  let t = (lo + hi) / 2;
  for (let iter = 0; iter < 200; iter++) {
    const f = upperTail(t, df) - q; // decreasing in t
    if (f > 0) lo = t;
    else hi = t;
    if (f === 0) return t;
    const newton = t + f / studentTPdf(t, df);
    const next = newton > lo && newton < hi ? newton : (lo + hi) / 2;
    if (Math.abs(next - t) <= 1e-15 * Math.max(1, Math.abs(t)) || hi - lo <= 4e-16 * hi) return next;
    t = next;
  }
  return t;
}

// ---- intervals ---------------------------------------------------------------------------------------------

function checkLevel(caller: string, level: number): void {
  if (!(level > 0 && level < 1)) throw new RangeError(`${caller}: level must be in (0, 1), e.g. 0.95, got ${level}`);
}

function finiteValues(caller: string, name: string, values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  if (out.length === 0) throw new RangeError(`${caller}: ${name} is empty`);
  out.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`${caller}: ${name}[${i}] = ${v} is not a finite number`);
  });
  return out;
}

export interface MeanInterval {
  /** Number of values (seeds). */
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); NaN for n = 1. */
  sd: number;
  /** sd / sqrt(n). */
  standardError: number;
  /** n - 1. */
  df: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  /** mean -+ t_{(1 + level) / 2, n - 1} * standardError; NaN for n = 1 (one value has no interval). */
  low: number;
  high: number;
  halfWidth: number;
}

/** Mean of the values and its Student-t confidence interval (default 95%). */
export function meanInterval(values: ArrayLike<number>, level = 0.95): MeanInterval {
  const caller = 'meanInterval';
  checkLevel(caller, level);
  const x = finiteValues(caller, 'values', values);
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : NaN;
  const standardError = sd / Math.sqrt(n);
  const halfWidth = n > 1 ? studentTQuantile((1 + level) / 2, n - 1) * standardError : NaN;
  return { n, mean, sd, standardError, df: n - 1, level, low: mean - halfWidth, high: mean + halfWidth, halfWidth };
}

/** Whether an interval lies entirely on one side of 0 (false when its bounds are NaN). */
export function excludesZero(interval: { low: number; high: number }): boolean {
  return interval.low > 0 || interval.high < 0;
}

export interface PairedDifference extends MeanInterval {
  /** a_i - b_i, seed by seed. */
  differences: Float64Array;
  /** t = mean / standardError of the differences. */
  tStatistic: number;
  /** Two-sided p-value of the paired t-test of mean difference 0 (NaN for one pair). */
  pValue: number;
  /** The interval excludes 0 (equivalently pValue < 1 - level). */
  significant: boolean;
}

/**
 * The paired difference a - b (a_i and b_i from the same seed i): the mean difference with its t interval, the
 * paired t-test and whether the difference is significant at `level`. Pairing removes the seed-to-seed variation
 * both arms share, so it is much tighter than comparing two separate intervals.
 */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>, level = 0.95): PairedDifference {
  const caller = 'pairedDifference';
  const x = finiteValues(caller, 'a', a);
  const y = finiteValues(caller, 'b', b);
  if (x.length !== y.length) throw new RangeError(`${caller}: a has ${x.length} values and b ${y.length}; pairs need the same seeds in both`);
  const differences = x.map((v, i) => v - y[i]!);
  const m = meanInterval(differences, level);
  let tStatistic: number;
  let pValue: number;
  if (m.n < 2) {
    tStatistic = NaN;
    pValue = NaN;
  } else if (m.standardError === 0) {
    // Identical differences: no spread, so any non-zero mean is certain (and 0 is not rejected).
    tStatistic = m.mean === 0 ? 0 : Math.sign(m.mean) * Infinity;
    pValue = m.mean === 0 ? 1 : 0;
  } else {
    tStatistic = m.mean / m.standardError;
    pValue = Math.min(1, 2 * upperTail(Math.abs(tStatistic), m.df));
  }
  return { ...m, differences, tStatistic, pValue, significant: excludesZero(m) };
}

export interface BootstrapOptions {
  /** Confidence level (default 0.95). */
  level?: number;
  /** Number of resamples (default 10,000). */
  resamples?: number;
  /** The statistic of a sample (default: the mean). */
  statistic?: (values: Float64Array) => number;
}

export interface BootstrapInterval {
  n: number;
  /** The statistic of the original values. */
  estimate: number;
  level: number;
  resamples: number;
  /** Percentile interval: the (1 - level) / 2 and (1 + level) / 2 quantiles of the resampled statistics. */
  low: number;
  high: number;
  /** The interval excludes 0. */
  significant: boolean;
}

const mean = (v: Float64Array) => v.reduce((s, x) => s + x, 0) / v.length;

/** The q-quantile of sorted values with linear interpolation between order statistics (R's type 7). */
function sortedQuantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  return i + 1 < sorted.length ? sorted[i]! + (h - i) * (sorted[i + 1]! - sorted[i]!) : sorted[i]!;
}

/** Percentile bootstrap interval of a statistic (default the mean), resampling the values with replacement from `gen`. */
export function bootstrapInterval(values: ArrayLike<number>, gen: Generator, opts: BootstrapOptions = {}): BootstrapInterval {
  const caller = 'bootstrapInterval';
  if (!(gen instanceof Generator)) throw new RangeError(`${caller}: gen must be a seeded Generator`);
  const level = opts.level ?? 0.95;
  checkLevel(caller, level);
  const resamples = opts.resamples ?? 10_000;
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`${caller}: resamples must be a positive integer, got ${resamples}`);
  const statistic = opts.statistic ?? mean;
  const x = finiteValues(caller, 'values', values);
  const n = x.length;
  const stats = new Float64Array(resamples);
  const draw = new Float64Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) draw[i] = x[gen.integer(0, n)]!;
    stats[r] = statistic(draw);
  }
  stats.sort();
  const low = sortedQuantile(stats, (1 - level) / 2);
  const high = sortedQuantile(stats, (1 + level) / 2);
  return { n, estimate: statistic(x), level, resamples, low, high, significant: excludesZero({ low, high }) };
}

/** Bootstrap of the paired differences a_i - b_i (seeds resampled as pairs). */
export function pairedBootstrapInterval(a: ArrayLike<number>, b: ArrayLike<number>, gen: Generator, opts: BootstrapOptions = {}): BootstrapInterval {
  const caller = 'pairedBootstrapInterval';
  const x = finiteValues(caller, 'a', a);
  const y = finiteValues(caller, 'b', b);
  if (x.length !== y.length) throw new RangeError(`${caller}: a has ${x.length} values and b ${y.length}; pairs need the same seeds in both`);
  return bootstrapInterval(
    x.map((v, i) => v - y[i]!),
    gen,
    opts,
  );
}
