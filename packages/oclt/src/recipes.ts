/**
 * Training recipes: the paper's ablation grid (Table 1, Fig. 5, Fig. 7 right) as one small config, turned into
 * the pieces a diffusion trainer needs: a batch sampler, a per-batch target-replacement hook (Eq. 8 / Eq. 7)
 * and an added-loss hook (CBDM).
 *
 * Recipe strings: `<method>[+resample][+cut=<t>[+cut-full]][+uncond][+gate=<gate>]`, where method is a key of
 * RECIPE_METHODS (the one table of them):
 *   baseline | cbdm | coral | t2h | h2t | full | beta:<value>
 * e.g. `t2h`, `h2t+resample+uncond`, `t2h+resample+cut=700`, `beta:-1+resample+uncond`, `beta:1+gate=t2h`.
 * `+resample` draws exactly class-balanced batches (the paper's Batch Re-sample); `+cut=<t>` allows transfers
 * only for t < cut (strictly); `+uncond` trains without labels (CBDM needs labels, so `cbdm+uncond` is refused).
 * The released OC_LT code applies its cut time to T2H and H2T only and ignores it for Full (see
 * `cutTimeAppliesToFull` in target-selection.ts), so a cut on a Full-gated recipe (`full`, or `beta:<b>` without a
 * T2H/H2T gate) would be a silent no-op there: such a recipe must say `+cut-full` to cut Full too, and is refused
 * without it.
 * `coral` (CORAL, see coral.ts) adds a supervised contrastive loss on the UNet's bottleneck through a projection
 * head; it needs labels (`coral+uncond` is refused), composes with `+resample`, and its head must be attached to the
 * model before the trainer is built (`RecipeSetup.coral.attach`). `+coral` adds the same term to a target-transfer
 * recipe (`t2h+coral`, `h2t+resample+coral`, `beta:1+gate=t2h+coral`): OC-LT changes the targets, CORAL the
 * representation, so the two compose; it is refused on baseline (that is `coral`), cbdm and +uncond.
 *
 * The hooks a setup returns take `Pick`s of @oclt/diffusion's TargetHookContext and LossHookContext (the fields
 * they read): the trainer's contexts pass through as they are. A new method adds its row to RECIPE_METHODS, its
 * branch in setupRecipe and, if it reads more of the trainer's context, that field to RecipeTargetContext or
 * RecipeLossContext; nothing outside this file and the method's own.
 */
import type { LossHookContext, TargetHookContext } from '@oclt/diffusion';
import { Generator, Tensor } from '@oclt/tensor';
import type { Module } from '@oclt/autograd';
import { cbdmLoss, type CbdmOptions } from './cbdm.js';
import { coralLoss, ProjectionHead, type CoralOptions } from './coral.js';
import { classFrequencies as frequenciesOf, countClasses, type Labels } from './long-tailed-dataset.js';
import { makeBatchSampler, type BatchSampler, type SamplerKind } from './samplers.js';
import { selectTargets, TRANSFER_GATES, type TargetSelection, type TransferGate } from './target-selection.js';

/**
 * The recipe methods, the one list of them: each one's name (what a recipe string starts with), how a recipe string
 * writes it, and the gate of its target hook (null: the method keeps the eps targets; beta's gate is the default of
 * its +gate=). RecipeMethod, the parser's check and its error texts all come from this table.
 */
export const RECIPE_METHODS = {
  baseline: { syntax: 'baseline', gate: null },
  cbdm: { syntax: 'cbdm', gate: null },
  coral: { syntax: 'coral', gate: null },
  t2h: { syntax: 't2h', gate: 't2h' },
  h2t: { syntax: 'h2t', gate: 'h2t' },
  full: { syntax: 'full', gate: 'full' },
  beta: { syntax: 'beta:<value>', gate: 'full' },
} as const satisfies Record<string, { syntax: string; gate: TransferGate | null }>;

export type RecipeMethod = keyof typeof RECIPE_METHODS;

/** The method names, in table order. */
export const RECIPE_METHOD_NAMES = Object.keys(RECIPE_METHODS) as readonly RecipeMethod[];

/** How a recipe string writes each method (`beta:<value>` for beta), in table order: for help and error texts. */
export const RECIPE_METHOD_SYNTAX: readonly string[] = RECIPE_METHOD_NAMES.map((m) => RECIPE_METHODS[m].syntax);

/** The methods that replace targets (a gate in the table): the ones a cut time and +coral go with. */
const TRANSFER_METHODS: readonly RecipeMethod[] = RECIPE_METHOD_NAMES.filter((m) => RECIPE_METHODS[m].gate !== null);

export interface TrainingRecipe {
  method: RecipeMethod;
  /** Eq. 7 exponent, only for method 'beta'. */
  beta?: number;
  /** The gate of the beta variant (default 'full': no gate); t2h/h2t/full fix their own gate. */
  betaGate?: TransferGate;
  /** Batch Re-sample: class-balanced batches instead of plain shuffled ones. */
  batchResample: boolean;
  /** Transfers only for t < cutTime. */
  cutTime?: number;
  /**
   * Whether cutTime also applies to the 'full' gate (`+cut-full`; default false, as the released OC_LT code, which
   * ignores the cut for Full). A recipe whose gate is 'full' and that has a cutTime must set it to true.
   */
  cutTimeAppliesToFull?: boolean;
  /** Conditional (labels fed to the model) or unconditional training. */
  conditional: boolean;
  /** CBDM settings (method 'cbdm'). */
  cbdm?: CbdmOptions;
  /** CORAL settings (method 'coral', or a target-transfer recipe with `withCoral`). */
  coral?: CoralOptions;
  /** `+coral`: CORAL's term on top of a target-transfer method (t2h, h2t, full, beta). */
  withCoral?: boolean;
}

/** Parses a recipe string (see the module comment) or checks a recipe object. */
export function parseRecipe(spec: string | TrainingRecipe): TrainingRecipe {
  if (typeof spec !== 'string') return validateRecipe({ ...spec });
  const [head, ...flags] = spec.trim().split('+');
  const [name, betaText] = head!.split(':');
  if (!RECIPE_METHOD_NAMES.includes(name as RecipeMethod)) throw new RangeError(`parseRecipe: unknown method '${name}' in '${spec}'; expected one of ${RECIPE_METHOD_SYNTAX.join(', ')}`);
  const recipe: TrainingRecipe = { method: name as RecipeMethod, batchResample: false, conditional: true };
  if (name === 'beta') {
    if (betaText === undefined || betaText.trim() === '' || !Number.isFinite(Number(betaText))) throw new RangeError(`parseRecipe: 'beta' needs a number, as in beta:1 or beta:-1, got '${head}'`);
    recipe.beta = Number(betaText);
  } else if (betaText !== undefined) {
    throw new RangeError(`parseRecipe: only beta takes a value after ':', got '${head}'`);
  }
  for (const flag of flags) {
    const [key, value] = flag.split('=');
    if (key === 'resample' && value === undefined) recipe.batchResample = true;
    else if (key === 'uncond' && value === undefined) recipe.conditional = false;
    else if (key === 'cond' && value === undefined) recipe.conditional = true;
    else if (key === 'cut' && value !== undefined) recipe.cutTime = Number(value);
    else if (key === 'cut-full' && value === undefined) recipe.cutTimeAppliesToFull = true;
    else if (key === 'gate' && value !== undefined) recipe.betaGate = value as TransferGate;
    else if (key === 'coral' && value === undefined) recipe.withCoral = true;
    else throw new RangeError(`parseRecipe: unknown flag '+${flag}' in '${spec}'; expected +resample, +cut=<t>, +cut-full, +uncond, +cond, +gate=<t2h|h2t|full> or +coral`);
  }
  return validateRecipe(recipe);
}

function validateRecipe(recipe: TrainingRecipe): TrainingRecipe {
  if (!RECIPE_METHOD_NAMES.includes(recipe.method)) throw new RangeError(`parseRecipe: unknown method '${recipe.method as string}'`);
  if (recipe.method === 'beta' && !Number.isFinite(recipe.beta)) throw new RangeError(`parseRecipe: method 'beta' needs a finite beta, got ${recipe.beta}`);
  if (recipe.method !== 'beta' && recipe.beta !== undefined) throw new RangeError(`parseRecipe: beta is only for method 'beta' (got method '${recipe.method}')`);
  if (recipe.betaGate !== undefined && (recipe.method !== 'beta' || !TRANSFER_GATES.includes(recipe.betaGate))) {
    throw new RangeError(`parseRecipe: +gate=${recipe.betaGate} is only for method 'beta', with t2h, h2t, full or none`);
  }
  if (recipe.cutTime !== undefined && !(Number.isInteger(recipe.cutTime) && recipe.cutTime >= 0)) throw new RangeError(`parseRecipe: cut time must be a non-negative integer, got ${recipe.cutTime}`);
  if (recipe.cutTime !== undefined && !TRANSFER_METHODS.includes(recipe.method)) throw new RangeError(`parseRecipe: a cut time only applies to target transfer (${TRANSFER_METHODS.join(', ')}), not '${recipe.method}'`);
  const fullGate = recipeGate(recipe) === 'full';
  if (recipe.cutTimeAppliesToFull !== undefined && typeof recipe.cutTimeAppliesToFull !== 'boolean') throw new RangeError(`parseRecipe: cutTimeAppliesToFull must be a boolean, got ${String(recipe.cutTimeAppliesToFull)}`);
  if (recipe.cutTimeAppliesToFull && (recipe.cutTime === undefined || !fullGate)) {
    throw new RangeError(`parseRecipe: +cut-full only goes with a cut time (+cut=<t>) on a Full-gated recipe (full, or beta without +gate=t2h/h2t), got '${recipeName(recipe)}'`);
  }
  if (recipe.cutTime !== undefined && fullGate && !recipe.cutTimeAppliesToFull) {
    throw new RangeError(
      `parseRecipe: '${recipeName(recipe)}' has a cut time on the Full gate, which the released OC_LT code ignores (it cuts T2H and H2T only); ` +
        'add +cut-full (cutTimeAppliesToFull: true) to cut Full as well, or drop the cut',
    );
  }
  if (recipe.method === 'cbdm' && !recipe.conditional) throw new RangeError("parseRecipe: 'cbdm' regularises between labels and needs conditional training; drop +uncond");
  if (recipe.withCoral !== undefined && typeof recipe.withCoral !== 'boolean') throw new RangeError(`parseRecipe: withCoral must be a boolean, got ${String(recipe.withCoral)}`);
  if (recipe.withCoral && recipeGate(recipe) === null) throw new RangeError(`parseRecipe: +coral goes with a target-transfer method (${TRANSFER_METHODS.join(', ')}); for the baseline use 'coral', and it does not combine with '${recipe.method}' otherwise`);
  if (recipe.withCoral && !recipe.conditional) throw new RangeError("parseRecipe: +coral contrasts classes and needs conditional training; drop +uncond");
  if (recipe.method === 'coral' && !recipe.conditional) throw new RangeError("parseRecipe: 'coral' contrasts classes and needs conditional training; drop +uncond");
  return recipe;
}

/** The canonical string of a recipe (parseRecipe(recipeName(r)) gives r back). */
export function recipeName(recipe: TrainingRecipe): string {
  let s = recipe.method === 'beta' ? `beta:${recipe.beta}` : recipe.method;
  if (recipe.betaGate !== undefined) s += `+gate=${recipe.betaGate}`;
  if (recipe.batchResample) s += '+resample';
  if (recipe.cutTime !== undefined) s += `+cut=${recipe.cutTime}`;
  if (recipe.cutTimeAppliesToFull) s += '+cut-full';
  if (recipe.withCoral) s += '+coral';
  if (!recipe.conditional) s += '+uncond';
  return s;
}

/** Whether a recipe trains with CORAL's term (method 'coral' or `+coral`; a weight of 0 still counts here). */
export function recipeUsesCoral(recipe: TrainingRecipe): boolean {
  return recipe.method === 'coral' || recipe.withCoral === true;
}

/** The gate a recipe's target hook uses, or null when it does not change targets. */
export function recipeGate(recipe: TrainingRecipe): TransferGate | null {
  if (recipe.method === 'beta') return recipe.betaGate ?? RECIPE_METHODS.beta.gate;
  return RECIPE_METHODS[recipe.method]?.gate ?? null;
}

/**
 * What a recipe's target replacement reads of the trainer's TargetHookContext. The labels must be there (also in
 * unconditional training: the gate needs them); alphasCumprod defaults to the table given to setupRecipe.
 */
export type RecipeTargetContext = Pick<TargetHookContext, 'x0' | 'xt' | 'noise' | 'timesteps' | 'gen'> &
  Partial<Pick<TargetHookContext, 'alphasCumprod'>> & { labels: NonNullable<TargetHookContext['labels']> };

/**
 * What a recipe's added loss reads of the trainer's LossHookContext: CBDM the denoiser, prediction and labelKept,
 * CORAL the fed labels with labelKept (both optional here: CBDM needs neither).
 */
export type RecipeLossContext = Pick<LossHookContext, 'denoiser' | 'xt' | 'timesteps' | 'prediction' | 'gen'> & Partial<Pick<LossHookContext, 'labels' | 'labelKept'>>;

export interface RecipeSetupOptions {
  /** Labels of the whole training set (indexable by the sampler's indices). */
  labels: Labels;
  numClasses: number;
  batchSize: number;
  alphasCumprod: ArrayLike<number>;
  /** Seeds the batch sampler (which gets a generator spawned from it). */
  gen: Generator;
  /**
   * Which balanced sampler +resample uses (default 'exactly-balanced', the paper's Algorithm 1). The released OC_LT
   * code has no re-sampler at all (its `bal_sample` flag is never read; batches come from a shuffled DataLoader).
   */
  resampler?: Exclude<SamplerKind, 'shuffled'>;
  /** n_c^-alpha for the class-balanced resampler (default 1). */
  resampleAlpha?: number;
}

export interface RecipeSetup {
  recipe: TrainingRecipe;
  /** q(y) of the training set (what the gate and beta use). */
  classFrequencies: Float64Array;
  sampler: BatchSampler;
  /** Replaces the regression targets of a batch (Eq. 8 / Eq. 7); absent when the recipe keeps eps. */
  replaceTargets?: (input: RecipeTargetContext) => TargetSelection;
  /** An added loss term (CBDM, CORAL); absent otherwise. Returns null when it does not apply to this batch. */
  extraLoss?: (input: RecipeLossContext) => Tensor | null;
  /** CORAL's head and bottleneck tap (method 'coral' with a weight > 0). */
  coral?: CoralSetup;
}

/** A model CORAL can attach to: a bottleneck tap and room for the head's parameters (UNet2D). */
export interface BottleneckModel {
  bottleneckTap: ((features: Tensor) => void) | null;
  readonly config: { readonly baseChannels: number; readonly channelMult: readonly number[] };
  addModule<M extends Module>(name: string, module: M): M;
}

/**
 * Adds CORAL's projection head to a model as its submodule `coral_head` (so the trainer's optimizer trains it and
 * checkpoints hold it): what a CORAL run's model is, also when a checkpoint is loaded back for sampling.
 */
export function attachCoralHead(model: BottleneckModel, projectionDim: number | undefined, generator: Generator): ProjectionHead {
  if (!model || !('bottleneckTap' in model) || !model.config || !Array.isArray(model.config.channelMult)) {
    throw new TypeError("recipe 'coral': the model has no bottleneck tap (CORAL needs a UNet2D)");
  }
  const channels = model.config.baseChannels * model.config.channelMult[model.config.channelMult.length - 1]!;
  return model.addModule('coral_head', new ProjectionHead(channels, projectionDim, generator));
}

export interface CoralSetup {
  /**
   * Adds the projection head to the model as its submodule `coral_head` (so the optimizer trains it and checkpoints
   * hold it) and installs the bottleneck tap. Call once, before building the trainer.
   */
  attach(model: BottleneckModel): ProjectionHead;
  head: ProjectionHead | null;
}

/** Turns a recipe into a sampler and hooks for the trainer. */
export function setupRecipe(spec: string | TrainingRecipe, options: RecipeSetupOptions): RecipeSetup {
  const recipe = parseRecipe(spec);
  const { labels, numClasses, batchSize, alphasCumprod, gen } = options;
  const q = frequenciesOf(countClasses(labels, numClasses));
  // The sampler owns a generator spawned from `gen`, so its state (checkpoints) is its own.
  const samplerGen = gen.spawn();
  const sampler = recipe.batchResample
    ? makeBatchSampler(options.resampler ?? 'exactly-balanced', labels, numClasses, batchSize, samplerGen, options.resampleAlpha ?? 1)
    : makeBatchSampler('shuffled', labels, numClasses, batchSize, samplerGen);
  const setup: RecipeSetup = { recipe, classFrequencies: q, sampler };
  const gate = recipeGate(recipe);
  if (gate !== null) {
    setup.replaceTargets = (input) =>
      selectTargets({ ...input, alphasCumprod: input.alphasCumprod ?? alphasCumprod, classFrequencies: q, gate, cutTime: recipe.cutTime, cutTimeAppliesToFull: recipe.cutTimeAppliesToFull ?? false, beta: recipe.method === 'beta' ? recipe.beta : 0 });
  }
  if (recipeUsesCoral(recipe) && (recipe.coral?.weight ?? 1) !== 0) {
    const numTimesteps = alphasCumprod.length;
    const headGen = gen.spawn();
    let features: Tensor | null = null;
    const coral: CoralSetup = {
      head: null,
      attach(model) {
        if (coral.head) throw new Error('setupRecipe: the CORAL head is already attached');
        coral.head = attachCoralHead(model, recipe.coral?.projectionDim, headGen);
        model.bottleneckTap = (h) => {
          features = h;
        };
        return coral.head;
      },
    };
    setup.coral = coral;
    setup.extraLoss = (input) => {
      if (!coral.head) throw new Error("recipe 'coral': attach the head to the model (setup.coral.attach(model)) before training");
      const h = features;
      features = null;
      if (!h || h.shape[0] !== input.xt.shape[0]) throw new Error("recipe 'coral': no bottleneck features from this batch's forward pass (is the model a UNet2D with the tap attached?)");
      if (!input.labels) throw new Error("recipe 'coral' needs the batch's labels");
      return coralLoss({ features: h, head: coral.head, labels: input.labels, labelKept: input.labelKept, timesteps: input.timesteps, numTimesteps, options: recipe.coral });
    };
  }
  if (recipe.method === 'cbdm') {
    const numTimesteps = alphasCumprod.length;
    setup.extraLoss = (input) => cbdmLoss({ ...input, numTimesteps, numClasses, classFrequencies: q, options: recipe.cbdm });
  }
  return setup;
}
