/**
 * The thin adapter from a training recipe to @oclt/diffusion's Trainer: its `sampler`, `targetHook` and
 * `lossHook` options (see packages/diffusion/src/training/hooks.ts). The context types below are the fields this
 * adapter reads from the trainer's hook contexts (structurally the same), so it does not depend on the trainer's
 * module layout.
 */
import { Generator, Tensor } from '@oclt/tensor';
import { setupRecipe, type RecipeSetup, type RecipeSetupOptions, type TrainingRecipe } from './recipes.js';
import type { BatchSampler } from './samplers.js';
import type { TargetSelection } from './target-selection.js';

/** What the adapter reads from the trainer's TargetHookContext. */
export interface TrainerTargetContext {
  x0: Tensor;
  noise: Tensor;
  xt: Tensor;
  timesteps: Tensor;
  /** The true labels (null when the data has none). */
  labels: Int32Array | null;
  alphasCumprod: Float64Array;
  gen: Generator;
}

/** What the adapter reads from the trainer's LossHookContext. */
export interface TrainerLossContext {
  denoiser: (xt: Tensor, timesteps: Tensor, labels: Tensor) => Tensor;
  xt: Tensor;
  timesteps: Tensor;
  prediction: Tensor;
  /** 1 where the label was fed to the model, 0 where classifier-free guidance dropped it. */
  labelKept: Uint8Array;
  gen: Generator;
}

export interface RecipeTrainerHooks {
  recipe: TrainingRecipe;
  /** Whether the model must be class-conditional for this recipe. */
  conditional: boolean;
  sampler: BatchSampler;
  targetHook?: (ctx: TrainerTargetContext) => { targets: Tensor; diagnostics: Record<string, number> };
  lossHook?: (ctx: TrainerLossContext) => Tensor | null;
  /** The underlying setup (class frequencies, plain hooks). */
  setup: RecipeSetup;
}

/** Per-batch log scalars of a selection: realised transfer rate and, over rows below the cut, 1 - p_sel(i|i) and entropy. */
export function selectionDiagnostics(selection: TargetSelection): Record<string, number> {
  const B = selection.transferred.length;
  let transferred = 0;
  let drawn = 0;
  let selfProbability = 0;
  let entropy = 0;
  for (let i = 0; i < B; i++) {
    transferred += selection.transferred[i]!;
    if (selection.selectedIndex[i]! < 0) continue;
    drawn++;
    selfProbability += selection.selfProbability[i]!;
    entropy += selection.selectionEntropy[i]!;
  }
  return {
    transferRate: B ? transferred / B : 0,
    drawnFraction: B ? drawn / B : 0,
    expectedTransferProbability: drawn ? 1 - selfProbability / drawn : 0,
    selectionEntropy: drawn ? entropy / drawn : 0,
  };
}

/**
 * A recipe as trainer options: `new Trainer({ model, scheduler, dataset, config, ...pick(hooks, 'sampler',
 * 'targetHook', 'lossHook') })`. `options.labels` are the training set's labels; `alphasCumprod` is taken from the
 * trainer's context at each step (so only its length matters here).
 */
export function recipeTrainerHooks(spec: string | TrainingRecipe, options: RecipeSetupOptions): RecipeTrainerHooks {
  const setup = setupRecipe(spec, options);
  const hooks: RecipeTrainerHooks = { recipe: setup.recipe, conditional: setup.recipe.conditional, sampler: setup.sampler, setup };
  const replaceTargets = setup.replaceTargets;
  if (replaceTargets) {
    hooks.targetHook = (ctx) => {
      if (!ctx.labels) throw new Error(`recipeTrainerHooks: recipe '${spec}' gates or weights by class, but the batch has no labels`);
      const selection = replaceTargets({ x0: ctx.x0, xt: ctx.xt, noise: ctx.noise, timesteps: ctx.timesteps, labels: ctx.labels, alphasCumprod: ctx.alphasCumprod, gen: ctx.gen });
      return { targets: selection.targets, diagnostics: selectionDiagnostics(selection) };
    };
  }
  const extraLoss = setup.extraLoss;
  if (extraLoss) {
    hooks.lossHook = (ctx) => extraLoss({ denoiser: ctx.denoiser, xt: ctx.xt, timesteps: ctx.timesteps, prediction: ctx.prediction, labelKept: ctx.labelKept, gen: ctx.gen });
  }
  return hooks;
}
