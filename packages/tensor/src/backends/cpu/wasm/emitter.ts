/**
 * A small WebAssembly module builder: the fast cpu kernels are written as TypeScript functions that emit
 * WebAssembly bytecode at run time (no C/Rust toolchain, no prebuilt binary).
 *
 * Instructions are written by their WAT names (`f.op('f32x4.add')`), so emitted code reads like the text
 * format. Structured helpers (`block`, `loop`, `forRange`, `ifThen`) keep branch depths right.
 * Only what the kernels need is here: one imported (shared) memory, i32/f32/f64/v128 values, functions and
 * exports.
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: expected a non-negative integer, got ${n}`);
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit range). */
export function sleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n)) throw new Error(`sleb: expected an integer, got ${n}`);
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function str(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** Plain opcodes without immediates. */
const SIMPLE: Record<string, number[]> = {
  unreachable: [0x00], nop: [0x01], return: [0x0f], drop: [0x1a], select: [0x1b],
  'i32.eqz': [0x45], 'i32.eq': [0x46], 'i32.ne': [0x47], 'i32.lt_s': [0x48], 'i32.lt_u': [0x49],
  'i32.gt_s': [0x4a], 'i32.gt_u': [0x4b], 'i32.le_s': [0x4c], 'i32.le_u': [0x4d], 'i32.ge_s': [0x4e], 'i32.ge_u': [0x4f],
  'f32.eq': [0x5b], 'f32.ne': [0x5c], 'f32.lt': [0x5d], 'f32.gt': [0x5e], 'f32.le': [0x5f], 'f32.ge': [0x60],
  'i32.add': [0x6a], 'i32.sub': [0x6b], 'i32.mul': [0x6c], 'i32.div_s': [0x6d], 'i32.div_u': [0x6e], 'i32.rem_s': [0x6f],
  'i32.and': [0x71], 'i32.or': [0x72], 'i32.xor': [0x73], 'i32.shl': [0x74], 'i32.shr_s': [0x75], 'i32.shr_u': [0x76],
  'f32.abs': [0x8b], 'f32.neg': [0x8c], 'f32.sqrt': [0x91],
  'f32.add': [0x92], 'f32.sub': [0x93], 'f32.mul': [0x94], 'f32.div': [0x95], 'f32.min': [0x96], 'f32.max': [0x97],
  'f64.add': [0xa0], 'f64.sub': [0xa1], 'f64.mul': [0xa2], 'f64.div': [0xa3], 'f64.max': [0xa5],
  'f32.demote_f64': [0xb6], 'f64.promote_f32': [0xbb],
  'memory.copy': [0xfc, 10, 0, 0], 'memory.fill': [0xfc, 11, 0],
};

/** SIMD opcodes (prefix 0xfd) without immediates. */
const SIMD: Record<string, number> = {
  'i8x16.swizzle': 14, 'i32x4.splat': 17, 'f32x4.splat': 19, 'f64x2.splat': 20,
  'f32x4.eq': 65, 'f32x4.ne': 66, 'f32x4.lt': 67, 'f32x4.gt': 68, 'f32x4.le': 69, 'f32x4.ge': 70,
  'v128.not': 77, 'v128.and': 78, 'v128.andnot': 79, 'v128.or': 80, 'v128.xor': 81, 'v128.bitselect': 82, 'v128.any_true': 83,
  'i32x4.shl': 171, 'i32x4.shr_s': 172, 'i32x4.shr_u': 173, 'i32x4.add': 174, 'i32x4.sub': 177, 'i32x4.mul': 181,
  'i32x4.min_s': 182, 'i32x4.max_s': 184,
  'f32x4.ceil': 103, 'f32x4.floor': 104, 'f32x4.nearest': 106,
  'f32x4.abs': 224, 'f32x4.neg': 225, 'f32x4.sqrt': 227,
  'f32x4.add': 228, 'f32x4.sub': 229, 'f32x4.mul': 230, 'f32x4.div': 231, 'f32x4.min': 232, 'f32x4.max': 233,
  'f32x4.pmin': 234, 'f32x4.pmax': 235,
  'f64x2.add': 240, 'f64x2.sub': 241, 'f64x2.mul': 242,
  'i32x4.trunc_sat_f32x4_s': 248, 'f32x4.convert_i32x4_s': 250,
  'f64x2.promote_low_f32x4': 95,
  // Relaxed SIMD (only valid where the engine supports it; feature-detected by the caller).
  'f32x4.relaxed_madd': 0x105,
};

/** Loads and stores: [prefix bytes, natural alignment log2]. */
const MEMOPS: Record<string, [number[], number]> = {
  'i32.load': [[0x28], 2], 'f32.load': [[0x2a], 2], 'f64.load': [[0x2b], 3],
  'i32.store': [[0x36], 2], 'f32.store': [[0x38], 2], 'f64.store': [[0x39], 3],
  'v128.load': [[0xfd, 0], 4], 'v128.load32_splat': [[0xfd, 9], 2], 'v128.store': [[0xfd, 11], 4],
  'v128.load64_zero': [[0xfd, 93], 3],
};

/** Lane ops: [opcode]. */
const LANE: Record<string, number> = {
  'f32x4.extract_lane': 31, 'f32x4.replace_lane': 32, 'f64x2.extract_lane': 33,
};

export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** An operand for the structured helpers: a constant, a local, or code that pushes one i32. */
export type I32 = number | Local | (() => void);

export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];
  private depth = 0;

  constructor(
    readonly name: string,
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
    readonly index: number,
  ) {}

  /** The i-th parameter as a local. */
  param(i: number): Local {
    if (i >= this.params.length) throw new Error(`${this.name}: no parameter ${i}`);
    return { index: i, type: this.params[i]! };
  }

  local(type: ValType): Local {
    this.localTypes.push(type);
    return { index: this.params.length + this.localTypes.length - 1, type };
  }

  /** Emits one instruction by its WAT name; memory ops take an offset (bytes). */
  op(name: string, offset = 0): this {
    const simple = SIMPLE[name];
    if (simple) {
      this.code.push(...simple);
      return this;
    }
    const simd = SIMD[name];
    if (simd !== undefined) {
      this.code.push(0xfd, ...uleb(simd));
      return this;
    }
    const mem = MEMOPS[name];
    if (mem) {
      this.code.push(...mem[0], ...uleb(mem[1]), ...uleb(offset));
      return this;
    }
    throw new Error(`emitter: unknown instruction '${name}'`);
  }

  lane(name: string, lane: number): this {
    const code = LANE[name];
    if (code === undefined) throw new Error(`emitter: unknown lane instruction '${name}'`);
    this.code.push(0xfd, ...uleb(code), lane);
    return this;
  }

  /** i8x16.shuffle with 16 lane indices. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('emitter: i8x16.shuffle needs 16 lanes');
    this.code.push(0xfd, 13, ...lanes);
    return this;
  }

  i32(v: number): this {
    this.code.push(0x41, ...sleb(v));
    return this;
  }

  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.code.push(0x43, ...b);
    return this;
  }

  f64(v: number): this {
    const b = new Uint8Array(new Float64Array([v]).buffer);
    this.code.push(0x44, ...b);
    return this;
  }

  /** A v128 with the same f32 in all four lanes. */
  f32x4(v: number): this {
    return this.f32(v).op('f32x4.splat');
  }

  get(l: Local): this {
    this.code.push(0x20, ...uleb(l.index));
    return this;
  }

  set(l: Local): this {
    this.code.push(0x21, ...uleb(l.index));
    return this;
  }

  tee(l: Local): this {
    this.code.push(0x22, ...uleb(l.index));
    return this;
  }

  call(f: FunctionBuilder): this {
    this.code.push(0x10, ...uleb(f.index));
    return this;
  }

  /** Pushes an I32 operand. */
  push(x: I32): this {
    if (typeof x === 'number') return this.i32(x);
    if (typeof x === 'function') {
      x();
      return this;
    }
    return this.get(x);
  }

  /** local = a (+|*|...) b for i32. */
  setI32(dst: Local, a: I32, opName?: string, b?: I32): this {
    this.push(a);
    if (opName) this.push(b!).op(opName);
    return this.set(dst);
  }

  /** local += x (i32). */
  inc(l: Local, x: I32): this {
    return this.get(l).push(x).op('i32.add').set(l);
  }

  /** A block; `br(0)` inside exits it. */
  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** A loop; `br(0)` inside jumps back to its top. */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  br(depth: number): this {
    this.code.push(0x0c, ...uleb(depth));
    return this;
  }

  brIf(depth: number): this {
    this.code.push(0x0d, ...uleb(depth));
    return this;
  }

  /** if (cond) then [else otherwise]: `cond` pushes an i32. */
  ifThen(cond: I32, then: () => void, otherwise?: () => void): this {
    this.push(cond);
    this.code.push(0x04, 0x40);
    this.depth++;
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** for (i = start; i < end; i += step) body — signed comparison; the body must not branch out of it. */
  forRange(i: Local, start: I32, end: I32, step: I32, body: () => void): this {
    this.push(start).set(i);
    return this.block(() => {
      this.loop(() => {
        this.get(i).push(end).op('i32.ge_s').brIf(1);
        body();
        this.inc(i, step).br(0);
      });
    });
  }

  /** The function body as bytes (locals declaration + code + end). */
  encode(): number[] {
    const groups: [number, ValType][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length)];
    for (const [n, t] of groups) body.push(...uleb(n), VALTYPE[t]);
    body.push(...this.code, 0x0b);
    return [...uleb(body.length), ...body];
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  initialPages: number;
  maximumPages: number;
  shared: boolean;
}

export class ModuleBuilder {
  private readonly functions: FunctionBuilder[] = [];
  private readonly exportsList: { name: string; index: number }[] = [];
  private memory: MemoryImport | null = null;

  importMemory(m: MemoryImport): this {
    this.memory = m;
    return this;
  }

  func(name: string, params: readonly ValType[], results: readonly ValType[] = []): FunctionBuilder {
    const f = new FunctionBuilder(name, params, results, this.functions.length);
    this.functions.push(f);
    return f;
  }

  export(f: FunctionBuilder, name = f.name): this {
    this.exportsList.push({ name, index: f.index });
    return this;
  }

  /** The module's bytes, on an ordinary ArrayBuffer (what WebAssembly.Module and validate take as a BufferSource). */
  encode(): Uint8Array<ArrayBuffer> {
    const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
    const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
    // One type per function keeps this simple (duplicates are legal).
    const types = this.functions.map((f) => [0x60, ...uleb(f.params.length), ...f.params.map((t) => VALTYPE[t]), ...uleb(f.results.length), ...f.results.map((t) => VALTYPE[t])]);
    const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    bytes.push(...section(1, vec(types)));
    if (this.memory) {
      const m = this.memory;
      const limits = m.shared ? [0x03, ...uleb(m.initialPages), ...uleb(m.maximumPages)] : [0x01, ...uleb(m.initialPages), ...uleb(m.maximumPages)];
      bytes.push(...section(2, vec([[...str(m.module), ...str(m.name), 0x02, ...limits]])));
    }
    bytes.push(...section(3, vec(this.functions.map((f) => uleb(f.index)))));
    bytes.push(...section(7, vec(this.exportsList.map((e) => [...str(e.name), 0x00, ...uleb(e.index)]))));
    bytes.push(...section(10, vec(this.functions.map((f) => f.encode()))));
    return new Uint8Array(bytes);
  }
}
