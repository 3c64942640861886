/**
 * The IDX file format (LeCun's MNIST format, also Fashion-MNIST): a 4-byte magic [0, 0, typeCode, ndims], ndims
 * big-endian uint32 dimensions, then the elements row-major and big-endian. This parser works on bytes and is
 * browser-safe; reading files and gunzipping is in src/node/idx-node.ts.
 */

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
  if (bytes.length < 4) throw new Error(`parseIdx: ${source} is ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (it is gzip-compressed: decompress it first, e.g. with readIdxFile from @oclt/diffusion/node)' : '';
    throw new Error(`parseIdx: ${source} does not start with the IDX magic 0x0000${gz}`);
  }
  const type = TYPES[bytes[2]!];
  if (!type) throw new Error(`parseIdx: ${source} has unknown element type code 0x${bytes[2]!.toString(16)}`);
  const ndims = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new Error(`parseIdx: ${source} is truncated inside its header (${ndims} dimensions)`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    throw new Error(`parseIdx: ${source} has ${bytes.length} bytes but dims [${dims}] of ${type.name} need ${expected}`);
  }
  let data: IdxData;
  const off = headerBytes;
  switch (type.name) {
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
