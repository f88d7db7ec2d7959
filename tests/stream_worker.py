"""A stream that can be killed: feeds a deterministic sample stream through a stateful
StreamingExplainer that checkpoints every N accepted samples, resuming from the
checkpoint when one exists. Used by test_checkpoint.py, which SIGKILLs it mid-stream.

    python tests/stream_worker.py MODEL.npz CHECKPOINT BACKEND TOTAL EVERY

Prints ``progress K`` every 100 samples and, at the end, ``done <stats hex> <state hex>``.
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

import actif


def stream_samples(total: int, n_features: int) -> np.ndarray:
    """The stream every run replays: normal samples with NaN and out-of-range rows."""
    x = np.random.default_rng(2024).normal(size=(total, n_features)).astype(np.float32)
    x[::17, 0] = np.nan
    x[5::29, -1] = 1e9
    return x


def position(st: actif.StreamingExplainer) -> int:
    """Samples consumed so far: one sample per update call, accepted or skipped."""
    return st.n_updates + sum(st.skipped.values())


def state_digest(st: actif.StreamingExplainer) -> str:
    s = st.state
    h = hashlib.sha256()
    for a in [*s.h, *s.c, s.ring]:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(str(s.steps).encode())
    return h.hexdigest()


def main(argv: list[str]) -> int:
    model_path, ckpt, backend, total, every = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    model = actif.load(model_path, backend=backend)
    if os.path.exists(ckpt):
        st = actif.StreamingExplainer.restore(ckpt, model)
        print(f"resumed {position(st)}", flush=True)
    else:
        st = actif.StreamingExplainer(model, stateful=True, on_invalid="skip", checkpoint_every=every, checkpoint_path=ckpt)
    xs = stream_samples(total, model.input_size)
    for i in range(position(st), total):
        st.update(xs[i])
        if (i + 1) % 100 == 0:
            print(f"progress {i + 1}", flush=True)
    print(f"done {st.stats.to_bytes().hex()} {state_digest(st)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
