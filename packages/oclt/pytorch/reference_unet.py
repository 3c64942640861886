"""The UNet of the `model.py` shared by pytorch-ddpm, CBDM (qym7/CBDM-pytorch) and OC_LT (MediaBrain-SJTU/OC_LT),
rewritten here in PyTorch from their architecture (not copied), with their module names, so that its
`state_dict()` has exactly their keys: a file that loads into this class with strict=True loads into theirs.

Used by make_fixtures.py (the parity fixtures of oclt's ReferenceUNet) and by oclt_checkpoint.py. Needs only torch.
Run `python3 reference_unet.py` to print the key list of the CIFAR-10 configuration.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn import init


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def time_table(T, d):
    """Rows t of interleaved (sin(t f_i), cos(t f_i)), f_i = exp(-(2i/d) ln 10000), in float32 as theirs."""
    freq = torch.exp(-(torch.arange(0, d, step=2) / d * math.log(10000)))
    arg = torch.arange(T).float()[:, None] * freq[None, :]
    return torch.stack([torch.sin(arg), torch.cos(arg)], dim=-1).view(T, d)


def xavier(module, gain=1.0):
    init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        init.zeros_(module.bias)


class TimeEmbedding(nn.Module):
    def __init__(self, T, d_model, dim):
        super().__init__()
        self.timembedding = nn.Sequential(
            nn.Embedding.from_pretrained(time_table(T, d_model)),
            nn.Linear(d_model, dim), Swish(), nn.Linear(dim, dim))
        xavier(self.timembedding[1])
        xavier(self.timembedding[3])

    def forward(self, t):
        return self.timembedding(t)


class DownSample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.main = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        xavier(self.main)

    def forward(self, x, temb):
        return self.main(x)


class UpSample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.main = nn.Conv2d(ch, ch, 3, stride=1, padding=1)
        xavier(self.main)

    def forward(self, x, temb):
        return self.main(F.interpolate(x, scale_factor=2, mode='nearest'))


class AttnBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.group_norm = nn.GroupNorm(32, ch)
        self.proj_q = nn.Conv2d(ch, ch, 1)
        self.proj_k = nn.Conv2d(ch, ch, 1)
        self.proj_v = nn.Conv2d(ch, ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        for m in (self.proj_q, self.proj_k, self.proj_v):
            xavier(m)
        xavier(self.proj, gain=1e-5)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.group_norm(x)
        q = self.proj_q(h).permute(0, 2, 3, 1).reshape(B, H * W, C)
        k = self.proj_k(h).reshape(B, C, H * W)
        v = self.proj_v(h).permute(0, 2, 3, 1).reshape(B, H * W, C)
        w = F.softmax(torch.bmm(q, k) * (int(C) ** (-0.5)), dim=-1)
        h = torch.bmm(w, v).reshape(B, H, W, C).permute(0, 3, 1, 2)
        return x + self.proj(h)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, tdim, dropout, attn=False):
        super().__init__()
        self.block1 = nn.Sequential(nn.GroupNorm(32, in_ch), Swish(), nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.temb_proj = nn.Sequential(Swish(), nn.Linear(tdim, out_ch))
        self.block2 = nn.Sequential(nn.GroupNorm(32, out_ch), Swish(), nn.Dropout(dropout),
                                    nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.attn = AttnBlock(out_ch) if attn else nn.Identity()
        # As theirs: every conv/linear of the block (the attention's too) xavier with gain 1, then block2's conv 1e-5.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                xavier(m)
        xavier(self.block2[-1], gain=1e-5)

    def forward(self, x, temb):
        h = self.block1(x)
        h = h + self.temb_proj(temb)[:, :, None, None]
        h = self.block2(h)
        return self.attn(h + self.shortcut(x))


class UNet(nn.Module):
    """Their constructor: UNet(T, ch, ch_mult, attn, num_res_blocks, dropout, cond, augm, num_class)."""

    def __init__(self, T, ch, ch_mult, attn, num_res_blocks, dropout, cond, augm, num_class, in_ch=3):
        super().__init__()
        assert all(i < len(ch_mult) for i in attn), 'attn index out of bound'
        tdim = ch * 4
        self.time_embedding = TimeEmbedding(T, ch, tdim)
        self.label_embedding = nn.Embedding(num_class, tdim) if cond else None
        self.augm_embedding = nn.Linear(9, tdim, bias=False) if augm else None
        self.head = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.downblocks = nn.ModuleList()
        chs = [ch]
        now = ch
        for i, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                self.downblocks.append(ResBlock(now, ch * mult, tdim, dropout, attn=(i in attn)))
                now = ch * mult
                chs.append(now)
            if i != len(ch_mult) - 1:
                self.downblocks.append(DownSample(now))
                chs.append(now)
        self.middleblocks = nn.ModuleList([ResBlock(now, now, tdim, dropout, attn=True),
                                           ResBlock(now, now, tdim, dropout, attn=False)])
        self.upblocks = nn.ModuleList()
        for i, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                self.upblocks.append(ResBlock(chs.pop() + now, ch * mult, tdim, dropout, attn=(i in attn)))
                now = ch * mult
            if i != 0:
                self.upblocks.append(UpSample(now))
        assert not chs
        self.tail = nn.Sequential(nn.GroupNorm(32, now), Swish(), nn.Conv2d(now, in_ch, 3, padding=1))
        xavier(self.head)
        xavier(self.tail[-1], gain=1e-5)

    def forward(self, x, t, y=None):
        temb = self.time_embedding(t)
        if y is not None and self.label_embedding is not None:
            temb = temb + self.label_embedding(y)
        h = self.head(x)
        hs = [h]
        for layer in self.downblocks:
            h = layer(h, temb)
            hs.append(h)
        for layer in self.middleblocks:
            h = layer(h, temb)
        for layer in self.upblocks:
            if isinstance(layer, ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = layer(h, temb)
        return self.tail(h)


def unet_from_flags(flags, in_ch=3):
    """A UNet from the JSON of their flags (what `oclt export` writes)."""
    return UNet(T=flags['T'], ch=flags['ch'], ch_mult=flags['ch_mult'], attn=flags['attn'],
                num_res_blocks=flags['num_res_blocks'], dropout=flags['dropout'],
                cond=flags['conditional'], augm=flags.get('augm', False), num_class=int(flags['num_class']), in_ch=in_ch)


if __name__ == '__main__':
    m = UNet(T=1000, ch=128, ch_mult=[1, 2, 2, 2], attn=[1], num_res_blocks=2, dropout=0.1, cond=True, augm=False, num_class=10)
    sd = m.state_dict()
    print(len(sd), 'keys,', sum(p.numel() for p in m.parameters()), 'parameters (time table included)')
    for k, v in sd.items():
        print(k, list(v.shape))
