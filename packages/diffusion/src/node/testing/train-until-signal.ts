/**
 * A child process for the signal test: trains a toy model with runTraining in the run directory argv[2], prints
 * "step N" lines, and exits with 128 + the signal number when stopped by SIGINT (2) or SIGTERM (15), 0 when done.
 */
import { Generator } from '@oclt/tensor';
import { gaussianMixtureDataset } from '../../data/toy.js';
import { MLPDenoiser } from '../../models/mlp.js';
import { DDPMScheduler } from '../../schedulers/ddpm.js';
import { Trainer } from '../../training/trainer.js';
import { runTraining } from '../train.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: train-until-signal.ts <run dir>');
const trainer = new Trainer({
  model: new MLPDenoiser({ dataDim: 2, hidden: 16, numLayers: 1, seed: 1 }),
  scheduler: new DDPMScheduler({ numTrainTimesteps: 100 }),
  dataset: gaussianMixtureDataset([{ mean: [1, 1], std: 0.2, count: 40 }], new Generator(3)),
  config: { batchSize: 8, numSteps: 1_000_000, seed: 9 },
});
const result = await runTraining(trainer, { dir, progress: false, checkpointEvery: 1_000_000, onStep: (s) => process.stdout.write(`step ${s.step}\n`) });
process.stdout.write(`stopped ${result.stoppedBy} at ${result.step}\n`);
process.exitCode = result.stoppedBy === 'SIGINT' ? 130 : result.stoppedBy === 'SIGTERM' ? 143 : 0;
