"""Fits EXP_POLY (packages/tensor/src/backends/cpu/wasm/vector-emit.ts): c2..c6 of
exp(r) ~ 1 + r + c2 r^2 + ... + c6 r^6 on |r| <= ln2/2, minimising the maximum relative error
(Lawson's iteratively reweighted least squares on Chebyshev points), then rounds them to float32 and
reports the relative error of the rounded polynomial, evaluated in float64. Needs numpy.

    python3 packages/tensor/scripts/exp-poly.py
"""
import numpy as np

h = np.log(2) / 2
x = np.cos(np.linspace(0, np.pi, 2001)) * h
target = np.exp(x) - 1 - x
basis = np.stack([x ** (k + 2) for k in range(5)], 1)
w = np.ones_like(x)
for _ in range(200):
    sw = np.sqrt(w) / np.exp(x)
    c, *_ = np.linalg.lstsq(basis * sw[:, None], target * sw, rcond=None)
    err = (basis @ c - target) / np.exp(x)
    w = w * np.abs(err)
    w /= w.sum()

c32 = [float(v) for v in np.float32(c)]
r = np.linspace(-h, h, 200001)
p = 1 + r + sum(ck * r ** (k + 2) for k, ck in enumerate(c32))
rel = np.max(np.abs(p / np.exp(r) - 1))
taylor = np.max(np.abs(sum(r ** k / np.prod(range(1, k + 1)) for k in range(8)) / np.exp(r) - 1))
print("EXP_POLY =", c32)
print(f"max relative error {rel:.3g} ({rel / 2**-24:.3f} of 2^-24); degree-7 Taylor: {taylor:.3g}")
