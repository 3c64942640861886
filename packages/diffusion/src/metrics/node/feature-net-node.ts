/**
 * Node-only: loads the shipped, versioned feature network from packages/diffusion/assets, verifying its SHA-256
 * against the JSON written by the training script (train-feature-net.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FeatureNet, type FeatureNetInfo, featureNetFromSafetensors } from '../feature-net.js';

export const FEATURE_NET_VERSION = 'fmnist-features-v1';

/**
 * Directory of the shipped assets (packages/diffusion/assets): the nearest `assets` folder above this module, so
 * the same code finds it from src/metrics/node/ (sources) and from dist/ (the bundled build).
 */
export function featureNetAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'assets');
    if (fs.existsSync(path.join(candidate, `${FEATURE_NET_VERSION}.json`))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`loadFeatureNet: no assets/${FEATURE_NET_VERSION}.json above ${here}`);
  }
}

export function readFeatureNetInfo(version = FEATURE_NET_VERSION, dir = featureNetAssetsDir()): FeatureNetInfo {
  const file = `${dir}/${version}.json`;
  if (!fs.existsSync(file)) throw new Error(`loadFeatureNet: ${file} not found; train the network with packages/diffusion/src/metrics/node/train-feature-net.ts`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as FeatureNetInfo;
}

/** The feature network and its identity (name, SHA-256, test accuracy), to report with every metric. */
export async function loadFeatureNet(version = FEATURE_NET_VERSION, dir = featureNetAssetsDir()): Promise<{ net: FeatureNet; info: FeatureNetInfo }> {
  const info = readFeatureNetInfo(version, dir);
  const file = `${dir}/${info.file}`;
  const bytes = new Uint8Array(fs.readFileSync(file));
  return { net: await featureNetFromSafetensors(bytes, info.sha256, file), info };
}
