/**
 * Node-only: loads the shipped, versioned feature network from packages/diffusion/assets, verifying its SHA-256
 * against the JSON written by the training script (train-feature-net.ts).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type FeatureNet, type FeatureNetInfo, featureNetFromSafetensors } from '../feature-net.js';

export const FEATURE_NET_VERSION = 'fmnist-features-v1';

/** Directory of the shipped assets (packages/diffusion/assets). */
export function featureNetAssetsDir(): string {
  return fileURLToPath(new URL('../../../assets/', import.meta.url));
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
