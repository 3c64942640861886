/**
 * F16, BF16 and I64 tensors, as PyTorch checkpoints hold them, load converted: F16/BF16 -> float32 exactly (every
 * such value is a float32 value), I64 -> int32 when every value fits, else an error naming tensor and element.
 * The fixture fixtures/torch-dtypes.safetensors was written by torch 1.13 (packages/oclt/fixtures/pytorch/
 * make_fixtures.py) with each tensor's values also as F64 / I32, computed by torch.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, SafetensorsError } from './safetensors.js';
import { halfToFloat } from './safetensors.js';
import { loadSafetensorsSync } from './safetensors-node.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch-dtypes.safetensors');

/** A one-tensor safetensors file of raw little-endian bytes. */
function rawFile(dtype: string, shape: number[], data: Uint8Array): Uint8Array {
  let header = JSON.stringify({ x: { dtype, shape, data_offsets: [0, data.length] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(new TextEncoder().encode(header), 8);
  out.set(data, 8 + header.length);
  return out;
}

describe('safetensors: F16, BF16 and I64 written by PyTorch', () => {
  const { tensors, converted } = loadSafetensorsSync(FIXTURE);

  it('converts F16 and BF16 to float32 exactly (specials included) and I64 to int32, and says so', () => {
    for (const [name, ref] of [['half', 'half_as_f64'], ['bf16', 'bf16_as_f64']] as const) {
      expect(tensors[name]!.dtype).toBe('float32');
      const got = Array.from(tensors[name]!.toTypedArray());
      const want = Array.from(tensors[ref]!.toTypedArray());
      expect(got.map((v) => Object.is(v, -0) ? '-0' : v)).toEqual(want.map((v) => Object.is(v, -0) ? '-0' : v));
    }
    expect(tensors.i64!.dtype).toBe('int32');
    expect(tensors.i64!.shape).toEqual([2, 3]);
    expect(Array.from(tensors.i64!.toTypedArray())).toEqual(Array.from(tensors.i64_as_i32!.toTypedArray()));
    expect(converted.half).toEqual({ from: 'F16', to: 'float32' });
    expect(converted.bf16).toEqual({ from: 'BF16', to: 'float32' });
    expect(converted.i64).toEqual({ from: 'I64', to: 'int32' });
    expect(converted.half_as_f64).toBeUndefined();
  });

  it('refuses an I64 value outside int32, naming the tensor and the element', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigInt64(8, 2n ** 31n, true);
    expect(() => decodeSafetensors(rawFile('I64', [2], bytes), 'big.safetensors')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(rawFile('I64', [2], bytes), 'big.safetensors')).toThrow(/big\.safetensors.*tensor 'x'.*element 1 is 2147483648/);
  });

  it('checks the byte span against the stored element size (2 for F16, 8 for I64)', () => {
    expect(() => decodeSafetensors(rawFile('F16', [3], new Uint8Array(4)))).toThrow(/needs 6/);
    expect(() => decodeSafetensors(rawFile('I64', [1], new Uint8Array(4)))).toThrow(/needs 8/);
  });

  it('halfToFloat: every one of the 65536 halves against a float32 round trip via the bit layout', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      const v = halfToFloat(h);
      const exp = (h >> 10) & 0x1f;
      if (exp === 0x1f && (h & 0x3ff)) {
        expect(Number.isNaN(v)).toBe(true);
        continue;
      }
      f[0] = v;
      expect(f[0]).toBe(v); // representable in float32
      // Sign bit agrees; magnitude is monotone in the bits.
      expect(u[0]! >>> 31).toBe(h >> 15);
      if ((h & 0x7fff) > 0 && (h & 0x7fff) < 0x7c00) expect(Math.abs(v)).toBeGreaterThan(Math.abs(halfToFloat(h - 1)));
    }
  });
});
