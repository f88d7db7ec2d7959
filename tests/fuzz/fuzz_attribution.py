"""Fuzz the attribution methods and the stream state with hostile input.

The first bytes choose a small model (inputs, hidden sizes, layers, pooling, outputs,
head activation, weights from a seed); the rest are read as float32 samples, NaN, Inf
and ±3e38 included. Each attribution method (actif.METHODS) then explains those
samples as windows and as a stateful stream with ``on_invalid="skip"``, on the NumPy
reference and, when built, the native core. Properties: nothing but a refusal
(ValueError) escapes; every statistic stays finite and its bytes round-trip; a refused
update leaves the statistics byte-identical; the two backends skip the same rows.
"""

from __future__ import annotations

import sys

import numpy as np
from fuzz_common import run

import actif
from actif.model_spec import random_spec
from actif.stats import RunningStats

BACKENDS = ["numpy"] + (["cpp"] if "cpp" in actif.available_backends() else [])
METHODS = actif.METHODS  # every attribution method
POOLINGS = ("last", "mean", "max")
ACTIVATIONS = ("identity", "relu", "elu", "tanh", "sigmoid")
WINDOW = 3


def model_from(header: bytes) -> tuple[actif.model_spec.ModelSpec, int]:
    b = (header + bytes(8))[:8]
    n_in, hidden, layers = 1 + b[0] % 4, 1 + b[1] % 9, 1 + b[2] % 2
    outputs = 1 + b[3] % 3
    spec = random_spec(
        n_in, [hidden] * layers, outputs, pooling=POOLINGS[b[4] % 3], seed=int(b[5]), window=WINDOW,
        dense_sizes=[4] if b[6] & 1 else [], activation=ACTIVATIONS[b[6] // 2 % 5], normalization=bool(b[6] & 64),
    )
    return spec, int(b[7]) % outputs


def samples_from(body: bytes, n_in: int) -> np.ndarray:
    usable = len(body) // (4 * n_in) * 4 * n_in
    x = np.frombuffer(body[:usable], dtype="<f4").reshape(-1, n_in)[: 2 * WINDOW]
    return np.array(x, np.float32)


def test_one_input(data: bytes) -> None:
    if len(data) < 8:
        return
    spec, target = model_from(data[:8])
    x = samples_from(data[8:], spec.input_size)
    if x.shape[0] < WINDOW:
        return
    windows = np.stack([x[i : i + WINDOW] for i in range(x.shape[0] - WINDOW + 1)])
    skipped = {}
    for backend in BACKENDS:
        model = actif.Model(spec, backend)
        for method in METHODS:
            for stateful, data_in in ((False, windows), (True, x)):
                st = actif.StreamingExplainer(
                    model, trace=method, stateful=stateful, on_invalid="skip", target=target, n_steps=4,
                )
                before = st.stats.to_bytes()
                try:
                    st.update(data_in)
                except ValueError:
                    if st.stats.to_bytes() != before:
                        raise AssertionError(f"{backend}/{method}: a refused update changed the statistics") from None
                else:
                    if sum(st.skipped.values()) == len(data_in) and st.stats.to_bytes() != before:
                        raise AssertionError(f"{backend}/{method}: every row skipped, yet the statistics changed")
                check_finite(st.stats, f"{backend}/{method}")
                skipped[(backend, method, stateful)] = dict(st.skipped)
    for method in METHODS:
        for stateful in (False, True):
            seen = {b: skipped[(b, method, stateful)] for b in BACKENDS}
            if len({tuple(sorted(v.items())) for v in seen.values()}) > 1:
                raise AssertionError(f"{method} (stateful={stateful}): backends skip differently: {seen}")


def check_finite(rs: RunningStats, where: str) -> None:
    if not (np.all(np.isfinite(rs.mean)) and np.all(np.isfinite(rs.m2))):
        raise AssertionError(f"{where}: statistics hold NaN or Inf")
    blob = rs.to_bytes()
    if RunningStats.from_bytes(blob).to_bytes() != blob:
        raise AssertionError(f"{where}: statistics do not round-trip")


if __name__ == "__main__":
    run(test_one_input)
    sys.exit(0)
