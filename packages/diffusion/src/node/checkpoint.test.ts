import { describe, expect, it } from 'vitest';
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
