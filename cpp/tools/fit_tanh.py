"""Fit the rational tanh used by the SIMD kernels (cpp/src/kernels/simd_f32.hpp) and
the numba backend.

tanh(x) ~ x * P(x^2) / Q(x^2) on |x| <= 9 (tanh is 1 in float32 beyond), P of degree 5
and Q of degree 3 with Q(0) = 1, by iteratively reweighted linear least squares
(a Lawson-style approach to the minimax fit). Prints the coefficients and the maximum
absolute error of a float32 evaluation over [-12, 12], and the same error for the
coefficients in use, stored in python/actif/constants.json (approximation.tanh), which
both the C++ build and Python read. Changing them there changes every engine's bits.

    python cpp/tools/fit_tanh.py
"""

import json
import os

import numpy as np

CLAMP = 9.0
CONSTANTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "actif", "constants.json")


def fit(p: int = 5, q: int = 3, iters: int = 60):
    x = np.unique(np.concatenate([CLAMP * (1 - np.cos(np.linspace(0, np.pi / 2, 6000))), np.linspace(0, CLAMP, 6000)]))
    s = x * x
    f = np.where(x > 0, np.tanh(x) / np.where(x > 0, x, 1), 1.0)
    vp = np.vander(s, p + 1, increasing=True)
    vq = np.vander(s, q + 1, increasing=True)[:, 1:]
    w = np.ones_like(x)
    q_prev = np.ones_like(x)
    for _ in range(iters):
        a = np.hstack([vp, -f[:, None] * vq])
        ww = w / np.abs(q_prev)
        coef, *_ = np.linalg.lstsq(a * ww[:, None], f * ww, rcond=None)
        num, den = vp @ coef[: p + 1], 1 + vq @ coef[p + 1 :]
        err = np.abs(x * num / den - np.tanh(x))
        w = w * (1 + 50 * err / err.max())
        w /= w.mean()
        q_prev = den
    return coef[: p + 1], np.concatenate([[1.0], coef[p + 1 :]])


def eval_f32(pc, qc, x):
    x = np.clip(x.astype(np.float32), -CLAMP, CLAMP)
    s = x * x
    num = np.full_like(s, np.float32(pc[-1]))
    for c in pc[-2::-1]:
        num = num * s + np.float32(c)
    den = np.full_like(s, np.float32(qc[-1]))
    for c in qc[-2::-1]:
        den = den * s + np.float32(c)
    return np.clip(x * num / den, -1, 1)


if __name__ == "__main__":
    pc, qc = fit()
    xs = np.linspace(-12, 12, 2_000_001).astype(np.float32)
    err = np.abs(eval_f32(pc, qc, xs).astype(np.float64) - np.tanh(xs.astype(np.float64)))
    print("P:", ", ".join(f"{c:.10e}f" for c in pc))
    print("Q:", ", ".join(f"{c:.10e}f" for c in qc))
    print(f"max abs error (float32 evaluation): {err.max():.2e}")
    with open(CONSTANTS, encoding="utf-8") as fh:
        stored = json.load(fh)["approximation"]["tanh"]
    err = np.abs(eval_f32(stored["p"], stored["q"], xs).astype(np.float64) - np.tanh(xs.astype(np.float64)))
    print(f"max abs error of the coefficients in constants.json (float32 evaluation): {err.max():.2e}")
