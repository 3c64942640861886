/**
 * Winograd F(2x2, 3x3) transforms as emitted WebAssembly (Lavin & Gray 2016): a 3x3 stride-1 convolution with
 * padding 1 computes each 2x2 output tile from a 4x4 input tile as Y = A^T [ (G g G^T) . (B^T d B) ] A, summed
 * over input channels, 16 products per tile and channel instead of 36. Both transforms work on four horizontally
 * adjacent tiles at once, one tile per f32x4 lane.
 *
 *   B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1 1  1  0]
 *         [0  1  1  0]        [1/2  1/2  1/2]          [0 1 -1 -1]
 *         [0 -1  1  0]        [1/2 -1/2  1/2]
 *         [0  1  0 -1]        [ 0    0    1 ]
 *
 * Tiles: a grid of TH x TW4 per image (TH = ceil(OH/2), TW4 = ceil(OW/2) rounded up to 4; the extra tiles read
 * zeros and are never written out), tile t = (img TH + ty) TW4 + tx over the images of one call. Position p = 4 i + k
 * of the 4x4 transform domain is row i, column k.
 */
import type { FunctionBuilder, Local, ModuleBuilder } from './emitter.js';

/** Float lanes of two v128 operands (0-3: the first, 4-7: the second) as i8x16.shuffle's byte indices. */
const lanes = (...l: number[]) => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);

/**
 * wgInput(x, C, H, W, n, TH, TW4, plane, V, posBytes, rowTiles): the input transform of n images [C, H, W] at x
 * into V. With rowTiles 0 V is laid out as the GEMM's packed B (packB: panels of 8 tiles, each C rows of 8
 * floats): position p, channel c, tile t at V + p posBytes + ((t >> 3) 8 C + 8 c + (t & 7)) 4; otherwise
 * row-major, at V + p posBytes + (c rowTiles + t) 4 (the weight gradient's operand). `plane` is scratch for one zero-padded channel,
 * (2 TH + 2) x (2 TW4 + 2) floats; the input sits at row 1, column 1 (the padding of 1).
 */
function emitInput(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('wgInput', Array(11).fill('i32'));
  const [x, C, H, W, n, TH, TW4, plane, V, posBytes, rowTiles] = Array.from({ length: 11 }, (_, i) => f.param(i)) as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const img = f.local('i32'), c = f.local('i32'), r = f.local('i32'), q = f.local('i32'), ty = f.local('i32'), tx = f.local('i32');
  const PW = f.local('i32'), src = f.local('i32'), dst = f.local('i32'), w4 = f.local('i32'), rb = f.local('i32'), t = f.local('i32'), vp = f.local('i32');
  const imageTiles = f.local('i32'), PWb = f.local('i32');
  const va = f.local('v128'), vb = f.local('v128'), vc = f.local('v128'), vd = f.local('v128');
  const d = [0, 1, 2, 3].map(() => f.local('v128'));
  const s = Array.from({ length: 16 }, () => f.local('v128'));
  f.setI32(PW, () => f.get(TW4).i32(1).op('i32.shl').i32(2).op('i32.add'));
  f.setI32(PWb, PW, 'i32.shl', 2);
  f.setI32(imageTiles, TH, 'i32.mul', TW4);
  f.setI32(w4, W, 'i32.and', -4);
  // Zero the plane once: each channel overwrites the same interior, the border stays 0.
  f.get(plane).i32(0).get(TH).i32(1).op('i32.shl').i32(2).op('i32.add').get(PW).op('i32.mul').i32(2).op('i32.shl').op('memory.fill');
  f.setI32(src, x);
  f.forRange(img, 0, n, 1, () => {
    f.forRange(c, 0, C, 1, () => {
      // Copy channel c of image img into the plane's interior, row by row.
      f.forRange(r, 0, H, 1, () => {
        f.setI32(dst, () => f.get(plane).get(r).i32(1).op('i32.add').get(PW).op('i32.mul').i32(1).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
        f.forRange(q, 0, w4, 4, () => {
          f.get(dst).get(q).i32(2).op('i32.shl').op('i32.add');
          f.get(src).get(q).i32(2).op('i32.shl').op('i32.add').op('v128.load');
          f.op('v128.store');
        });
        f.forRange(q, w4, W, 1, () => {
          f.get(dst).get(q).i32(2).op('i32.shl').op('i32.add');
          f.get(src).get(q).i32(2).op('i32.shl').op('i32.add').op('f32.load');
          f.op('f32.store');
        });
        f.inc(src, () => f.get(W).i32(2).op('i32.shl'));
      });
      f.forRange(ty, 0, TH, 1, () => {
        f.forRange(tx, 0, TW4, 4, () => {
          // Row base of the four tiles: plane row 2 ty, column 2 tx.
          f.setI32(rb, () => f.get(plane).get(ty).i32(1).op('i32.shl').get(PW).op('i32.mul').get(tx).i32(1).op('i32.shl').op('i32.add').i32(2).op('i32.shl').op('i32.add'));
          for (let i = 0; i < 4; i++) {
            // d[k] lane l = plane[2 ty + i][2 (tx + l) + k]: the even and odd floats of two pairs of loads.
            f.get(rb).op('v128.load').set(va);
            f.get(rb).op('v128.load', 16).set(vb);
            f.get(rb).op('v128.load', 8).set(vc);
            f.get(rb).op('v128.load', 24).set(vd);
            f.get(va).get(vb).shuffle(lanes(0, 2, 4, 6)).set(d[0]!);
            f.get(va).get(vb).shuffle(lanes(1, 3, 5, 7)).set(d[1]!);
            f.get(vc).get(vd).shuffle(lanes(0, 2, 4, 6)).set(d[2]!);
            f.get(vc).get(vd).shuffle(lanes(1, 3, 5, 7)).set(d[3]!);
            // Row i of d B: (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
            f.get(d[0]!).get(d[2]!).op('f32x4.sub').set(s[4 * i]!);
            f.get(d[1]!).get(d[2]!).op('f32x4.add').set(s[4 * i + 1]!);
            f.get(d[2]!).get(d[1]!).op('f32x4.sub').set(s[4 * i + 2]!);
            f.get(d[1]!).get(d[3]!).op('f32x4.sub').set(s[4 * i + 3]!);
            if (i < 3) f.inc(rb, PWb);
          }
          // t = (img TH + ty) TW4 + tx; the packed address of (p = 0, c, t).
          f.setI32(t, () => f.get(img).get(imageTiles).op('i32.mul').get(ty).get(TW4).op('i32.mul').op('i32.add').get(tx).op('i32.add'));
          f.ifThen(rowTiles, () => {
            // Row-major instead: channel c's row of rowTiles tiles.
            f.setI32(vp, () => f.get(V).get(c).get(rowTiles).op('i32.mul').get(t).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
          }, () => {
            f.setI32(vp, () => {
              f.get(V);
              f.get(t).i32(3).op('i32.shr_u').get(C).op('i32.mul').get(c).op('i32.add').i32(3).op('i32.shl').get(t).i32(7).op('i32.and').op('i32.add').i32(2).op('i32.shl');
              f.op('i32.add');
            });
          });
          // Rows of B^T (d B): (s0 - s2, s1 + s2, s2 - s1, s1 - s3), column k, stored at position 4 i + k.
          const rowOp: [number, number, string][] = [[0, 2, 'f32x4.sub'], [1, 2, 'f32x4.add'], [2, 1, 'f32x4.sub'], [1, 3, 'f32x4.sub']];
          rowOp.forEach(([a, b, op], i) => {
            for (let k = 0; k < 4; k++) {
              f.get(vp).get(s[4 * a + k]!).get(s[4 * b + k]!).op(op).op('v128.store');
              if (i < 3 || k < 3) f.inc(vp, posBytes);
            }
          });
        });
      });
    });
  });
  return f;
}

/**
 * wgOutput(M, O, Tc, n, TH, TW4, y, OH, OW, flag): the output transform. M holds the 16 products, position p at
 * M + p O Tc 4, row o, column t (the GEMM's row-major output, ldc Tc); y gets n images [O, OH, OW] (tiles past
 * the image's edge are cut). Stores i32 1 at `flag` if any output computed (cut tiles included) is NaN or infinite.
 */
function emitOutput(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('wgOutput', Array(10).fill('i32'));
  const [M, O, Tc, n, TH, TW4, y, OH, OW, flag] = Array.from({ length: 10 }, (_, i) => f.param(i)) as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  // Sum of y * 0 over every output computed: NaN exactly where some output is NaN or infinite.
  const special = f.local('v128'), zero = f.local('v128');
  f.f32x4(0).set(special).f32x4(0).set(zero);
  const img = f.local('i32'), o = f.local('i32'), ty = f.local('i32'), tx = f.local('i32'), t = f.local('i32'), mp = f.local('i32');
  const mStride = f.local('i32'), imageTiles = f.local('i32'), row = f.local('i32'), col = f.local('i32'), out = f.local('i32'), plane = f.local('i32');
  const mv = [0, 1, 2, 3].map(() => f.local('v128'));
  const r = Array.from({ length: 8 }, () => f.local('v128'));
  const yv = [0, 1, 2, 3].map(() => f.local('v128'));
  const lo = f.local('v128'), hi = f.local('v128');
  f.setI32(mStride, () => f.get(O).get(Tc).op('i32.mul').i32(2).op('i32.shl'));
  f.setI32(imageTiles, TH, 'i32.mul', TW4);
  f.setI32(plane, OH, 'i32.mul', OW);
  f.forRange(img, 0, n, 1, () => {
    f.forRange(o, 0, O, 1, () => {
      f.forRange(ty, 0, TH, 1, () => {
        f.forRange(tx, 0, TW4, 4, () => {
          f.setI32(t, () => f.get(img).get(imageTiles).op('i32.mul').get(ty).get(TW4).op('i32.mul').op('i32.add').get(tx).op('i32.add'));
          for (let k = 0; k < 4; k++) {
            // Column k of A^T m: (m0k + m1k + m2k, m1k - m2k - m3k).
            f.setI32(mp, () => f.get(M).get(o).get(Tc).op('i32.mul').get(t).op('i32.add').i32(2).op('i32.shl').op('i32.add').get(mStride).i32(k).op('i32.mul').op('i32.add'));
            for (let i = 0; i < 4; i++) {
              f.get(mp).op('v128.load').set(mv[i]!);
              if (i < 3) f.inc(mp, () => f.get(mStride).i32(2).op('i32.shl'));
            }
            f.get(mv[0]!).get(mv[1]!).op('f32x4.add').get(mv[2]!).op('f32x4.add').set(r[k]!);
            f.get(mv[1]!).get(mv[2]!).op('f32x4.sub').get(mv[3]!).op('f32x4.sub').set(r[4 + k]!);
          }
          for (let i = 0; i < 2; i++) {
            // Row i of (A^T m) A: (ri0 + ri1 + ri2, ri1 - ri2 - ri3).
            f.get(r[4 * i]!).get(r[4 * i + 1]!).op('f32x4.add').get(r[4 * i + 2]!).op('f32x4.add').set(yv[2 * i]!);
            f.get(r[4 * i + 1]!).get(r[4 * i + 2]!).op('f32x4.sub').get(r[4 * i + 3]!).op('f32x4.sub').set(yv[2 * i + 1]!);
          }
          for (const v of yv) f.get(special).get(v).get(zero).op('f32x4.mul').op('f32x4.add').set(special);
          f.setI32(col, tx, 'i32.shl', 1);
          for (let i = 0; i < 2; i++) {
            f.setI32(row, () => f.get(ty).i32(1).op('i32.shl').i32(i).op('i32.add'));
            f.ifThen(() => f.get(row).get(OH).op('i32.lt_s'), () => {
              // Output columns 2 tx .. 2 tx + 7: the two outputs of each lane's tile, interleaved.
              f.get(yv[2 * i]!).get(yv[2 * i + 1]!).shuffle(lanes(0, 4, 1, 5)).set(lo);
              f.get(yv[2 * i]!).get(yv[2 * i + 1]!).shuffle(lanes(2, 6, 3, 7)).set(hi);
              f.setI32(out, () => f.get(y).get(img).get(O).op('i32.mul').get(o).op('i32.add').get(plane).op('i32.mul').get(row).get(OW).op('i32.mul').op('i32.add').get(col).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
              f.ifThen(() => f.get(col).i32(8).op('i32.add').get(OW).op('i32.le_s'), () => {
                f.get(out).get(lo).op('v128.store');
                f.get(out).get(hi).op('v128.store', 16);
              }, () => {
                for (let q = 0; q < 8; q++) {
                  f.ifThen(() => f.get(col).i32(q).op('i32.add').get(OW).op('i32.lt_s'), () => {
                    f.get(out).get(q < 4 ? lo : hi).lane('f32x4.extract_lane', q % 4).op('f32.store', 4 * q);
                  });
                }
              });
            });
          }
        });
      });
    });
  });
  f.ifThen(() => f.get(special).get(special).op('f32x4.ne').op('v128.any_true'), () => f.get(flag).i32(1).op('i32.store'));
  return f;
}

/**
 * wgGradOut(dy, O, OH, OW, n, TH, TW4, plane, D, posBytes, rowTiles): the transpose of the output transform, for
 * the weight gradient: D[p][o][t] = (A dy_t A^T)[p] for each 2x2 tile dy_t of n images [O, OH, OW] (zeros past
 * the edge), row-major at D + p posBytes + (o rowTiles + t) 4. `plane` is scratch of 2 TH x 2 TW4 floats.
 *
 *   A = [1  0]    rows of A dy: (y0, y0 + y1, y0 - y1, -y1), then the same along the columns.
 *       [1  1]
 *       [1 -1]
 *       [0 -1]
 */
function emitGradOut(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('wgGradOut', Array(11).fill('i32'));
  const [dy, O, OH, OW, n, TH, TW4, plane, D, posBytes, rowTiles] = Array.from({ length: 11 }, (_, i) => f.param(i)) as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const img = f.local('i32'), o = f.local('i32'), r = f.local('i32'), q = f.local('i32'), ty = f.local('i32'), tx = f.local('i32');
  const PW = f.local('i32'), src = f.local('i32'), dst = f.local('i32'), w4 = f.local('i32'), rb = f.local('i32'), t = f.local('i32'), dp = f.local('i32');
  const imageTiles = f.local('i32');
  const va = f.local('v128'), vb = f.local('v128');
  const yv = [0, 1, 2, 3].map(() => f.local('v128')); // y[a][b] at 2 a + b
  const qv = Array.from({ length: 8 }, () => f.local('v128')); // q[i][b] at 2 i + b
  f.setI32(PW, TW4, 'i32.shl', 1);
  f.setI32(imageTiles, TH, 'i32.mul', TW4);
  f.setI32(w4, OW, 'i32.and', -4);
  f.get(plane).i32(0).get(TH).i32(1).op('i32.shl').get(PW).op('i32.mul').i32(2).op('i32.shl').op('memory.fill');
  f.setI32(src, dy);
  f.forRange(img, 0, n, 1, () => {
    f.forRange(o, 0, O, 1, () => {
      f.forRange(r, 0, OH, 1, () => {
        f.setI32(dst, () => f.get(plane).get(r).get(PW).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
        f.forRange(q, 0, w4, 4, () => {
          f.get(dst).get(q).i32(2).op('i32.shl').op('i32.add');
          f.get(src).get(q).i32(2).op('i32.shl').op('i32.add').op('v128.load');
          f.op('v128.store');
        });
        f.forRange(q, w4, OW, 1, () => {
          f.get(dst).get(q).i32(2).op('i32.shl').op('i32.add');
          f.get(src).get(q).i32(2).op('i32.shl').op('i32.add').op('f32.load');
          f.op('f32.store');
        });
        f.inc(src, () => f.get(OW).i32(2).op('i32.shl'));
      });
      f.forRange(ty, 0, TH, 1, () => {
        f.forRange(tx, 0, TW4, 4, () => {
          f.setI32(rb, () => f.get(plane).get(ty).i32(1).op('i32.shl').get(PW).op('i32.mul').get(tx).i32(1).op('i32.shl').op('i32.add').i32(2).op('i32.shl').op('i32.add'));
          for (let a = 0; a < 2; a++) {
            f.get(rb).op('v128.load').set(va);
            f.get(rb).op('v128.load', 16).set(vb);
            f.get(va).get(vb).shuffle(lanes(0, 2, 4, 6)).set(yv[2 * a]!);
            f.get(va).get(vb).shuffle(lanes(1, 3, 5, 7)).set(yv[2 * a + 1]!);
            if (a === 0) f.inc(rb, () => f.get(PW).i32(2).op('i32.shl'));
          }
          for (let b = 0; b < 2; b++) {
            const [y0, y1] = [yv[b]!, yv[2 + b]!];
            f.get(y0).set(qv[b]!);
            f.get(y0).get(y1).op('f32x4.add').set(qv[2 + b]!);
            f.get(y0).get(y1).op('f32x4.sub').set(qv[4 + b]!);
            f.get(y1).op('f32x4.neg').set(qv[6 + b]!);
          }
          f.setI32(t, () => f.get(img).get(imageTiles).op('i32.mul').get(ty).get(TW4).op('i32.mul').op('i32.add').get(tx).op('i32.add'));
          f.setI32(dp, () => f.get(D).get(o).get(rowTiles).op('i32.mul').get(t).op('i32.add').i32(2).op('i32.shl').op('i32.add'));
          for (let i = 0; i < 4; i++) {
            const [q0, q1] = [qv[2 * i]!, qv[2 * i + 1]!];
            const cols: (() => void)[] = [
              () => f.get(q0),
              () => f.get(q0).get(q1).op('f32x4.add'),
              () => f.get(q0).get(q1).op('f32x4.sub'),
              () => f.get(q1).op('f32x4.neg'),
            ];
            cols.forEach((col, k) => {
              f.get(dp);
              col();
              f.op('v128.store');
              if (i < 3 || k < 3) f.inc(dp, posBytes);
            });
          }
        });
      });
    });
  });
  return f;
}

export function emitWinogradFunctions(m: ModuleBuilder): void {
  m.export(emitGradOut(m));
  m.export(emitInput(m));
  m.export(emitOutput(m));
}
