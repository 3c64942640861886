/**
 * The directories a model is read from, in one place: a run of `oclt train` (run.json + checkpoints/) and an
 * import of `oclt import --out` (import.json + model.safetensors: a ReferenceUNet, the PyTorch UNet of OC_LT / CBDM).
 * `loadModelDir` gives either as a Denoiser with the ModelConfig that builds and samples it (for an import: kind
 * 'reference-unet', epsilon prediction, the schedule of its flags), so the commands that take `--run DIR` need not
 * know which it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Denoiser, ResolvedReferenceUNetConfig } from '@oclt/diffusion';
import { configMismatch } from '../pytorch-bridge.js';
import { buildModel, referenceModelConfig, referenceSchedule, type ModelConfig } from './common.js';
import { loadExchangeFile } from './exchange-file.js';
import { loadRunModel, type TrainConfig } from './train.js';

export type ModelDirKind = 'run' | 'import';
export type WeightsChoice = 'ema' | 'net';

/** What an import directory's import.json says of the model (the fields a sample's description keeps). */
export interface ImportedModelInfo {
  /** The checkpoint `oclt import` read, and its SHA-256. */
  source: string;
  sourceSha256: string;
  /** Its training step (0 when it did not say). */
  step: number;
  /** The weights import.json names ('ema' unless `oclt import --weights net`). */
  weights: WeightsChoice;
}

export interface LoadedModelDir {
  kind: ModelDirKind;
  dir: string;
  /** In eval mode for an import; a run's model as `loadRunModel` gives it. */
  model: Denoiser;
  /** What builds the model (`buildModel`) and how it is sampled (`samplingScheduler`). */
  modelConfig: ModelConfig;
  /** A run's train config; null for an import (no data config: it was trained elsewhere). */
  train: TrainConfig | null;
  /** import.json's description of the model; null for a run. */
  imported: ImportedModelInfo | null;
  /** The weights loaded: a run's EMA or raw training weights, an import's ema_model or net_model. */
  weights: WeightsChoice;
  /** The training step of the weights. */
  step: number;
  /** For messages: which weights of what, e.g. "the EMA weights of step 3 in runs/a". */
  description: string;
}

/** 'run' (run.json), 'import' (import.json) or null (neither); a directory holding both is refused. */
export function modelDirKind(dir: string): ModelDirKind | null {
  const run = fs.existsSync(path.join(dir, 'run.json'));
  const imported = fs.existsSync(path.join(dir, 'import.json'));
  if (run && imported) throw new Error(`${dir} holds both run.json (an 'oclt train' run) and import.json (an 'oclt import' directory); keep them in separate directories`);
  return run ? 'run' : imported ? 'import' : null;
}

/** The hint for a directory that is neither. */
export function notAModelDirMessage(flag: string, dir: string): string {
  return `${flag} ${dir} is neither an oclt run directory (no run.json; train one with 'oclt train --out ${dir}') nor an import directory (no import.json; write one with 'oclt import --checkpoint <file> --out ${dir}')`;
}

/**
 * Loads the model of a run or an import directory. `weights`: 'ema' or 'net'; default a run's EMA weights and the
 * weights an import's import.json names.
 */
export function loadModelDir(dir: string, opts: { weights?: WeightsChoice } = {}): LoadedModelDir {
  const kind = modelDirKind(dir);
  if (kind === null) throw new Error(notAModelDirMessage('--run', dir));
  if (kind === 'import') return loadImportDir(dir, opts);
  const weights = opts.weights ?? 'ema';
  const { model, config, step } = loadRunModel(dir, { weights });
  return { kind, dir, model, modelConfig: config.model, train: config, imported: null, weights, step, description: `the ${weights === 'ema' ? 'EMA' : 'raw training (net)'} weights of step ${step} in ${dir}` };
}

/**
 * An import directory: import.json checked field by field, model.safetensors loaded strictly (the weights
 * import.json names, or `opts.weights`), the two checked against each other; the model is built from its
 * ModelConfig (`buildModel`, kind 'reference-unet'). Errors name the file and the field.
 */
export function loadImportDir(dir: string, opts: { weights?: WeightsChoice } = {}): LoadedModelDir {
  const file = path.join(dir, 'import.json');
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot be read as JSON (${(err as Error).message}); write it again with 'oclt import --checkpoint <file> --out ${dir}'`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: must be a JSON object (what 'oclt import --out' writes), got ${JSON.stringify(json)?.slice(0, 40)}`);
  const d = json as Record<string, unknown>;
  const field = (name: string, what: string): never => {
    throw new Error(`${file}: field '${name}' must be ${what}, got ${d[name] === undefined ? 'nothing' : JSON.stringify(d[name])?.slice(0, 80)}`);
  };
  if (d.weights !== 'ema' && d.weights !== 'net') field('weights', "'ema' or 'net'");
  if (typeof d.config !== 'object' || d.config === null || Array.isArray(d.config)) field('config', 'the ReferenceUNet config (an object)');
  if (!(Number.isInteger(d.step) && (d.step as number) >= 0)) field('step', 'a non-negative integer');
  if (d.flags !== null && d.flags !== undefined && (typeof d.flags !== 'object' || Array.isArray(d.flags))) field('flags', 'an object of their flags, or null');
  if (typeof d.source !== 'string') field('source', 'the path of the imported checkpoint');
  const weights = opts.weights ?? (d.weights as WeightsChoice);
  const modelFile = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(modelFile)) throw new Error(`${modelFile} is missing (${file} describes it); write it again with 'oclt import --checkpoint ${d.source} --out ${dir}'`);
  const loaded = loadExchangeFile(modelFile, { weights });
  const described = d.config as ResolvedReferenceUNetConfig;
  const mismatch = configMismatch(loaded.config, described) ?? (loaded.config.imgSize !== described.imgSize ? `imgSize: ${loaded.config.imgSize} vs ${JSON.stringify(described.imgSize)}` : null);
  if (mismatch) throw new Error(`${file}: field 'config' disagrees with ${modelFile} on ${mismatch} (model.safetensors first)`);
  // The schedule: the source's flags (import.json), else the flags in model.safetensors, else main.py's defaults.
  const flags = (d.flags as Record<string, unknown> | null | undefined) ?? null;
  const sourceSays = flags !== null && ('beta_1' in flags || 'beta_T' in flags);
  const schedule = sourceSays
    ? referenceSchedule(loaded.config.T, flags, (name) => `${file}: field 'flags.${name}'`)
    : referenceSchedule(loaded.config.T, loaded.flags, (name) => `${modelFile}: metadata flag '${name}'`);
  const modelConfig = referenceModelConfig(loaded.config, schedule);
  const model = buildModel(modelConfig);
  model.loadStateDict(loaded.model.stateDict(), true);
  model.eval();
  const step = d.step as number;
  return {
    kind: 'import',
    dir,
    model,
    modelConfig,
    train: null,
    imported: { source: d.source as string, sourceSha256: String(d.sourceSha256 ?? ''), step, weights: d.weights as WeightsChoice },
    weights,
    step,
    description: `the ${weights === 'ema' ? 'EMA (ema_model)' : 'raw training (net_model)'} weights of the imported checkpoint (step ${step}) in ${dir}`,
  };
}
