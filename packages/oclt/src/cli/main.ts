#!/usr/bin/env node
/**
 * The `oclt` command line: `oclt <command> [options]`, every command with --help.
 *   train | sample | eval | transfer-curve | ablation | study | export | import
 * From a clone: `npm run oclt -- train --help`. Exit codes: 0 ok, 1 error, 2 usage error, 130/143 interrupted
 * (the run saved a checkpoint; the same command resumes it).
 */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { UsageError } from './args.js';
import { ABLATION_HELP, ablationCommand } from './ablation.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { EXPORT_HELP, exportCommand } from './export.js';
import { IMPORT_HELP, importCommand } from './import.js';
import { SAMPLE_HELP, sampleCommand } from './sample.js';
import { STUDY_HELP, studyCommand } from './study.js';
import { TRAIN_HELP, trainCommand } from './train.js';
import { TRANSFER_HELP, transferCurveCommand } from './transfer-curve.js';

export const COMMANDS: Record<string, { help: string; summary: string; run: (argv: readonly string[]) => Promise<number> }> = {
  train: { help: TRAIN_HELP, summary: 'train a denoiser on Fashion-MNIST-LT with a recipe (resumable)', run: trainCommand },
  sample: { help: SAMPLE_HELP, summary: 'sample a trained run: PNG grid, safetensors, JSON', run: sampleCommand },
  eval: { help: EVAL_HELP, summary: 'FID/KID/IS/precision/recall/per-class FID of samples, with real baselines', run: evalCommand },
  'transfer-curve': { help: TRANSFER_HELP, summary: 'P(target transfer) versus t (paper Fig. 7), no training', run: transferCurveCommand },
  ablation: { help: ABLATION_HELP, summary: "the paper's Table 1 at small scale (resumable)", run: ablationCommand },
  study: { help: STUDY_HELP, summary: 'a declared multi-seed study with intervals: plan | run | unit | report (resumable, parallel)', run: studyCommand },
  export: { help: EXPORT_HELP, summary: 'write a ReferenceUNet for the PyTorch code of OC_LT/CBDM (their keys, strict load)', run: exportCommand },
  import: { help: IMPORT_HELP, summary: 'read a checkpoint trained by OC_LT/CBDM (ema_model) for sampling here', run: importCommand },
};

export function usage(): string {
  return ['usage: oclt <command> [options]', '', 'commands:', ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(16)} ${c.summary}`), '', "run 'oclt <command> --help' for a command's options"].join('\n');
}

/** Runs the CLI on argv (without node and script); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`oclt: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    // Messages may carry the prefix already (the argument parser's do): it is never doubled.
    const message = err instanceof Error ? err.message : String(err);
    // ('oclt study plan: ...' counts: a subcommand's own prefix.)
    const prefixed = message.startsWith(`oclt ${name}: `) || message.startsWith(`oclt ${name} `) ? message : `oclt ${name}: ${message}`;
    if (err instanceof UsageError) {
      console.error(`${prefixed}\n\n${command.help}`);
      return 2;
    }
    console.error(prefixed);
    return 1;
  }
}

/** True when this module is the program (also through the npm bin symlink), not when it is imported. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
