"""Converts between oclt's PyTorch-bridge safetensors and the checkpoints the reference code (CBDM / OC_LT main.py)
saves and loads with torch.save / torch.load. Needs only torch (no `safetensors` package: the format is read and
written here, https://github.com/huggingface/safetensors).

  python3 oclt_checkpoint.py to-pt   EXPORT.safetensors LOGDIR [--step N] [--reference-model PATH/model/model.py]
      -> LOGDIR/ckpt_<N>.pt with 'net_model', 'ema_model', 'optim', 'sched', 'step', 'fixed_x_T' (their keys), and
         LOGDIR/flagfile.txt (their absl flags, for --flagfile). Both state dicts are checked first with
         load_state_dict(strict=True) against reference_unet.py's UNet, and against their own model.py when
         --reference-model names it.
  python3 oclt_checkpoint.py from-pt LOGDIR/ckpt_<N>.pt OUT.safetensors [--flagfile LOGDIR/flagfile.txt]
      -> what `oclt import` reads: every tensor of 'net_model' and 'ema_model' as net_model.<key> / ema_model.<key>
         (a 'module.' prefix of DataParallel is removed), dtypes kept (F16/BF16/I64 are converted by oclt on load),
         and the flags in the metadata when --flagfile is given.
"""
import argparse
import importlib.util
import json
import os
import struct
import sys
from collections import OrderedDict

import torch

CODES = {torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16',
         torch.int64: 'I64', torch.int32: 'I32', torch.bool: 'BOOL', torch.uint8: 'U8'}
DTYPES = {v: k for k, v in CODES.items()}
SIZES = {'F32': 4, 'F64': 8, 'F16': 2, 'BF16': 2, 'I64': 8, 'I32': 4, 'BOOL': 1, 'U8': 1}


def save_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    # Sorted by alignment then name, as the reference writer does.
    for name in sorted(tensors, key=lambda n: (-tensors[n].element_size(), n)):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[name] = {'dtype': CODES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {})
    base = 8 + n
    out = OrderedDict()
    for name, spec in header.items():
        begin, end = spec['data_offsets']
        buf = bytearray(data[base + begin:base + end])
        dtype = DTYPES[spec['dtype']]
        if end == begin:
            out[name] = torch.zeros(spec['shape'], dtype=dtype)
        else:
            out[name] = torch.frombuffer(buf, dtype=torch.uint8).view(dtype).reshape(spec['shape']).clone()
    return out, metadata


def split_export(tensors):
    """{'net_model': sd, 'ema_model': sd} from net_model.<key> / ema_model.<key> entries."""
    parts = {'net_model': OrderedDict(), 'ema_model': OrderedDict()}
    for name, t in tensors.items():
        top, _, key = name.partition('.')
        if top not in parts:
            raise SystemExit(f"oclt_checkpoint: tensor '{name}' is neither net_model.* nor ema_model.*")
        parts[top][key] = t
    return parts


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def flagfile_text(flags):
    """Their absl flagfile: one --name=value line, repeated for the multi-integer flags."""
    lines = []
    for k, v in flags.items():
        if isinstance(v, bool):
            lines.append(f"--{k}" if v else f"--no{k}")
        elif isinstance(v, list):
            lines.extend(f"--{k}={x}" for x in v)
        else:
            lines.append(f"--{k}={v}")
    return '\n'.join(lines) + '\n'


def parse_flagfile(path):
    ints = {'ch', 'num_res_blocks', 'T', 'img_size', 'total_steps', 'warmup', 'batch_size'}
    floats = {'dropout', 'beta_1', 'beta_T', 'lr', 'ema_decay', 'num_class', 'grad_clip'}
    multi = {'ch_mult', 'attn'}
    flags = {}
    for line in open(path):
        line = line.strip()
        if not line.startswith('--'):
            continue
        body = line[2:]
        if '=' not in body:
            flags[body[2:] if body.startswith('no') else body] = not body.startswith('no')
            continue
        k, v = body.split('=', 1)
        if k in multi:
            flags.setdefault(k, []).append(int(v))
        elif k in ints:
            flags[k] = int(v)
        elif k in floats:
            flags[k] = float(v)
        else:
            flags[k] = v
    return flags


def to_pt(args):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import reference_unet
    tensors, meta = load_safetensors(args.export)
    if 'flags' not in meta:
        raise SystemExit(f"oclt_checkpoint: {args.export} has no 'flags' in its metadata (not written by oclt export?)")
    flags = json.loads(meta['flags'])
    parts = split_export(tensors)
    builders = [('reference_unet.py', reference_unet.UNet)]
    if args.reference_model:
        builders.append((args.reference_model, load_module(args.reference_model, 'their_model').UNet))
    for where, cls in builders:
        m = cls(T=flags['T'], ch=flags['ch'], ch_mult=flags['ch_mult'], attn=flags['attn'],
                num_res_blocks=flags['num_res_blocks'], dropout=flags['dropout'], cond=flags['conditional'],
                augm=flags.get('augm', False), num_class=int(flags['num_class']))
        for part in ('net_model', 'ema_model'):
            m.load_state_dict(parts[part], strict=True)
            print(f"{part}: load_state_dict(strict=True) into {where}: ok ({len(parts[part])} tensors)")
    step = args.step if args.step is not None else int(meta.get('step', '0'))
    params = [torch.nn.Parameter(t.clone()) for t in parts['net_model'].values()]
    optim = torch.optim.Adam(params, lr=flags.get('lr', 2e-4))
    warmup = flags.get('warmup', 5000)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda=lambda s: min(s, warmup) / warmup)
    ckpt = {'net_model': parts['net_model'], 'ema_model': parts['ema_model'], 'optim': optim.state_dict(),
            'sched': sched.state_dict(), 'step': step,
            'fixed_x_T': torch.randn(min(flags.get('sample_size', 64), 100), 3, flags['img_size'], flags['img_size'])}
    os.makedirs(args.logdir, exist_ok=True)
    out = os.path.join(args.logdir, f'ckpt_{step}.pt')
    torch.save(ckpt, out)
    with open(os.path.join(args.logdir, 'flagfile.txt'), 'w') as f:
        f.write(flagfile_text({k: v for k, v in flags.items() if not k.startswith('_')}))
    print(f"wrote {out} and {os.path.join(args.logdir, 'flagfile.txt')}")


def from_pt(args):
    ckpt = torch.load(args.ckpt, map_location='cpu')
    tensors = OrderedDict()
    for part in ('net_model', 'ema_model'):
        if part not in ckpt:
            continue
        for k, v in ckpt[part].items():
            tensors[f"{part}.{k[len('module.'):] if k.startswith('module.') else k}"] = v
    if not tensors:
        raise SystemExit(f"oclt_checkpoint: {args.ckpt} has neither 'net_model' nor 'ema_model'")
    meta = {'format': 'oclt-reference-unet/1', 'step': str(ckpt.get('step', 0)), 'source': os.path.basename(args.ckpt)}
    if args.flagfile:
        meta['flags'] = json.dumps(parse_flagfile(args.flagfile))
    save_safetensors(args.out, tensors, meta)
    print(f"wrote {args.out}: {len(tensors)} tensors, step {meta['step']}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('to-pt')
    a.add_argument('export')
    a.add_argument('logdir')
    a.add_argument('--step', type=int)
    a.add_argument('--reference-model')
    a.set_defaults(fn=to_pt)
    b = sub.add_parser('from-pt')
    b.add_argument('ckpt')
    b.add_argument('out')
    b.add_argument('--flagfile')
    b.set_defaults(fn=from_pt)
    args = p.parse_args()
    args.fn(args)


if __name__ == '__main__':
    main()
