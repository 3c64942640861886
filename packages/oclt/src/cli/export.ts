/**
 * `oclt export --format oc-lt-pytorch`: writes a ReferenceUNet (a fresh one from the architecture flags, or the
 * weights of an exchange file, e.g. one `oclt import` wrote) as what the PyTorch code of OC_LT and CBDM loads:
 *   OUT.safetensors   net_model.<key> and ema_model.<key> under their key names and layouts, float32, with
 *                     metadata { format, flags (JSON), step }
 *   OUT.flags.json    their main.py flags (absl names) for the model
 * `python3 packages/oclt/pytorch/oclt_checkpoint.py to-pt OUT.safetensors LOGDIR` then writes LOGDIR/ckpt_<step>.pt
 * (their torch.save dict: net_model, ema_model, optim, sched, step, fixed_x_T) and LOGDIR/flagfile.txt, after
 * loading both state dicts with load_state_dict(strict=True). We write safetensors, not the .pt itself: a .pt is a
 * Python pickle inside a zip, which only Python should execute, and the converter is 200 lines of plain torch.
 */
import { ReferenceUNet, resolveReferenceConfig, type ReferenceUNetConfig } from '@oclt/diffusion';
import { UsageError, helpText, parseArgs, type OptionSpecs } from './args.js';
import { loadExchangeFile, writeExchangeFile } from './exchange-file.js';

export const EXPORT_FORMATS = ['oc-lt-pytorch'] as const;

const OPTIONS = {
  format: { type: 'string', description: "the target: 'oc-lt-pytorch' (the model.py UNet of OC_LT and CBDM, their state-dict keys)", choices: EXPORT_FORMATS },
  out: { type: 'string', description: 'the file to write (.safetensors; OUT.flags.json is written beside it)' },
  from: { type: 'string', description: "an exchange safetensors file (what 'oclt import --out' or this command wrote) whose weights to export; '' = a fresh model from the flags below", default: '' },
  step: { type: 'integer', description: "the step recorded (their ckpt_<step>.pt); default: the --from file's, else 0", default: -1, min: -1 },
  ch: { type: 'integer', description: 'fresh model: base channels (their --ch); a multiple of 32 with every multiplier', default: 128, min: 32 },
  'ch-mult': { type: 'string', description: 'fresh model: channel multipliers, comma list (their --ch_mult)', default: '1,2,2,2' },
  attn: { type: 'string', description: "fresh model: level indices with attention, comma list or '' (their --attn)", default: '1' },
  'num-res-blocks': { type: 'integer', description: 'fresh model: ResBlocks per level (their --num_res_blocks)', default: 2, min: 1 },
  dropout: { type: 'number', description: 'their --dropout', default: 0.1, min: 0, max: 0.99 },
  'num-classes': { type: 'integer', description: 'fresh model: classes (their --num_class with --conditional); 0 = unconditional', default: 10, min: 0 },
  T: { type: 'integer', description: 'fresh model: diffusion steps (their --T; the rows of the time table)', default: 1000, min: 1 },
  'img-size': { type: 'integer', description: 'their --img_size', default: 32, min: 2 },
  seed: { type: 'integer', description: 'fresh model: seed of the initial weights', default: 0 },
} as const satisfies OptionSpecs;

export const EXPORT_HELP = helpText(
  'export',
  'Write a ReferenceUNet (fresh, or from --from) as the checkpoint the PyTorch code of OC_LT/CBDM loads with load_state_dict(strict=True):\n' +
    'safetensors with their keys (net_model.*, ema_model.*) plus their flags as JSON. Convert to their ckpt_<step>.pt with\n' +
    '  python3 packages/oclt/pytorch/oclt_checkpoint.py to-pt OUT.safetensors LOGDIR\n' +
    'See docs/pytorch-bridge.md for the road: prototype here, export, train at scale there, import, evaluate here.',
  OPTIONS,
);

function intList(flag: string, text: string): number[] {
  if (text.trim() === '') return [];
  const parts = text.split(',').map((p) => p.trim());
  if (!parts.every((p) => /^\d+$/.test(p))) throw new UsageError(`--${flag} must be a comma list of non-negative integers, got '${text}'`);
  return parts.map(Number);
}

export async function exportCommand(argv: readonly string[]): Promise<number> {
  const o = parseArgs('export', argv, OPTIONS);
  if (!o.out) throw new UsageError('--out is required (the .safetensors file to write)');
  if (!o.out.endsWith('.safetensors')) throw new UsageError(`--out must end with .safetensors, got '${o.out}'`);
  if (!o.format) throw new UsageError(`--format is required (${EXPORT_FORMATS.join(', ')})`);
  let net: ReferenceUNet;
  let ema: ReferenceUNet;
  let step = o.step;
  if (o.from) {
    const loaded = loadExchangeFile(o.from, { weights: 'net' });
    net = loaded.model;
    ema = loadExchangeFile(o.from, { weights: 'ema' }).model;
    if (step < 0) step = loaded.step;
  } else {
    const config: ReferenceUNetConfig = {
      T: o.T,
      ch: o.ch,
      chMult: intList('ch-mult', o['ch-mult']),
      attn: intList('attn', o.attn),
      numResBlocks: o['num-res-blocks'],
      dropout: o.dropout,
      numClasses: o['num-classes'],
      imgSize: o['img-size'],
      seed: o.seed,
    };
    try {
      resolveReferenceConfig(config);
    } catch (err) {
      throw new UsageError((err as Error).message.replace(/config\.(\w+)/, (_, f: string) => `--${{ chMult: 'ch-mult', numResBlocks: 'num-res-blocks', numClasses: 'num-classes', imgSize: 'img-size' }[f] ?? f}`));
    }
    net = new ReferenceUNet(config);
    ema = net; // a fresh model: the EMA starts equal to it (their copy.deepcopy(net_model))
  }
  const r = writeExchangeFile(o.out, net, ema, { step: Math.max(0, step) });
  console.log(`[export] ${r.file}: ${r.numTensors} tensors (net_model.*, ema_model.*), step ${r.step}; flags ${r.flagsFile}`);
  console.log(`[export] next: python3 packages/oclt/pytorch/oclt_checkpoint.py to-pt ${r.file} LOGDIR --step ${r.step}`);
  return 0;
}
