/**
 * A study design: the file `oclt study` reads (bench/designs/*.json). It declares the data, the model, the training
 * settings, the protocol (every arm from scratch, or every arm fine-tuned from one shared baseline), the seeds,
 * the sampling and guidance sweep, and the arms (a recipe each), with the comparisons the report makes.
 *
 * The design expands into units, each an independent job with its own directory: the real-vs-real baselines, the
 * shared pre-training runs (fine-tune protocol), and one unit per (arm, seed). The same seed gives every arm the
 * same training streams, model initialisation and sampling noise, so arm differences are paired seed by seed.
 *
 * Validation names the field (`arms[3].recipe`) and the file before any work starts.
 */
import { parseRecipe, recipeUsesCoral } from '../recipes.js';

export interface StudyDesign {
  kind: 'oclt-study-design';
  name: string;
  description?: string;
  /** `classOrder[rank]` = the class at that rank of the long tail, head first (the paper's Table 5); absent: 0, 1, ..., 9. */
  data: { dataset: 'fashion-mnist' | 'synthetic'; dataDir?: string; imageSize: number; imbalance: number; ltSeed: number; classOrder?: number[] };
  model: { kind: 'mlp' | 'unet'; hidden: number; layers: number; channels: number; seed: number; prediction: 'epsilon' | 'sample' };
  train: { batchSize: number; lr: number; warmup: number; emaDecay: number; labelDrop: number; checkpointEvery: number };
  protocol: ScratchProtocol | FineTuneProtocol;
  /** Training seeds; every arm runs every seed. */
  seeds: number[];
  sampling: {
    /** Images per unit for the main table (conditional: class-balanced, so a multiple of 10). */
    numSamples: number;
    /** DDIM steps. */
    steps: number;
    /** The common guidance weight of the main table. */
    guidance: number;
    /** Guidance sweep of conditional arms, sampling only, on the final checkpoint. */
    sweep?: { weights: number[]; numSamples: number; steps: number };
  };
  featureNet: string;
  arms: StudyArm[];
  /**
   * Comparisons, per setting: every arm of that setting is compared, seed by seed, with these arms. Keys are
   * labels ('baseline', 'resample'); values map a setting ('conditional' / 'unconditional') to an arm id.
   */
  compare: Record<string, Partial<Record<Setting, string>>>;
  /**
   * Swept families (the paper's Fig. 5 and Fig. 7): arms that differ in one parameter (beta, the cut time, ...),
   * reported as FID against that parameter, a chart and, with `against`, each point's paired difference to one arm.
   * Optional; it changes no unit, only the report.
   */
  families?: StudyFamily[];
}

export interface StudyFamily {
  id: string;
  /** The chart's and the section's title, e.g. "FID against beta of Eq. 7, conditional (paper Fig. 5)". */
  title: string;
  /** The swept parameter's name, the x axis (e.g. "beta", "cut time t"). */
  parameter: string;
  /** One arm per value of the parameter, all of one setting. */
  points: { arm: string; x: number }[];
  /** An arm of the same setting every point is compared with, seed by seed (e.g. the family's unswept arm). */
  against?: string;
}

export type Setting = 'conditional' | 'unconditional';

export interface ScratchProtocol {
  kind: 'scratch';
  steps: number;
}

export interface FineTuneProtocol {
  kind: 'fine-tune';
  /** The shared baseline: steps of plain-loss training (recipe baseline, one per setting), from pretrainSeed. */
  pretrainSteps: number;
  pretrainSeed: number;
  /** Evaluate the pre-training run every this many steps (the FID-over-training curve, Fig. 6); 0: never. */
  curveEvery: number;
  /** Images per curve point (smaller than the main table's: the curve shows a trend). */
  curveSamples: number;
  /** Fine-tuning steps of every arm. */
  steps: number;
  /** Learning-rate warmup of the fine-tunes (the pre-training's `train.warmup` applies to it only). */
  warmup: number;
  /** The fine-tunes start from the pre-training's EMA weights or its raw weights. */
  weights: 'ema' | 'model';
}

export interface StudyArm {
  id: string;
  recipe: string;
  /** Arms of tier 1 run first; `--max-tier` limits a study to the tiers the budget allows. */
  tier: number;
  /** CBDM's settings (recipe cbdm). */
  cbdm?: { tau: number; gamma: number; labels: 'train' | 'uniform' };
  /** CORAL's settings (recipe coral or +coral; absent: the reference defaults, weight 0.5, temperature 0.1, time scale 0.3). */
  coral?: { weight: number; temperature: number; timeScale: number };
  note?: string;
}

export type UnitKind = 'baselines' | 'pretrain' | 'arm';

export interface StudyUnit {
  /** 'baselines', 'pretrain-C' / 'pretrain-U', or '<arm>@<seed>'. */
  id: string;
  kind: UnitKind;
  /** Units that must be done first. */
  needs: string[];
  arm?: StudyArm;
  seed?: number;
  setting?: Setting;
}

export class StudyDesignError extends Error {
  constructor(file: string, field: string, problem: string) {
    super(`study design ${file}: ${field} ${problem}`);
    this.name = 'StudyDesignError';
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The setting of a recipe: conditional or unconditional. */
export function settingOf(recipe: string): Setting {
  return parseRecipe(recipe).conditional ? 'conditional' : 'unconditional';
}

/** Parses and checks a design (JSON text or an object); every error names the file and the field. */
export function parseStudyDesign(input: unknown, file = '<design>'): StudyDesign {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new StudyDesignError(file, '(file)', `is not JSON: ${(e as Error).message}`);
    }
  }
  const err = (field: string, problem: string) => new StudyDesignError(file, field, problem);
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw err(field, `must be an object, got ${JSON.stringify(v)}`);
    return v as Record<string, unknown>;
  };
  const known = (o: Record<string, unknown>, field: string, keys: string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw err(`${field}.${k}`, `is not a field of ${field} (expected ${keys.join(', ')})`);
  };
  const int = (o: Record<string, unknown>, field: string, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[key];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw err(`${field}.${key}`, `must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (o: Record<string, unknown>, field: string, key: string, min: number, max: number): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw err(`${field}.${key}`, `must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v;
  };
  const str = (o: Record<string, unknown>, field: string, key: string, choices?: string[]): string => {
    const v = o[key];
    if (typeof v !== 'string' || (choices && !choices.includes(v))) throw err(`${field}.${key}`, `must be ${choices ? `one of ${choices.join(', ')}` : 'a string'}, got ${JSON.stringify(v)}`);
    return v;
  };

  const d = obj(raw, '(top level)');
  known(d, 'design', ['kind', 'name', 'description', 'data', 'model', 'train', 'protocol', 'seeds', 'sampling', 'featureNet', 'arms', 'compare', 'families', '$comment']);
  if (d.kind !== 'oclt-study-design') throw err('kind', `must be "oclt-study-design", got ${JSON.stringify(d.kind)}`);
  const name = str(d, 'design', 'name');
  if (!ID.test(name)) throw err('name', `must be letters, digits, '.', '_' or '-' (at most 64), got ${JSON.stringify(name)}`);

  const data = obj(d.data, 'data');
  known(data, 'data', ['dataset', 'dataDir', 'imageSize', 'imbalance', 'ltSeed', 'classOrder']);
  const dataOut: StudyDesign['data'] = {
    dataset: str(data, 'data', 'dataset', ['fashion-mnist', 'synthetic']) as StudyDesign['data']['dataset'],
    imageSize: int(data, 'data', 'imageSize', 8, 28),
    imbalance: num(data, 'data', 'imbalance', Number.MIN_VALUE, 1),
    ltSeed: int(data, 'data', 'ltSeed', 0),
  };
  if (data.dataDir !== undefined) dataOut.dataDir = str(data, 'data', 'dataDir');
  if (data.classOrder !== undefined) {
    // Both data sets have 10 classes. The identity is left out, so a design that states it keys as one without it.
    const order = data.classOrder;
    const isPermutation = Array.isArray(order) && order.length === 10 && [...Array(10).keys()].every((c) => order.filter((x) => x === c).length === 1);
    if (!isPermutation) throw err('data.classOrder', `must list each class 0..9 once, head first (a permutation), got ${JSON.stringify(order)}`);
    if ((order as number[]).some((c, rank) => c !== rank)) dataOut.classOrder = [...(order as number[])];
  }

  const model = obj(d.model, 'model');
  known(model, 'model', ['kind', 'hidden', 'layers', 'channels', 'seed', 'prediction']);
  const modelOut: StudyDesign['model'] = {
    kind: str(model, 'model', 'kind', ['mlp', 'unet']) as 'mlp' | 'unet',
    hidden: int(model, 'model', 'hidden', 1, 8192),
    layers: int(model, 'model', 'layers', 0, 256),
    channels: int(model, 'model', 'channels', 4, 1024),
    seed: int(model, 'model', 'seed', 0),
    prediction: str(model, 'model', 'prediction', ['epsilon', 'sample']) as 'epsilon' | 'sample',
  };
  if (modelOut.kind === 'unet' && (modelOut.channels % 2 !== 0 || dataOut.imageSize % 2 !== 0)) throw err('model.channels', `and data.imageSize must be even for a unet, got ${modelOut.channels} and ${dataOut.imageSize}`);

  const train = obj(d.train, 'train');
  known(train, 'train', ['batchSize', 'lr', 'warmup', 'emaDecay', 'labelDrop', 'checkpointEvery']);
  const trainOut: StudyDesign['train'] = {
    batchSize: int(train, 'train', 'batchSize', 1, 65536),
    lr: num(train, 'train', 'lr', Number.MIN_VALUE, 10),
    warmup: int(train, 'train', 'warmup', 0),
    emaDecay: num(train, 'train', 'emaDecay', 0, 1),
    labelDrop: num(train, 'train', 'labelDrop', 0, 1),
    checkpointEvery: int(train, 'train', 'checkpointEvery', 1),
  };

  const p = obj(d.protocol, 'protocol');
  const kind = str(p, 'protocol', 'kind', ['scratch', 'fine-tune']);
  let protocol: StudyDesign['protocol'];
  if (kind === 'scratch') {
    known(p, 'protocol', ['kind', 'steps']);
    protocol = { kind, steps: int(p, 'protocol', 'steps', 1) };
  } else {
    known(p, 'protocol', ['kind', 'pretrainSteps', 'pretrainSeed', 'curveEvery', 'curveSamples', 'steps', 'warmup', 'weights']);
    protocol = {
      kind: 'fine-tune',
      pretrainSteps: int(p, 'protocol', 'pretrainSteps', 1),
      pretrainSeed: int(p, 'protocol', 'pretrainSeed', 0),
      curveEvery: int(p, 'protocol', 'curveEvery', 0),
      curveSamples: int(p, 'protocol', 'curveSamples', 10, 100000),
      steps: int(p, 'protocol', 'steps', 1),
      warmup: int(p, 'protocol', 'warmup', 0),
      weights: str(p, 'protocol', 'weights', ['ema', 'model']) as 'ema' | 'model',
    };
    if (protocol.curveSamples % 10 !== 0) throw err('protocol.curveSamples', `must be a multiple of 10 (class-balanced), got ${protocol.curveSamples}`);
  }

  if (!Array.isArray(d.seeds) || d.seeds.length < 1) throw err('seeds', `must be a non-empty array of integers, got ${JSON.stringify(d.seeds)}`);
  const seeds = d.seeds.map((s, i) => {
    if (!Number.isSafeInteger(s) || (s as number) < 0) throw err(`seeds[${i}]`, `must be a non-negative integer, got ${JSON.stringify(s)}`);
    return s as number;
  });
  if (new Set(seeds).size !== seeds.length) throw err('seeds', `lists a seed twice: ${JSON.stringify(seeds)}`);

  const s = obj(d.sampling, 'sampling');
  known(s, 'sampling', ['numSamples', 'steps', 'guidance', 'sweep']);
  const sampling: StudyDesign['sampling'] = { numSamples: int(s, 'sampling', 'numSamples', 10, 100000), steps: int(s, 'sampling', 'steps', 1, 1000), guidance: num(s, 'sampling', 'guidance', 0, 100) };
  if (sampling.numSamples % 10 !== 0) throw err('sampling.numSamples', `must be a multiple of 10 (class-balanced), got ${sampling.numSamples}`);
  if (s.sweep !== undefined) {
    const w = obj(s.sweep, 'sampling.sweep');
    known(w, 'sampling.sweep', ['weights', 'numSamples', 'steps']);
    if (!Array.isArray(w.weights) || w.weights.length < 1 || w.weights.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0 || x > 100)) {
      throw err('sampling.sweep.weights', `must be a non-empty array of numbers in [0, 100], got ${JSON.stringify(w.weights)}`);
    }
    sampling.sweep = { weights: [...(w.weights as number[])], numSamples: int(w, 'sampling.sweep', 'numSamples', 10, 100000), steps: int(w, 'sampling.sweep', 'steps', 1, 1000) };
    if (sampling.sweep.numSamples % 10 !== 0) throw err('sampling.sweep.numSamples', `must be a multiple of 10, got ${sampling.sweep.numSamples}`);
  }

  const featureNet = str(d, 'design', 'featureNet');

  if (!Array.isArray(d.arms) || d.arms.length < 1) throw err('arms', 'must be a non-empty array');
  const arms = d.arms.map((a, i): StudyArm => {
    const f = `arms[${i}]`;
    const o = obj(a, f);
    known(o, f, ['id', 'recipe', 'tier', 'cbdm', 'coral', 'note']);
    const id = str(o, f, 'id');
    if (!ID.test(id) || id.startsWith('pretrain') || id === 'baselines') throw err(`${f}.id`, `must be letters, digits, '.', '_' or '-', not 'baselines' or 'pretrain*', got ${JSON.stringify(id)}`);
    const recipe = str(o, f, 'recipe');
    try {
      parseRecipe(recipe);
    } catch (e) {
      throw err(`${f}.recipe`, `is not a recipe: ${(e as Error).message}`);
    }
    const arm: StudyArm = { id, recipe, tier: o.tier === undefined ? 1 : int(o, f, 'tier', 1, 9) };
    if (o.cbdm !== undefined) {
      if (parseRecipe(recipe).method !== 'cbdm') throw err(`${f}.cbdm`, `is only for recipe cbdm, got recipe ${JSON.stringify(recipe)}`);
      const c = obj(o.cbdm, `${f}.cbdm`);
      known(c, `${f}.cbdm`, ['tau', 'gamma', 'labels']);
      arm.cbdm = { tau: num(c, `${f}.cbdm`, 'tau', 0, 1e6), gamma: num(c, `${f}.cbdm`, 'gamma', 0, 1e6), labels: str(c, `${f}.cbdm`, 'labels', ['train', 'uniform']) as 'train' | 'uniform' };
    }
    if (o.coral !== undefined) {
      if (!recipeUsesCoral(parseRecipe(recipe))) throw err(`${f}.coral`, `is only for recipe coral or a +coral recipe, got recipe ${JSON.stringify(recipe)}`);
      const c = obj(o.coral, `${f}.coral`);
      known(c, `${f}.coral`, ['weight', 'temperature', 'timeScale']);
      arm.coral = { weight: num(c, `${f}.coral`, 'weight', 0, 1e6), temperature: num(c, `${f}.coral`, 'temperature', 1e-6, 1e6), timeScale: num(c, `${f}.coral`, 'timeScale', 1e-6, 1e6) };
    }
    if (o.note !== undefined) arm.note = str(o, f, 'note');
    return arm;
  });
  const ids = arms.map((a) => a.id);
  const dup = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dup) throw err('arms', `has the id ${JSON.stringify(dup)} twice`);

  const c = obj(d.compare ?? {}, 'compare');
  const compare: StudyDesign['compare'] = {};
  for (const [label, m] of Object.entries(c)) {
    const mm = obj(m, `compare.${label}`);
    known(mm, `compare.${label}`, ['conditional', 'unconditional']);
    compare[label] = {};
    for (const [setting, armId] of Object.entries(mm) as [Setting, unknown][]) {
      const arm = arms.find((a) => a.id === armId);
      if (!arm) throw err(`compare.${label}.${setting}`, `names no arm: ${JSON.stringify(armId)} (arms: ${ids.join(', ')})`);
      if (settingOf(arm.recipe) !== setting) throw err(`compare.${label}.${setting}`, `names ${arm.id}, whose recipe ${arm.recipe} is ${settingOf(arm.recipe)}`);
      compare[label]![setting] = arm.id;
    }
  }

  const out: StudyDesign = { kind: 'oclt-study-design', name, data: dataOut, model: modelOut, train: trainOut, protocol, seeds, sampling, featureNet, arms, compare };
  if (d.description !== undefined) out.description = str(d, 'design', 'description');
  if (d.families !== undefined) {
    if (!Array.isArray(d.families)) throw err('families', `must be an array of families, got ${JSON.stringify(d.families)}`);
    const armOf = (v: unknown, field: string) => {
      const arm = arms.find((a) => a.id === v);
      if (!arm) throw err(field, `names no arm: ${JSON.stringify(v)} (arms: ${ids.join(', ')})`);
      return arm;
    };
    const familyIds = new Set<string>();
    out.families = d.families.map((fv, i) => {
      const f = `families[${i}]`;
      const o = obj(fv, f);
      known(o, f, ['id', 'title', 'parameter', 'points', 'against']);
      const id = str(o, f, 'id');
      if (!/^[A-Za-z0-9._-]+$/.test(id)) throw err(`${f}.id`, `must be letters, digits, '.', '_' or '-' (it names a chart file), got ${JSON.stringify(id)}`);
      if (familyIds.has(id)) throw err(`${f}.id`, `repeats the family id ${JSON.stringify(id)}`);
      familyIds.add(id);
      if (!Array.isArray(o.points) || o.points.length < 2) throw err(`${f}.points`, `must be an array of at least 2 {arm, x}, got ${JSON.stringify(o.points)}`);
      const points = o.points.map((pv, j) => {
        const pf = `${f}.points[${j}]`;
        const po = obj(pv, pf);
        known(po, pf, ['arm', 'x']);
        return { arm: armOf(po.arm, `${pf}.arm`).id, x: num(po, pf, 'x', -1e9, 1e9) };
      });
      const settings = new Set(points.map((pt) => settingOf(arms.find((a) => a.id === pt.arm)!.recipe)));
      if (settings.size > 1) throw err(`${f}.points`, `mixes conditional and unconditional arms (${points.map((pt) => pt.arm).join(', ')}); a family sweeps one parameter in one setting`);
      if (new Set(points.map((pt) => pt.x)).size !== points.length) throw err(`${f}.points`, `repeats a value of x (${points.map((pt) => pt.x).join(', ')})`);
      const family: StudyFamily = { id, title: str(o, f, 'title'), parameter: str(o, f, 'parameter'), points };
      if (o.against !== undefined) {
        const against = armOf(o.against, `${f}.against`);
        if (!settings.has(settingOf(against.recipe))) throw err(`${f}.against`, `names ${against.id}, whose recipe ${against.recipe} is ${settingOf(against.recipe)}, unlike the family's points`);
        family.against = against.id;
      }
      return family;
    });
  }
  return out;
}

export const pretrainId = (setting: Setting) => (setting === 'conditional' ? 'pretrain-C' : 'pretrain-U');
export const armUnitId = (arm: string, seed: number) => `${arm}@${seed}`;

/**
 * The units of a design, in the order they should run: baselines, pre-training (fine-tune protocol), then the arms
 * by tier and within a tier seed by seed (so after the first seed every arm has a result, and each further seed
 * narrows every interval: a partial study is already informative).
 */
export function studyUnits(design: StudyDesign, opts: { maxTier?: number } = {}): StudyUnit[] {
  const arms = design.arms.filter((a) => a.tier <= (opts.maxTier ?? Infinity));
  const units: StudyUnit[] = [{ id: 'baselines', kind: 'baselines', needs: [] }];
  const settings = [...new Set(arms.map((a) => settingOf(a.recipe)))];
  if (design.protocol.kind === 'fine-tune') for (const setting of settings) units.push({ id: pretrainId(setting), kind: 'pretrain', needs: [], setting });
  const tiers = [...new Set(arms.map((a) => a.tier))].sort((a, b) => a - b);
  for (const tier of tiers) {
    for (const seed of design.seeds) {
      for (const arm of arms.filter((a) => a.tier === tier)) {
        const setting = settingOf(arm.recipe);
        units.push({ id: armUnitId(arm.id, seed), kind: 'arm', needs: design.protocol.kind === 'fine-tune' ? [pretrainId(setting)] : [], arm, seed, setting });
      }
    }
  }
  return units;
}
