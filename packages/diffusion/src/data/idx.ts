/**
 * The IDX file format (LeCun's MNIST format, also Fashion-MNIST): a 4-byte magic [0, 0, typeCode, ndims], ndims
 * big-endian uint32 dimensions, then the elements row-major and big-endian. This parser works on bytes and is
 * browser-safe; reading files and gunzipping is in src/node/idx.ts.
 *
 * A file that cannot be read is refused with an `IdxFormatError` naming the file and the field at fault: 'header'
 * (fewer than 4 bytes), 'magic', 'type' (element type code), 'dims' (the dimension list is cut short, or its
 * product is not a usable element count), 'truncated' (fewer data bytes than the dims need) or 'count' (more).
 */

/** The fields of an IDX file that `parseIdx` checks; an error names one. */
export type IdxField = 'header' | 'magic' | 'type' | 'dims' | 'truncated' | 'count';

export class IdxFormatError extends Error {
  constructor(
    readonly source: string,
    readonly field: IdxField,
    detail: string,
  ) {
    super(`parseIdx: ${source}: ${field}: ${detail}`);
    this.name = 'IdxFormatError';
  }
}

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Parses an uncompressed IDX file. `source` names the file in error messages. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  const fail = (field: IdxField, detail: string): never => {
    throw new IdxFormatError(source, field, detail);
  };
  if (bytes.length < 4) fail('header', `the file is ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (it is gzip-compressed: decompress it first, e.g. with readIdxFile from @oclt/diffusion/node)' : '';
    fail('magic', `does not start with the IDX magic 0x0000${gz}`);
  }
  const type = TYPES[bytes[2]!];
  if (!type) fail('type', `unknown element type code 0x${bytes[2]!.toString(16)}`);
  const { name: typeName, bytes: elementBytes } = type!;
  const ndims = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) fail('dims', `the file is ${bytes.length} bytes, cut short inside its list of ${ndims} dimensions (needs ${headerBytes})`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count * elementBytes)) fail('dims', `dims [${dims}] give ${count} elements, too many to hold`);
  const expected = headerBytes + count * elementBytes;
  if (bytes.length < expected) fail('truncated', `has ${bytes.length} bytes but dims [${dims}] of ${typeName} need ${expected}`);
  if (bytes.length > expected) fail('count', `has ${bytes.length} bytes but dims [${dims}] of ${typeName} need ${expected} (${bytes.length - expected} bytes more than the dims say)`);
  let data: IdxData;
  const off = headerBytes;
  switch (typeName) {
    case 'uint8':
      data = bytes.slice(off, off + count);
      break;
    case 'int8':
      data = new Int8Array(bytes.slice(off, off + count).buffer);
      break;
    case 'int16':
      data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(off + 2 * i, false);
      break;
    case 'int32':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(off + 4 * i, false);
      break;
    case 'float32':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(off + 4 * i, false);
      break;
    default:
      data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(off + 8 * i, false);
  }
  return { dims, data };
}
