import { describe, expect, it, vi } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointCorruptError, CheckpointStore } from './checkpoint.js';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-ckpt-'));

describe('CheckpointStore', () => {
  it('round-trips payload and metadata, keeps the last K, and writes manifests whose checksum is the real SHA-256', () => {
    const dir = tmpdir();
    const store = new CheckpointStore<{ lr: number }>(dir, { keepLast: 2 });
    for (const step of [10, 20, 30]) store.save(step, Uint8Array.from([step, 1, 2]), { lr: step / 10 });
    expect(store.steps()).toEqual([20, 30]);
    expect(fs.readdirSync(dir).sort()).toEqual(['ckpt-00000020.json', 'ckpt-00000020.safetensors', 'ckpt-00000030.json', 'ckpt-00000030.safetensors']);
    const c = store.loadLatest()!;
    expect(c.step).toBe(30);
    expect([...c.payload]).toEqual([30, 1, 2]);
    expect(c.meta.lr).toBe(3);
    const manifest = JSON.parse(fs.readFileSync(c.manifestPath, 'utf8'));
    expect(manifest.body.payloadSha256).toBe(crypto.createHash('sha256').update(Uint8Array.from([30, 1, 2])).digest('hex'));
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses a corrupted payload with a clear error and falls back to the previous checkpoint', () => {
    const dir = tmpdir();
    const store = new CheckpointStore(dir, { keepLast: 3 });
    store.save(1, new Uint8Array(100).fill(1), { a: 1 });
    store.save(2, new Uint8Array(100).fill(2), { a: 2 });
    const p = path.join(dir, 'ckpt-00000002.safetensors');
    const bytes = fs.readFileSync(p);
    bytes[50] ^= 0xff;
    fs.writeFileSync(p, bytes);
    expect(() => store.load(2)).toThrow(CheckpointCorruptError);
    expect(() => store.load(2)).toThrow(/ckpt-00000002.safetensors is corrupt: SHA-256 mismatch/);
    const reported: string[] = [];
    const c = store.loadLatest((e) => reported.push(e.message));
    expect(c!.step).toBe(1);
    expect(reported.length).toBe(1);
    fs.rmSync(dir, { recursive: true });
  });

  it('detects an edited manifest, a truncated payload and a manifest that is not JSON', () => {
    const dir = tmpdir();
    const store = new CheckpointStore(dir);
    store.save(5, new Uint8Array(10), { x: 1 });
    const m = path.join(dir, 'ckpt-00000005.json');
    const text = fs.readFileSync(m, 'utf8');
    fs.writeFileSync(m, text.replace('"x": 1', '"x": 2'));
    expect(() => store.load(5)).toThrow(/manifest checksum mismatch/);
    fs.writeFileSync(m, text);
    fs.writeFileSync(path.join(dir, 'ckpt-00000005.safetensors'), new Uint8Array(9));
    expect(() => store.load(5)).toThrow(/9 bytes, manifest says 10/);
    fs.writeFileSync(m, text.slice(0, 20));
    expect(() => store.load(5)).toThrow(/not valid JSON/);
    expect(store.loadLatest(() => {})).toBeNull();
    expect(() => store.load(7)).toThrow(/no checkpoint for step 7/);
    fs.rmSync(dir, { recursive: true });
  });

  it('leaves no temporary files behind', () => {
    const dir = tmpdir();
    new CheckpointStore(dir).save(0, new Uint8Array(3), null);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});

/** Rewrites the manifest of `step` with `edit` applied to its body and a correct body checksum (what a hostile writer can do). */
function forgeManifest(dir: string, step: number, edit: (body: Record<string, unknown>) => unknown): string {
  const file = path.join(dir, `ckpt-${String(step).padStart(8, '0')}.json`);
  const { body } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const forged = edit(body) ?? body;
  fs.writeFileSync(file, JSON.stringify({ body: forged, bodySha256: crypto.createHash('sha256').update(JSON.stringify(forged)).digest('hex') }));
  return file;
}

describe('CheckpointStore: hostile manifests and payloads (each refused naming the file; loadLatest falls back)', () => {
  const GiB = 2 ** 30;
  const cases: { name: string; forge: (dir: string) => void; error: RegExp }[] = [
    { name: "payloadFile '../' outside the directory", forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadFile = '../outside.safetensors')), error: /payloadFile "\.\.\/outside\.safetensors" is not a plain file name/ },
    { name: 'payloadFile an absolute path', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadFile = '/etc/passwd')), error: /payloadFile "\/etc\/passwd" is not a plain file name/ },
    { name: "payloadFile '..'", forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadFile = '..')), error: /payloadFile "\.\." is not a plain file name/ },
    { name: 'payloadFile in a subdirectory', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadFile = 'sub\\x')), error: /payloadFile "sub\\\\x" is not a plain file name/ },
    { name: 'payloadFile not a string', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadFile = 42)), error: /payloadFile 42 is not a plain file name/ },
    { name: 'payloadBytes negative', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadBytes = -1)), error: /payloadBytes -1 is not a byte count/ },
    { name: 'payloadBytes a string', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadBytes = '10')), error: /payloadBytes "10" is not a byte count/ },
    { name: 'payloadBytes over 2 GiB', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadBytes = 3 * GiB)), error: /payloadBytes 3221225472 exceeds the 2147483647-byte limit/ },
    { name: 'payloadSha256 not a digest', forge: (d) => void forgeManifest(d, 2, (b) => void (b.payloadSha256 = 'abc')), error: /payloadSha256 is not a SHA-256 hex digest/ },
    { name: 'body not an object', forge: (d) => void forgeManifest(d, 2, () => 'x'), error: /manifest body is not an object/ },
    { name: 'another step in the body', forge: (d) => void forgeManifest(d, 2, (b) => void (b.step = 1)), error: /unexpected format 'oclt-checkpoint' or step 1/ },
    {
      name: 'a 3 GiB (sparse) payload where the manifest says 100 bytes',
      forge: (d) => fs.truncateSync(path.join(d, 'ckpt-00000002.safetensors'), 3 * GiB),
      error: /ckpt-00000002\.safetensors is corrupt: 3221225472 bytes, manifest says 100/,
    },
    {
      name: 'a directory in place of the payload',
      forge: (d) => {
        fs.rmSync(path.join(d, 'ckpt-00000002.safetensors'));
        fs.mkdirSync(path.join(d, 'ckpt-00000002.safetensors'));
      },
      error: /ckpt-00000002\.safetensors is corrupt: is not a regular file \(a directory\)/,
    },
    {
      name: 'a directory in place of the manifest',
      forge: (d) => {
        fs.rmSync(path.join(d, 'ckpt-00000002.json'));
        fs.mkdirSync(path.join(d, 'ckpt-00000002.json'));
      },
      error: /ckpt-00000002\.json is corrupt: manifest is not a regular file \(a directory\)/,
    },
    { name: 'a 100 MB (sparse) manifest', forge: (d) => fs.truncateSync(path.join(d, 'ckpt-00000002.json'), 100e6), error: /ckpt-00000002\.json is corrupt: manifest is 100000000 bytes/ },
    { name: 'the manifest is JSON null', forge: (d) => fs.writeFileSync(path.join(d, 'ckpt-00000002.json'), 'null'), error: /ckpt-00000002\.json is corrupt: manifest lacks body/ },
    { name: 'meta refused by validateMeta', forge: (d) => void forgeManifest(d, 2, (b) => void (b.meta = { run: {} })), error: /ckpt-00000002\.json is corrupt: meta\.trainer is missing/ },
  ];

  it.each(cases)('$name', ({ forge, error }) => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(path.dirname(dir), 'outside.safetensors'), new Uint8Array(100));
    const store = new CheckpointStore(dir, { validateMeta: (m) => ((m as { trainer?: unknown })?.trainer ? null : 'meta.trainer is missing') });
    store.save(1, new Uint8Array(100).fill(1), { trainer: 1 });
    store.save(2, new Uint8Array(100).fill(2), { trainer: 2 });
    forge(dir);
    const read = vi.spyOn(fs, 'readFileSync');
    try {
      expect(() => store.load(2)).toThrow(CheckpointCorruptError);
      expect(() => store.load(2)).toThrow(error);
      // Nothing of the hostile payload was read: only manifests (the spy does see payload reads).
      expect(read.mock.calls.filter(([f]) => !String(f).endsWith('.json'))).toEqual([]);
      store.load(1);
      expect(read.mock.calls.filter(([f]) => String(f).endsWith('ckpt-00000001.safetensors'))).toHaveLength(1);
    } finally {
      read.mockRestore();
    }
    const reported: string[] = [];
    expect(store.loadLatest((e) => reported.push(e.message))!.step).toBe(1);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(/ckpt-00000002\.(json|safetensors) is corrupt/);
    fs.rmSync(dir, { recursive: true });
  });

  it('a failed save leaves no temporary file and no half checkpoint; orphans of killed writers are removed on the next save', () => {
    const dir = tmpdir();
    const store = new CheckpointStore(dir, { keepLast: 5 });
    store.save(1, new Uint8Array(3), null);
    const deadPid = 2147483646; // no such process
    const orphans = {
      dead: `.ckpt-00000002.safetensors.tmp-${deadPid}-0a1b2c3d`,
      liveFresh: `.ckpt-00000002.json.tmp-${process.pid}-00ff00ff`,
      liveOld: `.ckpt-00000003.safetensors.tmp-${process.pid}-12345678`,
      unrelated: `.notes.txt.tmp-${deadPid}-aa`,
    };
    for (const f of Object.values(orphans)) fs.writeFileSync(path.join(dir, f), 'x');
    const hourAgo = new Date(Date.now() - 3600e3);
    fs.utimesSync(path.join(dir, orphans.liveOld), hourAgo, hourAgo);
    // A store opened later (after a kill) cleans up at its first save.
    const reopened = new CheckpointStore(dir, { keepLast: 5 });
    reopened.save(4, new Uint8Array(3), null);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).sort()).toEqual([orphans.liveFresh, orphans.unrelated].sort());
    expect(reopened.steps()).toEqual([1, 4]);
    // A write that fails (here the rename: a non-empty directory holds the name) leaves neither a temporary file nor a manifest.
    fs.mkdirSync(path.join(dir, 'ckpt-00000005.safetensors'));
    fs.writeFileSync(path.join(dir, 'ckpt-00000005.safetensors', 'x'), 'x');
    expect(() => reopened.save(5, new Uint8Array(3), null)).toThrow();
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).sort()).toEqual([orphans.liveFresh, orphans.unrelated].sort());
    expect(reopened.steps()).toEqual([1, 4]);
  });
});
