/**
 * The thin adapter from a training recipe to @oclt/diffusion's Trainer: its `sampler`, `targetHook` and
 * `lossHook` options (see packages/diffusion/src/training/hooks.ts). The hooks take only the fields of the
 * trainer's hook contexts that they read (the recipe's RecipeTargetContext and RecipeLossContext, Picks of those
 * contexts), so tests and other trainers can call them with just those; the trainer's contexts pass through as they
 * are, and a new method changes nothing here.
 */
import type { TargetHookContext } from '@oclt/diffusion';
import { Tensor } from '@oclt/tensor';
import { setupRecipe, type RecipeLossContext, type RecipeSetup, type RecipeSetupOptions, type RecipeTargetContext, type TrainingRecipe } from './recipes.js';
import type { BatchSampler } from './samplers.js';
import type { TargetSelection } from './target-selection.js';

/** What the adapter's target hook reads from the trainer's TargetHookContext: the recipe's, with labels possibly null (refused). */
export type TrainerTargetContext = Omit<RecipeTargetContext, 'labels'> & Pick<TargetHookContext, 'labels'>;

/** What the adapter's loss hook reads from the trainer's LossHookContext (the recipe's; passed through). */
export type TrainerLossContext = RecipeLossContext;

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
      const selection = replaceTargets({ ...ctx, labels: ctx.labels });
      return { targets: selection.targets, diagnostics: selectionDiagnostics(selection) };
    };
  }
  if (setup.extraLoss) hooks.lossHook = setup.extraLoss;
  return hooks;
}
