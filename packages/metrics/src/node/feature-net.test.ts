import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, rand } from '@oclt/tensor';
import { extractFeatures } from '../feature-net.js';
import { FEATURE_NET_VERSION, featureNetAssetsDir, loadFeatureNet, readFeatureNetInfo } from './feature-net.js';

describe('the shipped feature network', () => {
  it('records its identity and a test accuracy of at least 90%', () => {
    const info = readFeatureNetInfo();
    expect(info.name).toBe(FEATURE_NET_VERSION);
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.featureDim).toBe(128);
    expect(info.testAccuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('loads with a verified SHA-256 and gives features', async () => {
    const { net, info } = await loadFeatureNet();
    expect(info.file).toBe(`${FEATURE_NET_VERSION}.safetensors`);
    const { features } = extractFeatures(net, rand([2, 1, 16, 16], new Generator(0), 'float32', -1, 1));
    expect(features.length).toBe(256);
  });

  it('refuses a weights file whose SHA-256 differs from its JSON', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oclt-fnet-'));
    try {
      const src = featureNetAssetsDir();
      const info = readFeatureNetInfo();
      const bytes = fs.readFileSync(path.join(src, info.file));
      bytes[bytes.length - 1]! ^= 0xff;
      fs.writeFileSync(path.join(dir, info.file), bytes);
      fs.copyFileSync(path.join(src, `${FEATURE_NET_VERSION}.json`), path.join(dir, `${FEATURE_NET_VERSION}.json`));
      await expect(loadFeatureNet(FEATURE_NET_VERSION, dir)).rejects.toThrow(/SHA-256 of .* is [0-9a-f]{64}, expected [0-9a-f]{64}/);
      await expect(loadFeatureNet('no-such-version', dir)).rejects.toThrow(/not found; train the network/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
