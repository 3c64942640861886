/**
 * Elementwise, reduction and softmax kernels as emitted WebAssembly SIMD (4 float32 lanes).
 *
 * Binary ops take a 2-D view of each operand: element (r, i) of A is at a + (r aRow + i aStep) floats with
 * aStep 0 (broadcast along the row) or 1, which covers same-shape, scalar, row- and column-broadcast cases.
 * Sums accumulate in float64 (as the reference kernels do) in a fixed order: two f64x2 accumulators over
 * 4-float chunks, then the lanes, then the tail.
 */
import type { BinaryKernelName, UnaryKernelName } from '../../../kernel-names.js';
import type { FunctionBuilder, Local, ModuleBuilder } from './emitter.js';

const LOG2E = Math.LOG2E;
/** ln 2 split so that n * LN2_HI is exact for |n| < 2^15 (Cody and Waite). */
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
/** 1.5 * 2^23: adding it rounds a float32 of magnitude below 2^22 to an integer, held in the low mantissa bits. */
const ROUNDER = 12582912;
/**
 * c2..c6 of exp(r) ~ 1 + r + c2 r^2 + ... + c6 r^6 on |r| <= ln2 / 2, fitted for relative error and rounded
 * to float32 by packages/tensor/scripts/exp-poly.py: at most 3.8e-9 (0.06 of 2^-24), below the 7.0e-9 of the
 * degree-7 Taylor polynomial it replaced, with one multiply-add less.
 */
export const EXP_POLY = [0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.008368710055947304, 0.001381461275741458] as const;
const ROUNDER_BITS = 0x4b400000;

/** Temporary locals of one function, made on first use. */
class Temps {
  private readonly made = new Map<string, Local>();
  /** fma: the module may use relaxed-SIMD multiply-add (fused where the processor has FMA). */
  constructor(private readonly f: FunctionBuilder, readonly fma = false) {}
  v(name: string): Local {
    let l = this.made.get(name);
    if (!l) this.made.set(name, (l = this.f.local(name.startsWith('i') ? 'i32' : 'v128')));
    return l;
  }
}

/**
 * Pushes exp(x) for a v128 local x (lanes: float32). With `err`, computes exp(x + err) where err is a small
 * correction (used by softmax to carry the rounding error of x - max). Range reduction x = n ln2 + r,
 * |r| <= ln2 / 2, a degree-6 polynomial fitted for relative error (EXP_POLY), and 2^n applied in two halves so
 * that results in the subnormal range and overflow to infinity come out right. NaN stays NaN.
 * `scaledNonPositive` (softmax, where the argument x - max is <= 0) pushes exp(x) 2^64 instead: no result is then
 * subnormal, 2^(n + 64) is one normal float32, and the caller folds 2^-64 into a product it makes anyway.
 */
export function emitExp(f: FunctionBuilder, tmp: Temps, x: Local, err?: Local, opts: { scaledNonPositive?: boolean } = {}): void {
  const xc = tmp.v('exp.x'), n = tmp.v('exp.n'), r = tmp.v('exp.r'), p = tmp.v('exp.p'), ni = tmp.v('exp.ni'), half = tmp.v('exp.half');
  // Clamp to [-104, 89]: beyond these exp rounds to 0 or overflows in float32 anyway. pmin/pmax keep a NaN x
  // (the comparison is false) and cost less than min/max.
  if (opts.scaledNonPositive) f.get(x).f32x4(-104).op('f32x4.pmax').set(xc);
  else f.get(x).f32x4(89).op('f32x4.pmin').f32x4(-104).op('f32x4.pmax').set(xc);
  // n = round(x log2 e) by adding 1.5 * 2^23: the sum's low mantissa bits are n as an integer.
  f.get(xc).f32x4(LOG2E).op('f32x4.mul').f32x4(ROUNDER).op('f32x4.add').set(ni);
  f.get(ni).f32x4(ROUNDER).op('f32x4.sub').set(n);
  // n as an integer (ni), or for scaledNonPositive n + 64 + 127, the biased exponent of 2^(n + 64), in one step.
  f.get(ni).i32(opts.scaledNonPositive ? ROUNDER_BITS - 64 - 127 : ROUNDER_BITS).op('i32x4.splat').op('i32x4.sub').set(ni);
  f.get(xc).get(n).f32x4(LN2_HI).op('f32x4.mul').op('f32x4.sub');
  if (err) f.get(err).op('f32x4.add');
  f.get(n).f32x4(LN2_LO).op('f32x4.mul').op('f32x4.sub').set(r);
  // p = (1 + r) + r^2 ((c2 + c3 r) + r^2 ((c4 + c5 r) + c6 r^2)): Horner's scheme in r^2 with the odd terms
  // alongside: r^2, then 3 dependent multiply-adds (Horner's in r has 6); 5 multiply-adds, a product and a sum in
  // all (12 operations, 7 where relaxed SIMD fuses them).
  const [c2, c3, c4, c5, c6] = EXP_POLY;
  const r2 = tmp.v('exp.r2');
  // a * b + c for the pushers given; one rounding where the module uses relaxed SIMD and the processor fuses.
  const mulAdd = (a: () => void, b: () => void, c: () => void) => {
    a();
    b();
    if (tmp.fma) {
      c();
      f.op('f32x4.relaxed_madd');
    } else {
      f.op('f32x4.mul');
      c();
      f.op('f32x4.add');
    }
  };
  const get = (l: Local) => () => f.get(l);
  const k = (v: number) => () => f.f32x4(v);
  f.get(r).get(r).op('f32x4.mul').set(r2);
  mulAdd(get(r2), k(c6), () => mulAdd(get(r), k(c5), k(c4)));
  f.set(p);
  mulAdd(get(r2), get(p), () => mulAdd(get(r), k(c3), k(c2)));
  f.set(p);
  mulAdd(get(r2), get(p), () => f.get(r).f32x4(1).op('f32x4.add'));
  f.set(p);
  if (opts.scaledNonPositive) {
    // n in [-150, 0]: 2^(n + 64) is a normal float32.
    f.get(p).get(ni).i32(23).op('i32x4.shl').op('f32x4.mul');
    return;
  }
  // 2^n = 2^(n >> 1) * 2^(n - (n >> 1)), each half a normal float32 built from its exponent bits.
  f.get(ni).i32(1).op('i32x4.shr_s').set(half);
  const pow2 = (e: () => void) => {
    e();
    f.i32(127).op('i32x4.splat').op('i32x4.add').i32(23).op('i32x4.shl');
  };
  f.get(p);
  pow2(() => f.get(half));
  f.op('f32x4.mul');
  pow2(() => f.get(ni).get(half).op('i32x4.sub'));
  f.op('f32x4.mul');
}

/** Loops i over [0, n) in steps of 4 (SIMD body), then the tail one lane at a time. */
function simdLoop(f: FunctionBuilder, i: Local, n: Local | number, vector: () => void, scalar?: () => void): void {
  const end4 = f.local('i32');
  f.push(n).i32(-4).op('i32.and').set(end4);
  f.forRange(i, 0, end4, 4, vector);
  if (scalar) f.forRange(i, end4, n, 1, scalar);
}

const at = (f: FunctionBuilder, base: Local, i: Local) => () => f.get(base).get(i).i32(2).op('i32.shl').op('i32.add');

type Lanes = 'v' | 's';
type BinaryBody = (f: FunctionBuilder, a: () => void, b: () => void, lanes: Lanes, tmp: Temps) => void;

/** The binary ops: each pushes op(a, b) for 4 lanes (v) or one float32 (s), matching the reference rules. */
/** The binary kernels (kernel-names.ts) with a WebAssembly body. */
const BINARY: Partial<Record<BinaryKernelName, BinaryBody>> = {
  add: (f, a, b, l) => (a(), b(), f.op(l === 'v' ? 'f32x4.add' : 'f32.add')),
  sub: (f, a, b, l) => (a(), b(), f.op(l === 'v' ? 'f32x4.sub' : 'f32.sub')),
  mul: (f, a, b, l) => (a(), b(), f.op(l === 'v' ? 'f32x4.mul' : 'f32.mul')),
  div: (f, a, b, l) => (a(), b(), f.op(l === 'v' ? 'f32x4.div' : 'f32.div')),
  // maximum(a, b) = a > b or a is NaN ? a : b (NaN-propagating; ties give b, like the reference).
  maximum: (f, a, b, l, tmp) => pick(f, a, b, l, tmp, 'gt'),
  minimum: (f, a, b, l, tmp) => pick(f, a, b, l, tmp, 'lt'),
};

function pick(f: FunctionBuilder, a: () => void, b: () => void, l: Lanes, tmp: Temps, cmp: 'gt' | 'lt'): void {
  if (l === 's') {
    // Scalar lanes go through a splat so one code path keeps the exact select rule.
    a();
    f.op('f32x4.splat');
    b();
    f.op('f32x4.splat');
    pickVector(f, tmp, cmp);
    f.lane('f32x4.extract_lane', 0);
    return;
  }
  a();
  b();
  pickVector(f, tmp, cmp);
}

function pickVector(f: FunctionBuilder, tmp: Temps, cmp: 'gt' | 'lt'): void {
  const va = tmp.v('pick.a'), vb = tmp.v('pick.b');
  f.set(vb).set(va);
  f.get(va).get(vb);
  f.get(va).get(vb).op(cmp === 'gt' ? 'f32x4.gt' : 'f32x4.lt');
  f.get(va).get(va).op('f32x4.eq').op('v128.not').op('v128.or');
  f.op('v128.bitselect');
}

/** binary_<op>(a, aRow, aStep, b, bRow, bStep, out, rows, cols): out (rows x cols, row-major) = op(A, B). */
function emitBinary(m: ModuleBuilder, name: string, body: BinaryBody): FunctionBuilder {
  const f = m.func(`binary_${name}`, Array(9).fill('i32'));
  const [a, aRow, aStep, b, bRow, bStep, out, rows, cols] = Array.from({ length: 9 }, (_, i) => f.param(i));
  const tmp = new Temps(f);
  const r = f.local('i32'), i = f.local('i32'), pa = f.local('i32'), pb = f.local('i32'), po = f.local('i32');
  const va = f.local('v128'), vb = f.local('v128');
  const rowBase = (base: Local, stride: Local, dst: Local) => f.setI32(dst, () => f.get(base).get(r).get(stride).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
  // One specialised inner loop per broadcast pattern (aStep, bStep) in {0,1}^2.
  const variant = (aFull: boolean, bFull: boolean) => {
    f.forRange(r, 0, rows, 1, () => {
      rowBase(a, aRow, pa);
      rowBase(b, bRow, pb);
      f.setI32(po, () => f.get(out).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
      if (!aFull) f.get(pa).op('v128.load32_splat').set(va);
      if (!bFull) f.get(pb).op('v128.load32_splat').set(vb);
      simdLoop(f, i, cols, () => {
        at(f, po, i)();
        body(f, aFull ? () => at(f, pa, i)().op('v128.load') : () => f.get(va), bFull ? () => at(f, pb, i)().op('v128.load') : () => f.get(vb), 'v', tmp);
        f.op('v128.store');
      }, () => {
        at(f, po, i)();
        body(f, aFull ? () => at(f, pa, i)().op('f32.load') : () => f.get(pa).op('f32.load'), bFull ? () => at(f, pb, i)().op('f32.load') : () => f.get(pb).op('f32.load'), 's', tmp);
        f.op('f32.store');
      });
    });
  };
  f.ifThen(aStep, () => {
    f.ifThen(bStep, () => variant(true, true), () => variant(true, false));
  }, () => {
    f.ifThen(bStep, () => variant(false, true), () => variant(false, false));
  });
  return f;
}

type UnaryBody = (f: FunctionBuilder, x: Local, tmp: Temps) => void;

/** Unary ops on 4 lanes; the scalar tail reuses them through a splat. */
/** The unary kernels (kernel-names.ts) with a WebAssembly body. */
const UNARY: Partial<Record<UnaryKernelName, UnaryBody>> = {
  neg: (f, x) => f.get(x).op('f32x4.neg'),
  abs: (f, x) => f.get(x).op('f32x4.abs'),
  square: (f, x) => f.get(x).get(x).op('f32x4.mul'),
  sqrt: (f, x) => f.get(x).op('f32x4.sqrt'),
  // relu like the reference: NaN propagates, -0 gives +0 (both what WebAssembly's max does).
  relu: (f, x) => f.get(x).f32x4(0).op('f32x4.max'),
  exp: (f, x, tmp) => emitExp(f, tmp, x),
  sigmoid: (f, x, tmp) => sigmoid(f, x, tmp, false),
  silu: (f, x, tmp) => sigmoid(f, x, tmp, true),
};

/** sigmoid(x) = x >= 0 ? 1 / (1 + e) : e / (1 + e) with e = exp(-|x|) (never overflows); silu multiplies by x. */
function sigmoid(f: FunctionBuilder, x: Local, tmp: Temps, timesX: boolean): void {
  const nax = tmp.v('sig.nax'), e = tmp.v('sig.e'), d = tmp.v('sig.d');
  f.get(x).op('f32x4.abs').op('f32x4.neg').set(nax);
  emitExp(f, tmp, nax);
  f.set(e);
  f.f32x4(1).get(e).op('f32x4.add').set(d);
  if (timesX) {
    // x >= 0 ? x / (1 + e) : x e / (1 + e)
    f.get(x).get(d).op('f32x4.div');
    f.get(x).get(e).op('f32x4.mul').get(d).op('f32x4.div');
  } else {
    f.f32x4(1).get(d).op('f32x4.div');
    f.get(e).get(d).op('f32x4.div');
  }
  f.get(x).f32x4(0).op('f32x4.ge').op('v128.bitselect');
}

/** unary_<op>(src, dst, n). */
function emitUnary(m: ModuleBuilder, name: string, body: UnaryBody, fma: boolean): FunctionBuilder {
  const f = m.func(`unary_${name}`, ['i32', 'i32', 'i32']);
  const [src, dst, n] = [f.param(0), f.param(1), f.param(2)];
  const tmp = new Temps(f, fma);
  const i = f.local('i32'), x = f.local('v128');
  // The transcendental bodies are long dependency chains: two vectors per iteration give the processor two
  // independent chains to overlap (1.4x the throughput of one for exp and silu here; softmax's exp pass, which
  // also carries the rounding error of x - max, did not gain).
  const start = f.local('i32');
  if (name === 'exp' || name === 'sigmoid' || name === 'silu') {
    const x2 = f.local('v128');
    f.get(n).i32(-8).op('i32.and').set(start);
    f.forRange(i, 0, start, 8, () => {
      at(f, src, i)().op('v128.load').set(x);
      at(f, src, i)().op('v128.load', 16).set(x2);
      at(f, dst, i)();
      body(f, x, tmp);
      f.op('v128.store');
      at(f, dst, i)();
      body(f, x2, tmp);
      f.op('v128.store', 16);
    });
  } else f.i32(0).set(start);
  const end4 = f.local('i32');
  f.get(n).i32(-4).op('i32.and').set(end4);
  f.forRange(i, start, end4, 4, () => {
    at(f, src, i)().op('v128.load').set(x);
    at(f, dst, i)();
    body(f, x, tmp);
    f.op('v128.store');
  });
  f.forRange(i, end4, n, 1, () => {
    at(f, src, i)().op('f32.load').op('f32x4.splat').set(x);
    at(f, dst, i)();
    body(f, x, tmp);
    f.lane('f32x4.extract_lane', 0).op('f32.store');
  });
  return f;
}

/**
 * Pushes the float64 sum of n float32 at src. Four float64x2 accumulators, so that four additions are in flight
 * (one accumulator pair waited on the latency of each addition: half the throughput): of each 8 floats, acc0 takes
 * 0-1, acc1 2-3, acc2 4-5, acc3 6-7; a last 4 floats go to acc0 and acc1; then (acc0 + acc1) + (acc2 + acc3), its
 * two lanes, and the tail in order.
 */
function emitSum64(f: FunctionBuilder, src: Local, n: Local): void {
  const i = f.local('i32'), v = f.local('v128'), s = f.local('f64'), end8 = f.local('i32'), end4 = f.local('i32');
  const acc = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  for (const a of acc) f.f64(0).op('f64x2.splat').set(a);
  const high = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
  // Adds the 4 floats of v to accumulators lo (lanes 0-1) and hi (lanes 2-3).
  const add4 = (lo: Local, hi: Local) => {
    f.get(lo).get(v).op('f64x2.promote_low_f32x4').op('f64x2.add').set(lo);
    f.get(hi).get(v).get(v).shuffle(high).op('f64x2.promote_low_f32x4').op('f64x2.add').set(hi);
  };
  f.get(n).i32(-8).op('i32.and').set(end8);
  f.get(n).i32(-4).op('i32.and').set(end4);
  f.forRange(i, 0, end8, 8, () => {
    at(f, src, i)().op('v128.load').set(v);
    add4(acc[0]!, acc[1]!);
    at(f, src, i)().op('v128.load', 16).set(v);
    add4(acc[2]!, acc[3]!);
  });
  f.forRange(i, end8, end4, 4, () => {
    at(f, src, i)().op('v128.load').set(v);
    add4(acc[0]!, acc[1]!);
  });
  f.get(acc[0]!).get(acc[1]!).op('f64x2.add').get(acc[2]!).get(acc[3]!).op('f64x2.add').op('f64x2.add').set(v);
  f.get(v).lane('f64x2.extract_lane', 0).get(v).lane('f64x2.extract_lane', 1).op('f64.add').set(s);
  f.forRange(i, end4, n, 1, () => {
    f.get(s);
    at(f, src, i)().op('f32.load').op('f64.promote_f32').op('f64.add').set(s);
  });
  f.get(s);
}

/** rowSums(src, rows, cols, dst): dst[r] (float64) = sum of row r. */
function emitRowSums(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('rowSums', ['i32', 'i32', 'i32', 'i32']);
  const [src, rows, cols, dst] = [0, 1, 2, 3].map((i) => f.param(i)) as [Local, Local, Local, Local];
  const r = f.local('i32'), row = f.local('i32');
  f.forRange(r, 0, rows, 1, () => {
    f.setI32(row, () => f.get(src).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.get(dst).get(r).i32(3).op('i32.shl').op('i32.add');
    emitSum64(f, row, cols);
    f.op('f64.store');
  });
  return f;
}

/** Pushes op(op(v0, v2), op(v1, v3)) of the float32 lanes of v (a max or min of them); v is overwritten. */
function pushLanesReduced(f: FunctionBuilder, v: Local, op: string): void {
  f.get(v).get(v).get(v).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).op(op).set(v);
  f.get(v).get(v).get(v).shuffle([4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]).op(op).lane('f32x4.extract_lane', 0);
}

/**
 * rowMax / rowMin(src, rows, cols, dst): dst[r] (float32) = the max (min) of row r, exactly as the reference
 * reduction gives it: NaN where the row has a NaN, and where the result is a zero, the first zero of the row
 * (the reference keeps the first of equal values, and +0 and -0 are equal). Four running extrema with pmax (pmin),
 * which skip NaN lanes, and a running "any NaN" mask beside them.
 */
function emitRowExtremum(m: ModuleBuilder, isMax: boolean): FunctionBuilder {
  const f = m.func(isMax ? 'rowMax' : 'rowMin', ['i32', 'i32', 'i32', 'i32']);
  const [src, rows, cols, dst] = [0, 1, 2, 3].map((i) => f.param(i)) as [Local, Local, Local, Local];
  const r = f.local('i32'), row = f.local('i32'), i = f.local('i32'), end16 = f.local('i32'), end4 = f.local('i32');
  const nan = f.local('v128'), v = f.local('v128'), res = f.local('f32');
  const acc = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  const pick = isMax ? 'f32x4.pmax' : 'f32x4.pmin';
  const take = (a: Local, load: () => void) => {
    load();
    f.set(v);
    f.get(nan).get(v).get(v).op('f32x4.ne').op('v128.or').set(nan);
    f.get(a).get(v).op(pick).set(a);
  };
  f.get(cols).i32(-16).op('i32.and').set(end16);
  f.get(cols).i32(-4).op('i32.and').set(end4);
  f.forRange(r, 0, rows, 1, () => {
    f.setI32(row, () => f.get(src).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    for (const a of acc) f.f32x4(isMax ? -Infinity : Infinity).set(a);
    f.f32x4(0).set(nan);
    f.forRange(i, 0, end16, 16, () => acc.forEach((a, k) => take(a, () => at(f, row, i)().op('v128.load', 16 * k))));
    f.forRange(i, end16, end4, 4, () => take(acc[0]!, () => at(f, row, i)().op('v128.load')));
    f.get(acc[0]!).get(acc[1]!).op(pick).get(acc[2]!).get(acc[3]!).op(pick).op(pick).set(v);
    pushLanesReduced(f, v, pick);
    f.set(res);
    // The scalar tail with f32.max / f32.min, which propagate NaN.
    f.forRange(i, end4, cols, 1, () => {
      f.get(res);
      at(f, row, i)().op('f32.load');
      f.op(isMax ? 'f32.max' : 'f32.min').set(res);
    });
    f.ifThen(() => f.get(nan).op('v128.any_true'), () => {
      f.f32(NaN).set(res);
    });
    f.ifThen(() => f.get(res).f32(0).op('f32.eq'), () => {
      // The first zero of the row, with its sign.
      f.i32(0).set(i);
      f.block(() => {
        f.loop(() => {
          at(f, row, i)().op('f32.load').set(res);
          f.get(res).f32(0).op('f32.eq').brIf(1);
          f.inc(i, 1).br(0);
        });
      });
    });
    f.get(dst).get(r).i32(2).op('i32.shl').op('i32.add').get(res).op('f32.store');
  });
  return f;
}

/** Rows of a gathered copy walked down their columns: a strip of this many rows per pass (see emitGather). */
const GATHER_STRIP = 8;

/**
 * gather(src, dst, n0, n1, rows, cols, s0, s1, rowStride, colStride): dst (n0 x n1 x rows x cols, row-major) = the
 * strided float32 view at src (element strides, either sign). Loads and stores move bits, so the copy is exact
 * (NaN payloads included). Rows are copied one by one (4 lanes at a time where colStride is 1), except where the
 * view is transposed (|rowStride| < |colStride|): then strips of GATHER_STRIP rows are walked column by column,
 * so that the reads of each column step through neighbouring elements instead of one cache line per element.
 */
function emitGather(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('gather', Array(10).fill('i32'));
  const [src, dst, n0, n1, rows, cols, s0, s1, rowStride, colStride] = Array.from({ length: 10 }, (_, i) => f.param(i));
  const [a, b, r, i, k] = Array.from({ length: 5 }, () => f.local('i32'));
  const [block, blockTo, from, to, step, rowBytes, colsBytes, stripEnd] = Array.from({ length: 8 }, () => f.local('i32'));
  const times4 = (l: Local) => () => f.get(l).i32(2).op('i32.shl');
  const abs = (l: Local) => () => f.get(l).get(l).i32(31).op('i32.shr_s').op('i32.xor').get(l).i32(31).op('i32.shr_s').op('i32.sub');
  f.setI32(step, times4(colStride));
  f.setI32(rowBytes, times4(rowStride));
  f.setI32(colsBytes, times4(cols));
  // Strips only for transposed views with at least one whole strip.
  f.i32(0).set(stripEnd);
  f.ifThen(() => {
    abs(rowStride)();
    abs(colStride)();
    f.op('i32.lt_s');
  }, () => f.setI32(stripEnd, () => f.get(rows).i32(-GATHER_STRIP).op('i32.and')));
  f.forRange(a, 0, n0, 1, () => {
    f.forRange(b, 0, n1, 1, () => {
      f.setI32(block, () => f.get(src).get(a).get(s0).op('i32.mul').i32(2).op('i32.shl').op('i32.add').get(b).get(s1).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
      f.setI32(blockTo, () => f.get(dst).get(a).get(n1).op('i32.mul').get(b).op('i32.add').get(rows).op('i32.mul').get(colsBytes).op('i32.mul').op('i32.add'));
      f.forRange(r, 0, stripEnd, GATHER_STRIP, () => {
        f.forRange(i, 0, cols, 1, () => {
          // from = element (r, i) of the view, to = element (r, i) of dst; then down the strip's rows.
          f.setI32(from, () => f.get(block).get(r).get(rowBytes).op('i32.mul').op('i32.add').get(i).get(step).op('i32.mul').op('i32.add'));
          f.setI32(to, () => f.get(blockTo).get(r).get(colsBytes).op('i32.mul').op('i32.add').get(i).i32(2).op('i32.shl').op('i32.add'));
          for (let row = 0; row < GATHER_STRIP; row++) {
            f.get(to).get(from).op('i32.load').op('i32.store');
            if (row < GATHER_STRIP - 1) {
              f.inc(from, rowBytes);
              f.inc(to, colsBytes);
            }
          }
        });
      });
      f.forRange(r, stripEnd, rows, 1, () => {
        f.setI32(from, () => f.get(block).get(r).get(rowBytes).op('i32.mul').op('i32.add'));
        f.setI32(to, () => f.get(blockTo).get(r).get(colsBytes).op('i32.mul').op('i32.add'));
        f.ifThen(() => f.get(colStride).i32(1).op('i32.eq'), () => {
          simdLoop(f, k, cols, () => {
            at(f, to, k)();
            at(f, from, k)().op('v128.load');
            f.op('v128.store');
          }, () => {
            at(f, to, k)();
            at(f, from, k)().op('i32.load');
            f.op('i32.store');
          });
        }, () => {
          // A strided row: one element at a time, `from` stepping by the stride.
          f.forRange(k, 0, cols, 1, () => {
            at(f, to, k)();
            f.get(from).op('i32.load');
            f.op('i32.store');
            f.inc(from, step);
          });
        });
      });
    });
  });
  return f;
}

/** Pushes the max of n float32 at src (NaN elements may be skipped: see below). */
function emitRowMax(f: FunctionBuilder, src: Local, n: Local): void {
  const i = f.local('i32'), end16 = f.local('i32'), end4 = f.local('i32');
  // Four running maxima, with pmax (one instruction; f32x4.max is a long sequence in V8 for its NaN and
  // signed-zero rules): it skips a NaN element, which changes nothing for softmax since that element's exp is NaN
  // and makes the whole row NaN anyway. The order changes nothing either: the max is exact.
  const acc = [f.local('v128'), f.local('v128'), f.local('v128'), f.local('v128')];
  for (const a of acc) f.f32x4(-Infinity).set(a);
  f.get(n).i32(-16).op('i32.and').set(end16);
  f.get(n).i32(-4).op('i32.and').set(end4);
  f.forRange(i, 0, end16, 16, () => {
    acc.forEach((a, k) => {
      f.get(a);
      at(f, src, i)().op('v128.load', 16 * k);
      f.op('f32x4.pmax').set(a);
    });
  });
  f.forRange(i, end16, end4, 4, () => {
    f.get(acc[0]!);
    at(f, src, i)().op('v128.load');
    f.op('f32x4.pmax').set(acc[0]!);
  });
  f.get(acc[0]!).get(acc[1]!).op('f32x4.pmax').get(acc[2]!).get(acc[3]!).op('f32x4.pmax').op('f32x4.pmax').set(acc[0]!);
  emitMaxFinish(f, acc[0]!, src, n);
}

/**
 * Pushes the max of the lanes of `acc` (the running max of the first n & -4 float32 at src) and of the last
 * n % 4 elements. A row of -Infinity keeps -Infinity: x - max is then NaN and so is the row's softmax, as the
 * reference's 0 / 0 gives.
 */
function emitMaxFinish(f: FunctionBuilder, acc: Local, src: Local, n: Local): void {
  const i = f.local('i32'), ms = f.local('f32'), tail = f.local('i32');
  pushLanesReduced(f, acc, 'f32x4.max');
  f.set(ms);
  f.get(n).i32(-4).op('i32.and').set(tail);
  f.forRange(i, tail, n, 1, () => {
    f.get(ms);
    at(f, src, i)().op('f32.load');
    f.op('f32.max').set(ms);
  });
  f.get(ms);
}

/**
 * softmaxRows(src, dst, rows, cols, log, stats): each row of dst = exp(x - max) / sum. With log = 1 it writes
 * nothing to dst but stores (max, sum of exp) as two float64 per row at stats, for log-softmax.
 * x - max is carried as its float32 rounding plus the exact error (TwoSum), so exp sees the true difference.
 */
function emitSoftmaxRows(m: ModuleBuilder, fma: boolean): FunctionBuilder {
  const f = m.func('softmaxRows', Array(6).fill('i32'));
  const [src, dst, rows, cols, log, stats] = Array.from({ length: 6 }, (_, i) => f.param(i));
  const tmp = new Temps(f, fma);
  const r = f.local('i32'), row = f.local('i32'), out = f.local('i32'), i = f.local('i32');
  const mx = f.local('f32'), mv = f.local('v128'), x = f.local('v128'), t = f.local('v128'), e = f.local('v128'), bb = f.local('v128');
  const total = f.local('f64'), totalV = f.local('v128');
  const next = f.local('i32'), nextMax = f.local('f32'), nextAcc = f.local('v128');
  // The max of each row after the first is taken during the previous row's exp pass, which is bound by
  // arithmetic: the loads of the next row, which come from memory, then overlap with it instead of making a
  // pass of their own.
  emitRowMax(f, src, cols);
  f.set(nextMax);
  f.forRange(r, 0, rows, 1, () => {
    f.setI32(row, () => f.get(src).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.setI32(out, () => f.get(dst).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    // The next row, or this one again on the last row (its max is then not used).
    f.setI32(next, () => f.get(row).get(cols).i32(2).op('i32.shl').op('i32.add').get(row).get(r).i32(1).op('i32.add').get(rows).op('i32.lt_u').op('select'));
    f.get(nextMax).set(mx);
    f.get(mx).op('f32x4.splat').set(mv);
    f.f32x4(-Infinity).set(nextAcc);
    // exp(x - max) for each element: into dst (softmax) and summed in float64.
    const expOf = (load: () => void) => {
      load();
      f.set(x);
      // TwoSum: t = fl(x - m), e = (x - m) - t exactly.
      f.get(x).get(mv).op('f32x4.sub').set(t);
      f.get(t).get(x).op('f32x4.sub').set(bb);
      f.get(x).get(t).get(bb).op('f32x4.sub').op('f32x4.sub');
      f.get(mv).op('f32x4.neg').get(bb).op('f32x4.sub').op('f32x4.add');
      // Clamp the error term to +-2^-10: wherever exp(x - max) is not 0, |x - max| < 104 and |e| <= 2^-18, so
      // this changes nothing there; where x - max is huge (|e| up to 2^103) or infinite (e NaN, mapped to -2^-10
      // by pmax's operand order) it keeps the polynomial's argument near 0, and the result underflows to 0 as it
      // should. A NaN x still gives NaN through t.
      f.set(e);
      f.f32x4(-(2 ** -10)).get(e).op('f32x4.pmax').set(e);
      f.f32x4(2 ** -10).get(e).op('f32x4.pmin').set(e);
      emitExp(f, tmp, t, e, { scaledNonPositive: true });
    };
    // Pass 1 writes exp to dst (or, for log-softmax, only sums it): the sum uses the stored values.
    const expRow = () => {
      simdLoop(f, i, cols, () => {
        f.get(nextAcc);
        at(f, next, i)().op('v128.load');
        f.op('f32x4.pmax').set(nextAcc);
        at(f, out, i)();
        expOf(() => at(f, row, i)().op('v128.load'));
        f.op('v128.store');
      }, () => {
        at(f, out, i)();
        expOf(() => at(f, row, i)().op('f32.load').op('f32x4.splat'));
        f.lane('f32x4.extract_lane', 0).op('f32.store');
      });
    };
    expRow();
    emitMaxFinish(f, nextAcc, next, cols);
    f.set(nextMax);
    // The sum of exp(x - max) 2^64 (emitExp's scaledNonPositive): at least 2^64, from the max itself.
    emitSum64(f, out, cols);
    f.set(total);
    f.ifThen(log, () => {
      f.get(stats).get(r).i32(4).op('i32.shl').op('i32.add').get(mx).op('f64.promote_f32').op('f64.store');
      f.get(stats).get(r).i32(4).op('i32.shl').op('i32.add').get(total).f64(2 ** -64).op('f64.mul').op('f64.store', 8);
    }, () => {
      // Pass 2: multiply by 1 / total = 2^-64 / (sum of exp), computed in float64 and rounded to float32 once (a
      // normal float32: total is at most cols 2^64): one rounding per element, also where the result is subnormal.
      // A division per element would cost more than the exp pass here.
      f.f64(1).get(total).op('f64.div').op('f32.demote_f64').op('f32x4.splat').set(totalV);
      simdLoop(f, i, cols, () => {
        at(f, out, i)();
        at(f, out, i)().op('v128.load').get(totalV).op('f32x4.mul');
        f.op('v128.store');
      }, () => {
        at(f, out, i)();
        at(f, out, i)().op('f32.load').get(totalV).lane('f32x4.extract_lane', 0).op('f32.mul');
        f.op('f32.store');
      });
    });
  });
  return f;
}

/**
 * subRowShifts(src, dst, rows, cols, shifts): dst[r, i] = (src[r, i] - shifts[2r]) - shifts[2r + 1], float32
 * (log-softmax: (x - max) - log(sum), shifts holding max and log(sum) per row). Subtracting the max first keeps
 * log(sum) whole: x - (max + log(sum)) rounds log(sum) away once max + log(sum) is rounded to float32 (at 1e8,
 * a float32 step is 8). dst may be src.
 */
function emitSubRowShifts(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('subRowShifts', Array(5).fill('i32'));
  const [src, dst, rows, cols, shifts] = Array.from({ length: 5 }, (_, i) => f.param(i));
  const r = f.local('i32'), row = f.local('i32'), out = f.local('i32'), i = f.local('i32'), sh = f.local('i32');
  const a = f.local('f32'), b = f.local('f32'), va = f.local('v128'), vb = f.local('v128');
  f.forRange(r, 0, rows, 1, () => {
    f.setI32(row, () => f.get(src).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.setI32(out, () => f.get(dst).get(r).get(cols).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.setI32(sh, () => f.get(shifts).get(r).i32(3).op('i32.shl').op('i32.add'));
    f.get(sh).op('f32.load').set(a);
    f.get(sh).i32(4).op('i32.add').op('f32.load').set(b);
    f.get(a).op('f32x4.splat').set(va);
    f.get(b).op('f32x4.splat').set(vb);
    simdLoop(f, i, cols, () => {
      at(f, out, i)();
      at(f, row, i)().op('v128.load').get(va).op('f32x4.sub').get(vb).op('f32x4.sub');
      f.op('v128.store');
    }, () => {
      at(f, out, i)();
      at(f, row, i)().op('f32.load').get(a).op('f32.sub').get(b).op('f32.sub');
      f.op('f32.store');
    });
  });
  return f;
}

/** The vector kernels; with `relaxed`, exp's polynomial (so sigmoid, silu, softmax) uses relaxed-SIMD multiply-add. */
export function emitVectorFunctions(m: ModuleBuilder, relaxed: boolean): void {
  for (const [name, body] of Object.entries(BINARY)) m.export(emitBinary(m, name, body!));
  for (const [name, body] of Object.entries(UNARY)) m.export(emitUnary(m, name, body!, relaxed));
  m.export(emitRowSums(m));
  m.export(emitRowExtremum(m, true));
  m.export(emitRowExtremum(m, false));
  m.export(emitSoftmaxRows(m, relaxed));
  m.export(emitSubRowShifts(m));
  m.export(emitGather(m));
}

export const BINARY_WASM_OPS = Object.keys(BINARY) as BinaryKernelName[];
export const UNARY_WASM_OPS = Object.keys(UNARY) as UnaryKernelName[];
