/**
 * The safetensors format (https://github.com/huggingface/safetensors), encoded and decoded in memory. No Node
 * built-ins: file I/O lives in safetensors-node.ts.
 *
 * Layout of a file:
 *   8 bytes    N, the header length, an unsigned 64-bit little-endian integer
 *   N bytes    a UTF-8 JSON object: { "__metadata__"?: { string: string }, "<name>": { "dtype": "F32",
 *              "shape": [2, 3], "data_offsets": [begin, end] }, ... }, padded with spaces
 *   rest       the byte buffer; each tensor's row-major little-endian elements lie at [begin, end) of it
 *
 * Like the reference implementation we write the header padded to a multiple of 8 bytes and the tensors sorted by
 * alignment then name (so F64 data stays 8-byte aligned), and on reading we require that the tensors tile the
 * byte buffer exactly: no overlap, no gap, no trailing bytes. Names are kept as given, so a state dict written
 * from `Module.stateDict()` has PyTorch's dotted names and opens with `safetensors.torch.load_file`.
 *
 * Hostile headers: a key repeated in any object of the header (two tensors of one name, two dtypes in one entry)
 * is refused, since JSON.parse would silently keep the last; the maps we build and return are prototype-free
 * (`Object.create(null)`), so `__proto__`, `constructor` or `toString` are names like any other.
 */
import { Tensor, fromTypedArray, type DType, type TypedArray } from '@oclt/tensor';

/** safetensors dtype codes for the dtypes we store. BOOL is one byte per element (0 or 1). */
const CODE_OF: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32', bool: 'BOOL' };
/** Prototype-free, so that a dtype named 'constructor' or 'toString' is unknown like any other. */
const DTYPE_OF: Record<string, DType> = Object.assign(Object.create(null) as Record<string, DType>, { F32: 'float32', F64: 'float64', I32: 'int32', BOOL: 'bool' });
const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4, bool: 1 };
/**
 * Dtypes read but not stored as such: each is converted on load to the dtype given here, and the conversion is
 * reported in `SafetensorsContent.converted`. F16 and BF16 widen to float32 exactly (every half and bfloat16
 * value is a float32 value); I64 narrows to int32 and is refused, naming the tensor and element, when a value
 * lies outside [-2^31, 2^31) (the only I64 tensors PyTorch checkpoints hold are counters and label indices).
 */
const CONVERTED_OF: Record<string, { bytes: number; to: DType }> = Object.assign(Object.create(null) as Record<string, { bytes: number; to: DType }>, {
  F16: { bytes: 2, to: 'float32' },
  BF16: { bytes: 2, to: 'float32' },
  I64: { bytes: 8, to: 'int32' },
});

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length must not allocate GBs). */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A malformed or truncated safetensors file. `source` names the file, `field` the part that is wrong. */
export class SafetensorsError extends Error {
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`safetensors (${source}): ${field}: ${detail}`);
    this.name = 'SafetensorsError';
  }
}

export interface SafetensorsContent {
  /** Prototype-free: every key is a tensor name (`__proto__` included). */
  tensors: Record<string, Tensor>;
  /** Prototype-free, like `tensors`. */
  metadata: Record<string, string>;
  /**
   * The tensors stored in a dtype we convert on load (F16, BF16 -> float32 exactly; I64 -> int32, range-checked),
   * by name: what the file held and what the tensor now is. Prototype-free; empty when nothing was converted.
   */
  converted: Record<string, { from: string; to: DType }>;
}

/** A short JSON rendering of a header value for a message (never throws: deep values overflow JSON.stringify). */
function show(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? 'a deeply nested array' : `a deeply nested ${typeof v}`;
  }
  if (text === undefined) return String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The first key that appears twice in one object of `text` (valid JSON), with the keys leading to that object
 * (empty for the top level), or null. A single pass over the text with an explicit stack: no recursion, so deep
 * nesting cannot overflow it. Keys are compared decoded ("w" and "\u0077" are the same key).
 */
export function firstDuplicateKey(text: string): { path: string[]; key: string } | null {
  interface Frame { keys: Set<string> | null; key: string }
  const stack: Frame[] = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote, skipping escapes.
      let j = i + 1;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        const raw = text.slice(i, j + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.keys.has(key)) return { path: stack.slice(0, -1).map((f) => (f.keys ? f.key : '[]')), key };
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push({ keys: new Set(), key: '' });
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push({ keys: null, key: '' });
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1]?.keys != null;
    }
  }
  return null;
}

/** Serialises named tensors (any layout; they are read row-major) and an optional string map of metadata. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error("encodeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    if (!(t instanceof Tensor)) throw new TypeError(`encodeSafetensors: '${name}' is not a Tensor`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TypeError(`encodeSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
  }
  // Larger elements first, then by name: keeps every tensor aligned to its element size.
  entries.sort(([a, ta], [b, tb]) => BYTES[tb.dtype] - BYTES[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  // Prototype-free: a tensor named '__proto__' is a key like any other (on a plain object it would set the prototype).
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const datas: TypedArray[] = [];
  for (const [name, t] of entries) {
    const data = t.toTypedArray();
    const nbytes = data.length * BYTES[t.dtype];
    header[name] = { dtype: CODE_OF[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    datas.push(data);
    offset += nbytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, Math.floor(json.length / 2 ** 32), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const data of datas) {
    writeLittleEndian(out, pos, data);
    pos += data.byteLength;
  }
  return out;
}

/**
 * Parses safetensors bytes into tensors (copies, contiguous, on the current backend) and metadata. Every
 * structural problem is a `SafetensorsError` that names `source` (a file name, for messages) and the field.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<bytes>'): SafetensorsContent {
  const fail = (field: string, detail: string): never => {
    throw new SafetensorsError(source, field, detail);
  };
  if (!(bytes instanceof Uint8Array)) fail('input', 'expected a Uint8Array');
  if (bytes.length < 8) fail('header length', `the file has ${bytes.length} bytes, fewer than the 8-byte header length field (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLen > MAX_HEADER_BYTES) fail('header length', `${headerLen} bytes exceeds the limit of ${MAX_HEADER_BYTES}`);
  if (8 + headerLen > bytes.length) fail('header length', `${headerLen} bytes, but only ${bytes.length - 8} bytes follow the length field (truncated?)`);
  if (headerLen < 2) fail('header length', `${headerLen} bytes is too short for a JSON object`);

  let header: unknown;
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (err) {
    fail('header', `not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header', 'must be a JSON object');
  const duplicate = firstDuplicateKey(text);
  if (duplicate) {
    const [top, ...rest] = duplicate.path;
    const field = top === undefined ? 'header' : top === '__metadata__' ? ['__metadata__', ...rest].join('.') : [`tensor '${top}'`, ...rest].join('.');
    fail(field, `duplicate key '${duplicate.key}' (JSON keeps only the last; refused)`);
  }
  // JSON.parse makes own properties, "__proto__" included; Object.entries lists them all.
  const entries = Object.entries(header as Record<string, unknown>);

  const metadata: Record<string, string> = Object.create(null);
  const rawMeta = Object.hasOwn(header as object, '__metadata__') ? (header as Record<string, unknown>).__metadata__ : undefined;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) fail('__metadata__', 'must be an object of strings');
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__.${k}`, `must be a string, got ${show(v)}`);
      metadata[k] = v as string;
    }
  }

  const dataStart = 8 + headerLen;
  const bufferLen = bytes.length - dataStart;
  interface Spec { name: string; code: string; dtype: DType; shape: number[]; begin: number; end: number }
  const specs: Spec[] = [];
  for (const [name, raw] of entries) {
    if (name === '__metadata__') continue;
    const field = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(field, 'must be an object with dtype, shape and data_offsets');
    const own = (k: string) => (Object.hasOwn(raw as object, k) ? (raw as Record<string, unknown>)[k] : undefined);
    const [code, shape, offsets] = [own('dtype'), own('shape'), own('data_offsets')];
    if (typeof code !== 'string' || !(code in DTYPE_OF || code in CONVERTED_OF)) {
      fail(`${field}.dtype`, `unknown or unsupported dtype ${show(code)} (supported: ${[...Object.keys(DTYPE_OF), ...Object.keys(CONVERTED_OF).map((k) => `${k} (converted to ${CONVERTED_OF[k]!.to})`)].join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${field}.shape`, `must be an array of non-negative integers, got ${show(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${field}.data_offsets`, `must be [begin, end] with non-negative integers, got ${show(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${field}.data_offsets`, `begin ${begin} is after end ${end}`);
    if (end > bufferLen) fail(`${field}.data_offsets`, `[${begin}, ${end}] runs past the end of the byte buffer (${bufferLen} bytes; truncated?)`);
    const conversion = CONVERTED_OF[code as string];
    const dtype = conversion ? conversion.to : DTYPE_OF[code as string]!;
    const elementBytes = conversion ? conversion.bytes : BYTES[dtype];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (numel * elementBytes !== end - begin) {
      fail(`${field}.data_offsets`, `span ${end - begin} bytes, but shape [${(shape as number[]).join(', ')}] of ${code} needs ${numel * elementBytes}`);
    }
    specs.push({ name, code: code as string, dtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the byte buffer: sorted by begin, each starts where the previous ended.
  const sorted = [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: Spec | null = null;
  for (const s of sorted) {
    if (s.begin < expected) fail(`tensor '${s.name}'.data_offsets`, `[${s.begin}, ${s.end}] overlaps tensor '${previous!.name}' [${previous!.begin}, ${previous!.end}]`);
    if (s.begin > expected) fail(`tensor '${s.name}'.data_offsets`, `leaves a gap of ${s.begin - expected} bytes before it (begins at ${s.begin}, expected ${expected})`);
    expected = s.end;
    previous = s;
  }
  if (expected !== bufferLen) fail('data', `the byte buffer has ${bufferLen} bytes but the tensors cover ${expected} (trailing bytes)`);

  const tensors: Record<string, Tensor> = Object.create(null);
  const converted: Record<string, { from: string; to: DType }> = Object.create(null);
  for (const s of specs) {
    const src = bytes.subarray(dataStart + s.begin, dataStart + s.end);
    if (s.code in CONVERTED_OF) {
      const data = readConverted(src, s.code, (i, v) => fail(`tensor '${s.name}'`, `I64 element ${i} is ${v}, outside the int32 range it is converted to`));
      tensors[s.name] = fromTypedArray(data, s.shape);
      converted[s.name] = { from: s.code, to: s.dtype };
      continue;
    }
    const data = readLittleEndian(src, s.dtype);
    if (s.dtype === 'bool') {
      for (let i = 0; i < data.length; i++) if (data[i]! > 1) fail(`tensor '${s.name}'`, `BOOL element ${i} is ${data[i]}, expected 0 or 1`);
    }
    tensors[s.name] = fromTypedArray(data, s.shape);
  }
  return { tensors, metadata, converted };
}

/** IEEE 754 binary16 bits -> the same value as a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** F16 / BF16 -> Float32Array (exact), I64 -> Int32Array (`outOfRange` is called for a value that does not fit). */
function readConverted(src: Uint8Array, code: string, outOfRange: (index: number, value: bigint) => never): Float32Array | Int32Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (code === 'I64') {
    const out = new Int32Array(src.length / 8);
    for (let i = 0; i < out.length; i++) {
      const v = view.getBigInt64(8 * i, true);
      if (v < -2147483648n || v > 2147483647n) outOfRange(i, v);
      out[i] = Number(v);
    }
    return out;
  }
  const out = new Float32Array(src.length / 2);
  if (code === 'BF16') {
    // bfloat16 is the top half of a float32: shift its bits into place.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

function readLittleEndian(src: Uint8Array, dtype: DType): TypedArray {
  const n = src.length / BYTES[dtype];
  if (dtype === 'bool') return src.slice();
  if (LITTLE_ENDIAN_HOST) {
    // Copy into a fresh (aligned) buffer, then view it.
    const buf = new Uint8Array(src.length);
    buf.set(src);
    return dtype === 'float32' ? new Float32Array(buf.buffer) : dtype === 'float64' ? new Float64Array(buf.buffer) : new Int32Array(buf.buffer);
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (dtype === 'float32') return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
  if (dtype === 'float64') return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
  return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
}

function writeLittleEndian(out: Uint8Array, pos: number, data: TypedArray): void {
  if (LITTLE_ENDIAN_HOST || data instanceof Uint8Array) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + pos, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(4 * i, data[i]!, true);
    else if (data instanceof Float64Array) view.setFloat64(8 * i, data[i]!, true);
    else view.setInt32(4 * i, data[i]!, true);
  }
}
