import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, randn, tensor, type DType, type Tensor } from '@oclt/tensor';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AttentionBlock2d, Conv2d, GroupNorm, Linear, Module, SiLU } from './nn/index.js';
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { loadSafetensors, loadSafetensorsSync, saveSafetensors, saveSafetensorsSync } from './safetensors-node.js';
import { formulaTensors, OCLT_FIXTURE_METADATA } from './testing/safetensors-formula.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'oclt-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Assembles a file from a header object and a byte buffer, the way a (possibly broken) writer would. */
function craft(header: unknown, buffer: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

describe('safetensors interchange with an independent numpy implementation', () => {
  it('reads the file written by the numpy reference writer (fixtures/safetensors_fixtures.py)', () => {
    const expected = JSON.parse(readFileSync(fixture('numpy-written.expected.json'), 'utf8')) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
    };
    const { tensors, metadata } = loadSafetensorsSync(fixture('numpy-written.safetensors'));
    expect(metadata).toEqual(expected.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected.tensors).sort());
    const dtypeOf: Record<string, DType> = { F32: 'float32', F64: 'float64', I32: 'int32' };
    for (const [name, want] of Object.entries(expected.tensors)) {
      const t = tensors[name]!;
      expect(t.dtype, name).toBe(dtypeOf[want.dtype]);
      expect(t.shape, name).toEqual(want.shape);
      expect(Array.from(t.toTypedArray()), name).toEqual(want.values);
    }
  });

  it('our encoder reproduces the committed oclt-written.safetensors that the numpy reader checked', () => {
    const bytes = encodeSafetensors(formulaTensors(), OCLT_FIXTURE_METADATA);
    expect(Buffer.from(bytes).equals(readFileSync(fixture('oclt-written.safetensors')))).toBe(true);
  });
});

describe('encode/decode', () => {
  it('round-trips tensors of every dtype and layout bit for bit, with metadata', () => {
    const dtypes: DType[] = ['float32', 'float64', 'int32', 'bool'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ dtype: fc.constantFrom(...dtypes), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), transpose: fc.boolean() }), { minLength: 1, maxLength: 5 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        fc.nat(1000),
        (specs, metadata, seed) => {
          const gen = new Generator(seed);
          const tensors: Record<string, Tensor> = {};
          specs.forEach(({ dtype, shape, transpose }, i) => {
            let t = randn(shape, gen, 'float64', 0, 1e3).astype(dtype);
            if (transpose && t.ndim >= 2) t = t.transpose(0, 1); // non-contiguous input
            tensors[`layer.${i}.${dtype}`] = t;
          });
          const { tensors: back, metadata: meta } = decodeSafetensors(encodeSafetensors(tensors, metadata));
          expect(meta).toEqual(metadata);
          for (const [name, t] of Object.entries(tensors)) {
            expect(back[name]!.dtype).toBe(t.dtype);
            expect(back[name]!.shape).toEqual(t.shape);
            expect(back[name]!.toTypedArray()).toEqual(t.toTypedArray());
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('writes an 8-byte little-endian length, a space-padded header and 8-byte-aligned data', () => {
    const bytes = encodeSafetensors({ a: tensor([1], 'float32'), b: tensor([2], 'float64') });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    // F64 first (alignment), then F32.
    expect(header).toEqual({ b: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } });
    expect(new DataView(bytes.buffer).getFloat64(8 + n, true)).toBe(2);
    expect(new DataView(bytes.buffer).getFloat32(8 + n + 8, true)).toBe(1);
  });
});

describe('malformed files are rejected with the file and the field named', () => {
  const good = encodeSafetensors({ w: tensor([[1, 2], [3, 4]]), i: tensor([5], 'int32') }, { k: 'v' });
  const f32 = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);

  it('every truncation of a valid file is an error', () => {
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => decodeSafetensors(good.subarray(0, cut), 'cut.safetensors'), `cut at ${cut}`).toThrow(SafetensorsError);
    }
  });

  it('names the file when loading from disk', () => {
    const path = join(dir, 'truncated.safetensors');
    writeFileSync(path, good.subarray(0, good.length - 3));
    expect(() => loadSafetensorsSync(path)).toThrow(`safetensors (${path}): tensor 'w'.data_offsets: [4, 20] runs past the end of the byte buffer (17 bytes; truncated?)`);
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /\(f\): header length: the file has 5 bytes, fewer than the 8-byte header length field/],
    ['huge header length', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(4, 1, true); return b; })(), /header length: 4294967296 bytes exceeds the limit/],
    ['header past end', (() => { const b = craft({}); new DataView(b.buffer).setUint32(0, 99, true); return b; })(), /header length: 99 bytes, but only 2 bytes follow/],
    ['bad JSON', craft(null, undefined, '{"w": [1,'), /header: not valid UTF-8 JSON/],
    ['not an object', craft([1, 2]), /header: must be a JSON object/],
    ['unknown dtype', craft({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)), /tensor 'w'.dtype: unknown or unsupported dtype "F8_E4M3" \(supported: F32, F64, I32, BOOL, F16 \(converted to float32\), BF16 \(converted to float32\), I64 \(converted to int32\)\)/],
    ['bad shape', craft({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'w'.shape: must be an array of non-negative integers, got \[-1\]/],
    ['offsets not a pair', craft({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)), /tensor 'w'.data_offsets: must be \[begin, end\]/],
    ['offsets reversed', craft({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), /tensor 'w'.data_offsets: begin 4 is after end 0/],
    ['offsets out of range', craft({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32.subarray(0, 12)), /tensor 'w'.data_offsets: \[0, 16\] runs past the end of the byte buffer \(12 bytes/],
    ['shape/offset mismatch', craft({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, f32.subarray(0, 12)), /tensor 'w'.data_offsets: span 12 bytes, but shape \[2, 2\] of F32 needs 16/],
    ['overlap', craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, f32), /tensor 'b'.data_offsets: \[8, 16\] overlaps tensor 'a' \[0, 12\]/],
    ['gap', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32.subarray(0, 12)), /tensor 'b'.data_offsets: leaves a gap of 4 bytes/],
    ['trailing bytes', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32), /data: the byte buffer has 16 bytes but the tensors cover 4 \(trailing bytes\)/],
    ['metadata not strings', craft({ __metadata__: { epoch: 3 } }), /__metadata__.epoch: must be a string, got 3/],
    ['bool out of range', craft({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, new Uint8Array([1, 7])), /tensor 'm': BOOL element 1 is 7, expected 0 or 1/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      expect(() => decodeSafetensors(bytes, 'f')).toThrow(message);
    });
  }

  // Hostile headers: JSON.parse keeps the last of duplicate keys (a second entry could silently change a dtype), and
  // names or dtypes that are also Object.prototype's property names must be plain data.
  const entry = (dtype: string, begin = 0) => `{"dtype":"${dtype}","shape":[1],"data_offsets":[${begin},${begin + 4}]}`;
  const hostile: [string, string, RegExp][] = [
    ['duplicate tensor names', `{"w":${entry('F32')},"w":${entry('I32')}}`, /\(f\): header: duplicate key 'w' \(JSON keeps only the last; refused\)/],
    ['duplicate names spelled differently (an escape)', `{"w":${entry('F32')},"\\u0077":${entry('I32')}}`, /header: duplicate key 'w'/],
    ['duplicate dtype inside a tensor entry', `{"w":{"dtype":"F32","shape":[1],"dtype":"I32","data_offsets":[0,4]}}`, /tensor 'w': duplicate key 'dtype'/],
    ['duplicate metadata keys', `{"__metadata__":{"a":"1","a":"2"},"w":${entry('F32')}}`, /__metadata__: duplicate key 'a'/],
    ['duplicate __metadata__', `{"__metadata__":{},"__metadata__":{},"w":${entry('F32')}}`, /header: duplicate key '__metadata__'/],
    ['dtype constructor', `{"w":${entry('constructor')}}`, /tensor 'w'.dtype: unknown or unsupported dtype "constructor" \(supported: F32, F64, I32, BOOL, F16/],
    ['dtype toString', `{"w":${entry('toString')}}`, /tensor 'w'.dtype: unknown or unsupported dtype "toString"/],
    ['dtype __proto__', `{"w":${entry('__proto__')}}`, /tensor 'w'.dtype: unknown or unsupported dtype "__proto__"/],
    ['dtype hasOwnProperty', `{"w":${entry('hasOwnProperty')}}`, /tensor 'w'.dtype: unknown or unsupported dtype "hasOwnProperty"/],
  ];
  for (const [what, text, message] of hostile) {
    it(what, () => {
      expect(() => decodeSafetensors(craft(null, new Uint8Array(4), text), 'f')).toThrow(message);
    });
  }

  it('reads __proto__, constructor and toString as ordinary tensor and metadata names (prototype-free maps)', () => {
    const f32 = new Uint8Array(new Float32Array([1.5, -2, 7]).buffer);
    const text = `{"__metadata__":{"__proto__":"p","constructor":"c"},"__proto__":${entry('F32', 0)},"constructor":${entry('F32', 4)},"toString":${entry('F32', 8)}}`;
    const { tensors, metadata } = decodeSafetensors(craft(null, f32, text), 'f');
    expect(Object.keys(tensors).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(Object.getPrototypeOf(tensors)).toBe(null);
    expect(tensors['__proto__']!.toArray()).toEqual([1.5]);
    expect(tensors['constructor']!.toArray()).toEqual([-2]);
    expect(tensors['toString']!.toArray()).toEqual([7]);
    expect(Object.keys(metadata).sort()).toEqual(['__proto__', 'constructor']);
    expect(metadata['__proto__']).toBe('p');
    // And back: a map with an own __proto__ entry is written with that name, not as the header's prototype.
    const back = decodeSafetensors(encodeSafetensors(tensors, metadata));
    expect(Object.keys(back.tensors).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(back.tensors['__proto__']!.toArray()).toEqual([1.5]);
    expect(back.metadata['__proto__']).toBe('p');
  });

  it('scans deep and long headers for duplicates without running out of stack', () => {
    // Arrays nested 200,000 deep inside the metadata (refused as non-strings, after the scan) and 20,000 names.
    const deep = `{"__metadata__":{"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    expect(() => decodeSafetensors(craft(null, undefined, deep), 'f')).toThrow(/__metadata__.x: must be a string|header: not valid UTF-8 JSON/);
    const names = Array.from({ length: 20_000 }, (_, i) => `"t${i}":${entry('F32', 4 * i)}`);
    const buffer = new Uint8Array(4 * 20_001);
    expect(() => decodeSafetensors(craft(null, buffer, `{${names.join(',')},"t7":${entry('F32', 80_000)}}`), 'f')).toThrow(/header: duplicate key 't7'/);
  });

  it('encode refuses the reserved name', () => {
    expect(() => encodeSafetensors({ __metadata__: tensor([1]) })).toThrow(/'__metadata__' is reserved/);
  });
});

/** A small UNet-like model with the layers a checkpoint holds. */
class TinyNet extends Module {
  conv: Conv2d;
  norm: GroupNorm;
  attn: AttentionBlock2d;
  act = new SiLU();
  head: Linear;
  constructor(gen: Generator) {
    super();
    this.conv = this.addModule('conv', new Conv2d(2, 4, 3, { generator: gen, padding: 1 }));
    this.norm = this.addModule('norm', new GroupNorm(2, 4));
    this.attn = this.addModule('attn', new AttentionBlock2d(4, { generator: gen, numGroups: 2 }));
    this.head = this.addModule('head', new Linear(4 * 3 * 3, 3, { generator: gen }));
  }
  override forward(x: Tensor): Tensor {
    const h = this.attn.forward(this.act.forward(this.norm.forward(this.conv.forward(x))));
    return this.head.forward(h.flatten(1));
  }
}

describe('checkpoint files', () => {
  it('save -> load into a differently initialised model reproduces outputs bit for bit', async () => {
    const gen = new Generator(1);
    const a = new TinyNet(gen);
    // Give the norms non-default values so that they are really saved and restored.
    a.norm.weight!.dataSync().set([0.5, 2, -1, 1.5]);
    const x = randn([2, 2, 3, 3], gen);
    const path = join(dir, 'model.safetensors');
    await saveSafetensors(path, a.stateDict(), { step: '10' });
    const b = new TinyNet(new Generator(99));
    expect(b.forward(x).toTypedArray()).not.toEqual(a.forward(x).toTypedArray());
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ step: '10' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(a.stateDict()).sort());
    b.loadStateDict(tensors);
    expect(b.forward(x).toTypedArray()).toEqual(a.forward(x).toTypedArray());
    // Atomic write: only the target remains, no temporary files.
    expect(readdirSync(dir).filter((f) => f.includes('model'))).toEqual(['model.safetensors']);
  });

  it('overwrites an existing file atomically (sync variant) and reports write failures with the path', () => {
    const path = join(dir, 'over.safetensors');
    saveSafetensorsSync(path, { a: tensor([1]) });
    saveSafetensorsSync(path, { a: tensor([2]) });
    expect(loadSafetensorsSync(path).tensors.a!.toArray()).toEqual([2]);
    const missingDir = join(dir, 'no-such-dir', 'x.safetensors');
    expect(() => saveSafetensorsSync(missingDir, { a: tensor([1]) })).toThrow(`saveSafetensorsSync (${missingDir})`);
  });
});
