/**
 * GEMM as emitted WebAssembly: C (+)= A B for float32 with any element strides, blocked like Goto's algorithm:
 * B is packed into KC x 8 column panels, A into MC x KC row panels of 4 rows, and a 4x8 register-blocked
 * micro-kernel keeps 8 f32x4 accumulators + 2 B vectors + 1 A splat in registers (V8's TurboFan hoists the loads
 * of a loop body, so larger tiles spill; measured on this project's machines).
 *
 * Every output element is computed the same way wherever its tile lies: zero-padded edge tiles, k ascending
 * within each KC block, KC blocks ascending. So splitting the output between threads never changes a bit.
 */
import type { FunctionBuilder, Local, ModuleBuilder } from './emitter.js';

export const MR = 4;
export const NR = 8;

/** Cache blocking: KC (depth of a packed panel), MC (rows of packed A), NC (columns of packed B). */
export interface Blocking {
  kc: number;
  mc: number;
  nc: number;
}
export const DEFAULT_BLOCKING: Blocking = { kc: 256, mc: 64, nc: 256 };
/** Scratch bytes one thread needs for GEMM packing: packed A, packed B and one edge tile. */
export const gemmScratchBytes = (b: Blocking) => (b.mc * b.kc + b.kc * b.nc + MR * NR) * 4;

const min = (f: FunctionBuilder, a: Local, b: Local | number) => () => {
  f.get(a).push(b).get(a).push(b).op('i32.lt_s').op('select');
};

/** Byte address base + (i * rs + j * cs) * 4. */
const addr = (f: FunctionBuilder, base: Local, i: Local | number, rs: Local, j: Local | number, cs: Local) => () => {
  f.get(base).push(i).get(rs).op('i32.mul').push(j).get(cs).op('i32.mul').op('i32.add').i32(2).op('i32.shl').op('i32.add');
};

/** Float lanes of two v128 operands (0-3: the first, 4-7: the second) as i8x16.shuffle's byte indices. */
const lanes = (...l: number[]) => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);

/**
 * packB(kc, nc, src, rs, cs, dst): dst holds ceil(nc/8) panels, each kc rows of 8 floats; columns past nc are 0.
 * A row-major panel (cs == 1) is copied with two v128 loads per row; a column-major one (rs == 1: a transposed
 * operand, such as the column matrix of a conv weight gradient) as 4 x 8 blocks, eight column loads transposed by
 * shuffles into four row stores, then the rows past a multiple of 4 one element at a time. Same values, same places.
 */
function emitPackB(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('packB', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [kc, nc, src, rs, cs, dst] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local];
  const p0 = f.local('i32'), w = f.local('i32'), k = f.local('i32'), jj = f.local('i32');
  const s = f.local('i32'), d = f.local('i32'), rsBytes = f.local('i32');
  const k4 = f.local('i32'), csBytes = f.local('i32'), k0 = f.local('i32');
  const colsV = Array.from({ length: NR }, () => f.local('v128'));
  const pairs = [0, 1, 2, 3].map(() => f.local('v128'));
  f.setI32(rsBytes, rs, 'i32.shl', 2);
  f.setI32(csBytes, cs, 'i32.shl', 2);
  f.forRange(p0, 0, nc, NR, () => {
    f.get(nc).get(p0).op('i32.sub').set(w);
    f.setI32(w, min(f, w, NR));
    f.setI32(d, () => f.get(dst).get(p0).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.setI32(k0, 0);
    f.ifThen(() => f.get(cs).i32(1).op('i32.eq').get(w).i32(NR).op('i32.eq').op('i32.and'), () => {
      f.setI32(s, addr(f, src, 0, rs, p0, cs));
      f.forRange(k, 0, kc, 1, () => {
        f.get(d).get(s).op('v128.load').op('v128.store');
        f.get(d).get(s).op('v128.load', 16).op('v128.store', 16);
        f.inc(d, NR * 4).inc(s, rsBytes);
      });
    }, () => {
      f.ifThen(() => f.get(w).i32(NR).op('i32.lt_s'), () => {
        f.get(d).i32(0).get(kc).i32(NR * 4).op('i32.mul').op('memory.fill');
      });
      f.ifThen(() => f.get(rs).i32(1).op('i32.eq').get(w).i32(NR).op('i32.eq').op('i32.and'), () => {
        f.setI32(s, addr(f, src, 0, rs, p0, cs));
        f.get(kc).i32(-4).op('i32.and').set(k4);
        f.forRange(k, 0, k4, 4, () => {
          colsV.forEach((v, j) => {
            f.get(s);
            if (j > 0) f.get(csBytes).i32(j).op('i32.mul').op('i32.add');
            f.op('v128.load').set(v);
          });
          for (const half of [0, 1]) {
            // Columns a b c d (4 rows each) -> rows (a_r b_r c_r d_r), as packA does for rows.
            const [c0, c1, c2, c3] = colsV.slice(4 * half, 4 * half + 4) as [Local, Local, Local, Local];
            const [t0, t1, t2, t3] = pairs as [Local, Local, Local, Local];
            f.get(c0).get(c1).shuffle(lanes(0, 4, 1, 5)).set(t0);
            f.get(c0).get(c1).shuffle(lanes(2, 6, 3, 7)).set(t1);
            f.get(c2).get(c3).shuffle(lanes(0, 4, 1, 5)).set(t2);
            f.get(c2).get(c3).shuffle(lanes(2, 6, 3, 7)).set(t3);
            f.get(d).get(t0).get(t2).shuffle(lanes(0, 1, 4, 5)).op('v128.store', 16 * half);
            f.get(d).get(t0).get(t2).shuffle(lanes(2, 3, 6, 7)).op('v128.store', 16 * half + NR * 4);
            f.get(d).get(t1).get(t3).shuffle(lanes(0, 1, 4, 5)).op('v128.store', 16 * half + 2 * NR * 4);
            f.get(d).get(t1).get(t3).shuffle(lanes(2, 3, 6, 7)).op('v128.store', 16 * half + 3 * NR * 4);
          }
          f.inc(d, 4 * NR * 4).inc(s, 16);
        });
        f.setI32(k0, k4);
        f.setI32(d, () => f.get(dst).get(p0).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
      });
      // The rest (all of it, but for the blocks above): one element at a time, from row k0 on.
      f.forRange(jj, 0, w, 1, () => {
        f.setI32(s, () => f.get(src).get(p0).get(jj).op('i32.add').get(cs).op('i32.mul').get(k0).get(rs).op('i32.mul').op('i32.add').i32(2).op('i32.shl').op('i32.add'));
        f.forRange(k, k0, kc, 1, () => {
          f.get(d).get(k).i32(NR * 4).op('i32.mul').op('i32.add').get(jj).i32(2).op('i32.shl').op('i32.add');
          f.get(s).op('f32.load').op('f32.store');
          f.inc(s, rsBytes);
        });
      });
    });
  });
  return f;
}


/**
 * packA(mc, kc, src, rs, cs, dst): ceil(mc/4) panels, each kc columns of 4 floats (rows past mc are 0).
 * A column-major panel (rs == 1) is copied with one v128 load per column; a row-major one (cs == 1, the usual
 * layout) as 4 x 4 blocks: four row loads transposed by shuffles into four column stores (one scalar load and
 * store per element took about 4% of a square product's time).
 */
function emitPackA(m: ModuleBuilder): FunctionBuilder {
  const f = m.func('packA', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [mc, kc, src, rs, cs, dst] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local];
  const p0 = f.local('i32'), h = f.local('i32'), k = f.local('i32'), ii = f.local('i32');
  const s = f.local('i32'), d = f.local('i32'), csBytes = f.local('i32'), rsBytes = f.local('i32'), k4 = f.local('i32');
  const rowsV = [0, 1, 2, 3].map(() => f.local('v128'));
  const pairs = [0, 1, 2, 3].map(() => f.local('v128'));
  f.setI32(csBytes, cs, 'i32.shl', 2);
  f.forRange(p0, 0, mc, MR, () => {
    f.get(mc).get(p0).op('i32.sub').set(h);
    f.setI32(h, min(f, h, MR));
    f.setI32(d, () => f.get(dst).get(p0).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
    f.ifThen(() => f.get(rs).i32(1).op('i32.eq').get(h).i32(MR).op('i32.eq').op('i32.and'), () => {
      f.setI32(s, addr(f, src, p0, rs, 0, cs));
      f.forRange(k, 0, kc, 1, () => {
        f.get(d).get(s).op('v128.load').op('v128.store');
        f.inc(d, MR * 4).inc(s, csBytes);
      });
    }, () => {
      f.setI32(k, 0);
      f.ifThen(() => f.get(cs).i32(1).op('i32.eq').get(h).i32(MR).op('i32.eq').op('i32.and'), () => {
        f.setI32(s, addr(f, src, p0, rs, 0, cs));
        f.setI32(rsBytes, rs, 'i32.shl', 2);
        f.get(kc).i32(-4).op('i32.and').set(k4);
        f.forRange(k, 0, k4, 4, () => {
          rowsV.forEach((v, r) => {
            f.get(s);
            if (r > 0) f.get(rsBytes).i32(r).op('i32.mul').op('i32.add');
            f.op('v128.load').set(v);
          });
          // (a0 b0 a1 b1) (a2 b2 a3 b3) (c0 d0 c1 d1) (c2 d2 c3 d3), then the columns (a_j b_j c_j d_j).
          const [r0, r1, r2, r3] = rowsV as [Local, Local, Local, Local];
          const [t0, t1, t2, t3] = pairs as [Local, Local, Local, Local];
          f.get(r0).get(r1).shuffle(lanes(0, 4, 1, 5)).set(t0);
          f.get(r0).get(r1).shuffle(lanes(2, 6, 3, 7)).set(t1);
          f.get(r2).get(r3).shuffle(lanes(0, 4, 1, 5)).set(t2);
          f.get(r2).get(r3).shuffle(lanes(2, 6, 3, 7)).set(t3);
          f.get(d).get(t0).get(t2).shuffle(lanes(0, 1, 4, 5)).op('v128.store');
          f.get(d).get(t0).get(t2).shuffle(lanes(2, 3, 6, 7)).op('v128.store', 16);
          f.get(d).get(t1).get(t3).shuffle(lanes(0, 1, 4, 5)).op('v128.store', 32);
          f.get(d).get(t1).get(t3).shuffle(lanes(2, 3, 6, 7)).op('v128.store', 48);
          f.inc(d, 4 * MR * 4).inc(s, 16);
        });
      });
      // The rest (all of it, but for the blocks above): one element at a time, from column k on.
      f.ifThen(() => f.get(h).i32(MR).op('i32.lt_s'), () => {
        f.get(d).i32(0).get(kc).i32(MR * 4).op('i32.mul').op('memory.fill');
      });
      f.setI32(k4, k);
      f.setI32(d, () => f.get(dst).get(p0).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add'));
      f.forRange(ii, 0, h, 1, () => {
        f.setI32(s, () => f.get(src).get(p0).get(ii).op('i32.add').get(rs).op('i32.mul').get(k4).get(cs).op('i32.mul').op('i32.add').i32(2).op('i32.shl').op('i32.add'));
        f.forRange(k, k4, kc, 1, () => {
          f.get(d).get(k).i32(MR * 4).op('i32.mul').op('i32.add').get(ii).i32(2).op('i32.shl').op('i32.add');
          f.get(s).op('f32.load').op('f32.store');
          f.inc(s, csBytes);
        });
      });
    });
  });
  return f;
}

/**
 * micro(kc, pa, pb, c, ldcBytes, mr, nr, overwrite, tile): the 4x8 tile of C at c gets (or gets added) the
 * product of a packed A panel and a packed B panel. Edge tiles (mr < 4 or nr < 8) go through `tile`.
 */
function emitMicro(m: ModuleBuilder, relaxed: boolean): FunctionBuilder {
  const f = m.func('micro', ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [kc, pa, pb, c, ldc, mr, nr, overwrite, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => f.param(i)) as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const acc: Local[] = [];
  for (let i = 0; i < MR * 2; i++) acc.push(f.local('v128'));
  const b0 = f.local('v128'), b1 = f.local('v128'), a = f.local('v128');
  const end = f.local('i32'), row = f.local('i32'), i = f.local('i32'), j = f.local('i32'), p = f.local('i32');
  for (const x of acc) f.f32x4(0).set(x);
  f.setI32(end, () => f.get(pb).get(kc).i32(NR * 4).op('i32.mul').op('i32.add'));
  f.loop(() => {
    f.get(pb).op('v128.load').set(b0);
    f.get(pb).op('v128.load', 16).set(b1);
    for (let r = 0; r < MR; r++) {
      // A constant memarg offset: an address computed with i32.add cost V8 an instruction per splat, and the loop
      // is short of issue slots (measured: 8% more GFLOP/s with fused multiply-add, 2-3% with mul + add).
      f.get(pa).op('v128.load32_splat', r * 4).set(a);
      for (const [bv, x] of [[b0, acc[2 * r]!], [b1, acc[2 * r + 1]!]] as const) {
        if (relaxed) f.get(a).get(bv).get(x).op('f32x4.relaxed_madd').set(x);
        else f.get(x).get(a).get(bv).op('f32x4.mul').op('f32x4.add').set(x);
      }
    }
    f.inc(pa, MR * 4).inc(pb, NR * 4);
    f.get(pb).get(end).op('i32.lt_u').brIf(0);
  });
  const full = () => f.get(mr).i32(MR).op('i32.eq').get(nr).i32(NR).op('i32.eq').op('i32.and');
  f.ifThen(full, () => {
    f.setI32(row, c);
    f.ifThen(overwrite, () => {
      for (let r = 0; r < MR; r++) {
        f.get(row).get(acc[2 * r]!).op('v128.store');
        f.get(row).get(acc[2 * r + 1]!).op('v128.store', 16);
        f.inc(row, ldc);
      }
    }, () => {
      for (let r = 0; r < MR; r++) {
        f.get(row).get(row).op('v128.load').get(acc[2 * r]!).op('f32x4.add').op('v128.store');
        f.get(row).get(row).op('v128.load', 16).get(acc[2 * r + 1]!).op('f32x4.add').op('v128.store', 16);
        f.inc(row, ldc);
      }
    });
  }, () => {
    for (let r = 0; r < MR * 2; r++) f.get(tile).get(acc[r]!).op('v128.store', r * 16);
    const tileValue = () => f.get(tile).get(i).i32(NR).op('i32.mul').get(j).op('i32.add').i32(2).op('i32.shl').op('i32.add').op('f32.load');
    f.forRange(i, 0, mr, 1, () => {
      f.setI32(row, () => f.get(c).get(i).get(ldc).op('i32.mul').op('i32.add'));
      f.forRange(j, 0, nr, 1, () => {
        f.setI32(p, () => f.get(row).get(j).i32(2).op('i32.shl').op('i32.add'));
        f.ifThen(overwrite, () => {
          f.get(p);
          tileValue();
          f.op('f32.store');
        }, () => {
          f.get(p).get(p).op('f32.load');
          tileValue();
          f.op('f32.add').op('f32.store');
        });
      });
    });
  });
  return f;
}

/**
 * Where block (jc, pc) of B starts, in float32 elements, in B packed whole (packBlocksOfB's layout): the blocks
 * of NC columns one after the other, each its KC-row blocks in order, each as packB lays it out.
 */
export const packedBlockOffset = (K: number, N: number, jc: number, pc: number, b: Blocking = DEFAULT_BLOCKING): number =>
  jc * K + pc * Math.ceil(Math.min(b.nc, N - jc) / NR) * NR;

/**
 * gemm(M, N, K, A, rsA, csA, B, rsB, csB, C, ldc, j0, j1, accumulate, packedB, scratch): columns j0..j1 of
 * C (+)= A B. Strides are in elements, addresses in bytes; `scratch` holds GEMM_SCRATCH_BYTES for this thread.
 * With packedB (not 0) B has been packed whole there (packedBlockOffset) and j0 is 0: threads that split one
 * product's rows share one packing of B instead of each packing all of it.
 */
function emitGemm(m: ModuleBuilder, packA: FunctionBuilder, packB: FunctionBuilder, micro: FunctionBuilder, b: Blocking, name: string): FunctionBuilder {
  const { kc: KC, mc: MC, nc: NC } = b;
  const PACK_A_BYTES = MC * KC * 4;
  const PACK_B_BYTES = KC * NC * 4;
  const f = m.func(name, Array(16).fill('i32'));
  const [M, , K, A, rsA, csA, B, rsB, csB, C, ldc, j0, j1, accumulate, packedB, scratch] = Array.from({ length: 16 }, (_, i) => f.param(i));
  const jc = f.local('i32'), nc = f.local('i32'), pc = f.local('i32'), kc = f.local('i32');
  const ic = f.local('i32'), mc = f.local('i32'), jr = f.local('i32'), ir = f.local('i32');
  const mr = f.local('i32'), nr = f.local('i32');
  const overwrite = f.local('i32'), pA = f.local('i32'), pB = f.local('i32'), tile = f.local('i32'), ldcBytes = f.local('i32');
  const lim = (x: Local, cap: number) => () => f.get(x).i32(cap).get(x).i32(cap).op('i32.lt_s').op('select');
  f.setI32(pA, scratch).setI32(tile, scratch, 'i32.add', PACK_A_BYTES + PACK_B_BYTES);
  f.setI32(ldcBytes, ldc, 'i32.shl', 2);
  f.forRange(jc, j0, j1, NC, () => {
    f.setI32(nc, j1, 'i32.sub', jc).setI32(nc, lim(nc, NC));
    f.forRange(pc, 0, K, KC, () => {
      f.setI32(kc, K, 'i32.sub', pc).setI32(kc, lim(kc, KC));
      f.ifThen(packedB, () => {
        // packedBlockOffset: jc K + pc nc rounded up to 8 (nc = min(NC, N - jc) here, j1 being N), in bytes.
        f.setI32(pB, () => {
          f.get(packedB).get(jc).get(K).op('i32.mul');
          f.get(pc).get(nc).i32(NR - 1).op('i32.add').i32(-NR).op('i32.and').op('i32.mul');
          f.op('i32.add').i32(2).op('i32.shl').op('i32.add');
        });
      }, () => {
        f.setI32(pB, scratch, 'i32.add', PACK_A_BYTES);
        f.get(kc).get(nc).push(addr(f, B, pc, rsB, jc, csB)).get(rsB).get(csB).get(pB).call(packB);
      });
      f.setI32(overwrite, () => f.get(pc).op('i32.eqz').get(accumulate).op('i32.eqz').op('i32.and'));
      f.forRange(ic, 0, M, MC, () => {
        f.setI32(mc, M, 'i32.sub', ic).setI32(mc, lim(mc, MC));
        f.get(mc).get(kc).push(addr(f, A, ic, rsA, pc, csA)).get(rsA).get(csA).get(pA).call(packA);
        f.forRange(jr, 0, nc, NR, () => {
          f.forRange(ir, 0, mc, MR, () => {
            f.get(kc);
            f.get(pA).get(ir).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add');
            f.get(pB).get(jr).get(kc).op('i32.mul').i32(2).op('i32.shl').op('i32.add');
            f.get(C).get(ic).get(ir).op('i32.add').get(ldc).op('i32.mul').get(jc).op('i32.add').get(jr).op('i32.add').i32(2).op('i32.shl').op('i32.add');
            f.get(ldcBytes);
            f.get(mc).get(ir).op('i32.sub').set(mr).push(lim(mr, MR));
            f.get(nc).get(jr).op('i32.sub').set(nr).push(lim(nr, NR));
            f.get(overwrite).get(tile).call(micro);
          });
        });
      });
    });
  });
  return f;
}

/** Adds the GEMM functions to a module; exports `gemm`. */
export function emitGemmFunctions(m: ModuleBuilder, relaxed: boolean, blocking: Blocking = DEFAULT_BLOCKING, name = 'gemm'): void {
  const packA = emitPackA(m);
  const packB = emitPackB(m);
  const micro = emitMicro(m, relaxed);
  m.export(emitGemm(m, packA, packB, micro, blocking, name));
  m.export(packB);
}
