/**
 * Node-only: loads the shipped, versioned feature network from this package's assets/ (packages/metrics/assets),
 * verifying its SHA-256 against the JSON written by the training script (bench/src/train-feature-net.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FeatureNet, type FeatureNetInfo, featureNetFromSafetensors } from '../feature-net.js';

export const FEATURE_NET_VERSION = 'fmnist-features-v1';

/**
 * Directory of the shipped assets: `assets/` at the root of the @oclt/metrics package, i.e. beside the nearest
 * package.json above this module that names @oclt/metrics. The same code finds it from src/node/ (the sources) and
 * from dist/ (the built package, installed or in this repository).
 */
export function featureNetAssetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === '@oclt/metrics') return path.join(dir, 'assets');
    if (path.dirname(dir) === dir) throw new Error(`loadFeatureNet: no package.json of @oclt/metrics above ${here}`);
  }
}

export function readFeatureNetInfo(version = FEATURE_NET_VERSION, dir = featureNetAssetsDir()): FeatureNetInfo {
  const file = `${dir}/${version}.json`;
  if (!fs.existsSync(file)) throw new Error(`loadFeatureNet: ${file} not found; train the network with bench/src/train-feature-net.ts`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as FeatureNetInfo;
}

/** The feature network and its identity (name, SHA-256, test accuracy), to report with every metric. */
export async function loadFeatureNet(version = FEATURE_NET_VERSION, dir = featureNetAssetsDir()): Promise<{ net: FeatureNet; info: FeatureNetInfo }> {
  const info = readFeatureNetInfo(version, dir);
  const file = `${dir}/${info.file}`;
  const bytes = new Uint8Array(fs.readFileSync(file));
  return { net: await featureNetFromSafetensors(bytes, info.sha256, file), info };
}
