/**
 * im2col and col2im as emitted WebAssembly, for one image. Geometry arguments follow ConvGeometry:
 * (x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, ...). Row r = (c kh + i) kw + j of the column matrix
 * holds input channel c shifted by kernel tap (i, j), one column per output pixel p = oy OW + ox.
 */
import type { FunctionBuilder, I32, Local, ModuleBuilder } from './emitter.js';
import { emitWinogradFunctions } from './winograd-emit.js';

const GEOMETRY = 14;

/**
 * Walks every (row r, output pixel) pair and calls `valid(src)` with the input address, or `outside()` where
 * the tap falls into the padding; `row(r)` starts each row and `afterPixel()` ends each pixel.
 */
function walk(f: FunctionBuilder, g: Local[], hooks: { row: (r: Local) => void; valid: (src: Local) => void; outside: () => void; afterPixel: () => void }): void {
  const [x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW] = g as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const c = f.local('i32'), i = f.local('i32'), j = f.local('i32'), r = f.local('i32');
  const oy = f.local('i32'), ox = f.local('i32'), iy = f.local('i32'), ix = f.local('i32');
  const srcRow = f.local('i32'), src = f.local('i32');
  f.setI32(r, 0);
  f.forRange(c, 0, C, 1, () => {
    f.forRange(i, 0, kh, 1, () => {
      f.forRange(j, 0, kw, 1, () => {
        hooks.row(r);
        f.forRange(oy, 0, OH, 1, () => {
          f.setI32(iy, () => f.get(oy).get(sh).op('i32.mul').get(ph).op('i32.sub').get(i).get(dh).op('i32.mul').op('i32.add'));
          f.setI32(srcRow, () => f.get(x).get(c).get(H).op('i32.mul').get(iy).op('i32.add').get(W).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
          f.setI32(ix, () => f.get(j).get(dw).op('i32.mul').get(pw).op('i32.sub'));
          f.forRange(ox, 0, OW, 1, () => {
            // Unsigned compares test 0 <= v < bound in one step.
            f.ifThen(() => f.get(iy).get(H).op('i32.lt_u').get(ix).get(W).op('i32.lt_u').op('i32.and'), () => {
              f.setI32(src, () => f.get(srcRow).get(ix).i32(2).op('i32.shl').op('i32.add'));
              hooks.valid(src);
            }, hooks.outside);
            hooks.afterPixel();
            f.inc(ix, sw);
          });
        });
        f.inc(r, 1);
      });
    });
  });
}

/**
 * The im2col fast path for stride 1 along x and a row-major column matrix (colStride 1): for each output row
 * oy the valid taps are one contiguous run of input pixels, so each (row, oy) segment is zeros, one 4-lane
 * copy and zeros, instead of a bounds test per element. The same values land in the same places.
 */
function im2colContiguous(f: FunctionBuilder, g: Local[], dst: Local, rowStride: Local, oyStart: I32, oyEnd: I32): void {
  const [x, C, H, W, kh, kw, sh, , ph, pw, dh, dw, OH, OW] = g as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const c = f.local('i32'), i = f.local('i32'), j = f.local('i32'), r = f.local('i32'), oy = f.local('i32'), iy = f.local('i32');
  const rowBase = f.local('i32'), d = f.local('i32'), ox0 = f.local('i32'), ox1 = f.local('i32'), shift = f.local('i32');
  const ox = f.local('i32'), end4 = f.local('i32'), src = f.local('i32'), zero = f.local('v128');
  f.f32x4(0).set(zero);
  /** Zeros floats [from, to) of the segment at d: 4 lanes at a time, then one at a time. */
  const zeros = (dst: Local, from: I32, to: I32) => {
    f.setI32(end4, () => f.push(to).push(from).op('i32.sub').i32(-4).op('i32.and').push(from).op('i32.add'));
    f.forRange(ox, from, end4, 4, () => f.get(dst).get(ox).i32(2).op('i32.shl').op('i32.add').get(zero).op('v128.store'));
    f.forRange(ox, end4, to, 1, () => f.get(dst).get(ox).i32(2).op('i32.shl').op('i32.add').f32(0).op('f32.store'));
  };
  const clamp = (v: Local, lo: I32, hi: I32) => {
    // v = min(max(v, lo), hi) for signed i32
    f.setI32(v, () => f.get(v).push(lo).get(v).push(lo).op('i32.gt_s').op('select'));
    f.setI32(v, () => f.get(v).push(hi).get(v).push(hi).op('i32.lt_s').op('select'));
  };
  f.setI32(r, 0);
  f.forRange(c, 0, C, 1, () => {
    f.forRange(i, 0, kh, 1, () => {
      f.forRange(j, 0, kw, 1, () => {
        f.setI32(rowBase, () => f.get(dst).get(r).get(rowStride).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
        // Input column of output column ox: ox + shift, valid for ox in [ox0, ox1).
        f.setI32(shift, () => f.get(j).get(dw).op('i32.mul').get(pw).op('i32.sub'));
        f.setI32(ox0, () => f.i32(0).get(shift).op('i32.sub'));
        clamp(ox0, 0, OW);
        f.setI32(ox1, () => f.get(W).get(shift).op('i32.sub'));
        clamp(ox1, ox0, OW);
        f.forRange(oy, oyStart, oyEnd, 1, () => {
          f.setI32(d, () => f.get(rowBase).get(oy).push(oyStart).op('i32.sub').get(OW).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
          f.setI32(iy, () => f.get(oy).get(sh).op('i32.mul').get(ph).op('i32.sub').get(i).get(dh).op('i32.mul').op('i32.add'));
          f.ifThen(() => f.get(iy).get(H).op('i32.lt_u'), () => {
            f.setI32(src, () => f.get(x).get(c).get(H).op('i32.mul').get(iy).op('i32.add').get(W).op('i32.mul').get(shift).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
            zeros(d, 0, ox0);
            // Inline 4-lane copy: memory.copy is a call out of the wasm code, costly for runs of a few dozen floats.
            f.setI32(end4, () => f.get(ox1).get(ox0).op('i32.sub').i32(-4).op('i32.and').get(ox0).op('i32.add'));
            f.forRange(ox, ox0, end4, 4, () => {
              f.get(d).get(ox).i32(2).op('i32.shl').op('i32.add');
              f.get(src).get(ox).i32(2).op('i32.shl').op('i32.add').op('v128.load');
              f.op('v128.store');
            });
            f.forRange(ox, end4, ox1, 1, () => {
              f.get(d).get(ox).i32(2).op('i32.shl').op('i32.add');
              f.get(src).get(ox).i32(2).op('i32.shl').op('i32.add').op('f32.load');
              f.op('f32.store');
            });
            zeros(d, ox1, OW);
          }, () => {
            zeros(d, 0, OW);
          });
        });
        f.inc(r, 1);
      });
    });
  });
}

/** im2col(geometry..., dst, rowStride, colStride): dst[r rowStride + p colStride] = tap value (0 in padding). */
function emitIm2col(m: ModuleBuilder, name = 'im2col', fast = true): FunctionBuilder {
  const f = m.func(name, Array(GEOMETRY + 3).fill('i32'));
  const g = Array.from({ length: GEOMETRY }, (_, i) => f.param(i));
  const [dst, rowStride, colStride] = [f.param(GEOMETRY), f.param(GEOMETRY + 1), f.param(GEOMETRY + 2)];
  const d = f.local('i32'), rowBase = f.local('i32'), colBytes = f.local('i32');
  if (fast) {
    const sw = g[7]!;
    f.ifThen(() => f.get(sw).i32(1).op('i32.eq').get(colStride).i32(1).op('i32.eq').op('i32.and'), () => {
      im2colContiguous(f, g, dst, rowStride, 0, g[12]!);
      f.op('return');
    });
  }
  f.setI32(colBytes, colStride, 'i32.shl', 2);
  walk(f, g, {
    row: (r) => {
      f.setI32(rowBase, () => f.get(dst).get(r).get(rowStride).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
      f.setI32(d, rowBase);
    },
    valid: (src) => {
      f.get(d).get(src).op('f32.load').op('f32.store');
    },
    outside: () => {
      f.get(d).f32(0).op('f32.store');
    },
    afterPixel: () => {
      f.inc(d, colBytes);
    },
  });
  return f;
}

/**
 * col2im's fast path for stride 1 along x, the mirror of im2colContiguous: each (row, oy) segment adds one
 * contiguous run of column entries to one run of dx, 4 lanes at a time. Every dx element receives its terms in
 * the same order as in the generic walk (rows, then oy, then ox), so the sums are bitwise the same.
 */
function col2imContiguous(f: FunctionBuilder, g: Local[], dcol: Local): void {
  const [x, C, H, W, kh, kw, sh, , ph, pw, dh, dw, OH, OW] = g as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const c = f.local('i32'), i = f.local('i32'), j = f.local('i32'), oy = f.local('i32'), iy = f.local('i32');
  const rowBase = f.local('i32'), d = f.local('i32'), ox0 = f.local('i32'), ox1 = f.local('i32'), shift = f.local('i32');
  const ox = f.local('i32'), end4 = f.local('i32'), dst = f.local('i32'), rowBytes = f.local('i32');
  const clamp = (v: Local, lo: I32, hi: I32) => {
    f.setI32(v, () => f.get(v).push(lo).get(v).push(lo).op('i32.gt_s').op('select'));
    f.setI32(v, () => f.get(v).push(hi).get(v).push(hi).op('i32.lt_s').op('select'));
  };
  const at = (base: Local) => () => f.get(base).get(ox).i32(2).op('i32.shl').op('i32.add');
  f.setI32(rowBytes, () => f.get(OH).get(OW).op('i32.mul').i32(2).op('i32.shl'));
  f.setI32(rowBase, dcol);
  f.forRange(c, 0, C, 1, () => {
    f.forRange(i, 0, kh, 1, () => {
      f.forRange(j, 0, kw, 1, () => {
        f.setI32(shift, () => f.get(j).get(dw).op('i32.mul').get(pw).op('i32.sub'));
        f.setI32(ox0, () => f.i32(0).get(shift).op('i32.sub'));
        clamp(ox0, 0, OW);
        f.setI32(ox1, () => f.get(W).get(shift).op('i32.sub'));
        clamp(ox1, ox0, OW);
        f.setI32(end4, () => f.get(ox1).get(ox0).op('i32.sub').i32(-4).op('i32.and').get(ox0).op('i32.add'));
        f.forRange(oy, 0, OH, 1, () => {
          f.setI32(iy, () => f.get(oy).get(sh).op('i32.mul').get(ph).op('i32.sub').get(i).get(dh).op('i32.mul').op('i32.add'));
          f.ifThen(() => f.get(iy).get(H).op('i32.lt_u'), () => {
            f.setI32(d, () => f.get(rowBase).get(oy).get(OW).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
            f.setI32(dst, () => f.get(x).get(c).get(H).op('i32.mul').get(iy).op('i32.add').get(W).op('i32.mul').get(shift).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
            f.forRange(ox, ox0, end4, 4, () => {
              at(dst)();
              at(dst)().op('v128.load');
              at(d)().op('v128.load');
              f.op('f32x4.add').op('v128.store');
            });
            f.forRange(ox, end4, ox1, 1, () => {
              at(dst)();
              at(dst)().op('f32.load');
              at(d)().op('f32.load');
              f.op('f32.add').op('f32.store');
            });
          });
        });
        f.setI32(rowBase, () => f.get(rowBase).get(rowBytes).op('i32.add'));
      });
    });
  });
}

/** col2im(geometry..., dcol): dx at x (zeroed by the caller) += every column entry at its tap (row-major dcol). */
function emitCol2im(m: ModuleBuilder, name = 'col2im', fast = true): FunctionBuilder {
  const f = m.func(name, Array(GEOMETRY + 1).fill('i32'));
  const g = Array.from({ length: GEOMETRY }, (_, i) => f.param(i));
  const dcol = f.param(GEOMETRY);
  if (fast) {
    f.ifThen(() => f.get(g[7]!).i32(1).op('i32.eq'), () => {
      col2imContiguous(f, g, dcol);
      f.op('return');
    });
  }
  const s = f.local('i32');
  f.setI32(s, dcol);
  walk(f, g, {
    row: () => {},
    valid: (dx) => {
      f.get(dx).get(dx).op('f32.load').get(s).op('f32.load').op('f32.add').op('f32.store');
    },
    outside: () => {},
    afterPixel: () => {
      f.inc(s, 4);
    },
  });
  return f;
}

/**
 * im2colBand(geometry..., dst, oy0, oy1): the columns of output rows [oy0, oy1) only, row-major with
 * (oy1 - oy0) OW columns. Stride 1 along x only (the contiguous path).
 */
function emitIm2colBand(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('im2colBand', Array(GEOMETRY + 3).fill('i32'));
  const g = Array.from({ length: GEOMETRY }, (_, i) => f.param(i));
  const [dst, oy0, oy1] = [f.param(GEOMETRY), f.param(GEOMETRY + 1), f.param(GEOMETRY + 2)];
  const rowStride = f.local('i32');
  f.setI32(rowStride, () => f.get(oy1).get(oy0).op('i32.sub').get(g[13]!).op('i32.mul'));
  im2colContiguous(f, g, dst, rowStride, oy0, oy1);
  return f;
}

/** The generic-walk versions alone, as `im2col_walk` and `col2im_walk`: the oracle of the fast paths in tests. */
export function emitConvWalkFunctions(m: ModuleBuilder): void {
  m.export(emitIm2col(m, 'im2col_walk', false));
  m.export(emitCol2im(m, 'col2im_walk', false));
}

export function emitConvFunctions(m: ModuleBuilder): void {
  m.export(emitIm2col(m));
  m.export(emitIm2colBand(m));
  m.export(emitCol2im(m));
  emitWinogradFunctions(m);
}
