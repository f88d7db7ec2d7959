"""What a checkpoint's stream state means (issue: hardening): restoring refuses state
arrays no LSTM can reach (|h| > 1, |c| beyond the step count, a non-zero state at step
0), so whatever restores can be stepped without overflow."""

from __future__ import annotations

import numpy as np
import pytest

import actif
from actif import checkpoint as ck
from actif.errors import ModelFormatError
from actif.model_spec import random_spec


def stateful_checkpoint(tmp_path, edit):
    model = actif.Model(random_spec(2, 3, 1, dense_sizes=(), window=3, pooling="mean", seed=0), "numpy")
    st = actif.StreamingExplainer(model, stateful=True)
    st.update(np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2))
    path = st.checkpoint(tmp_path / "s.ck")
    got = ck.read_file(path)
    arrays = {k: v.copy() for k, v in got.state_arrays.items()}
    steps = edit(arrays, got.state_steps)
    ck.write_atomic(path, ck.encode(
        model_sha256=got.model_sha256, input_size=got.input_size, options=got.options, n_updates=got.n_updates,
        skipped=got.skipped, stats_blob=got.stats.to_bytes(), state_steps=steps, state_arrays=arrays,
    ))
    return model, path


def test_an_untouched_checkpoint_restores(tmp_path):
    model, path = stateful_checkpoint(tmp_path, lambda a, steps: steps)
    assert actif.StreamingExplainer.restore(path, model).n_updates > 0


@pytest.mark.parametrize(
    "edit",
    [
        lambda a, steps: (a["h.0"].__setitem__((0, 0), 1.5), steps)[1],
        lambda a, steps: (a["ring"].__setitem__((0, 0, 0), -2.0), steps)[1],
        lambda a, steps: (a["c.0"].__setitem__((0, 0), steps + 1.0), steps)[1],
        lambda a, steps: (a["c.0"].__setitem__((0, 0), 3e38), steps)[1],
        lambda a, steps: 0,  # the state of four steps claimed at step 0
    ],
    ids=["h-beyond-1", "ring-beyond-1", "c-beyond-steps", "c-near-float32-max", "nonzero-at-step-0"],
)
def test_state_no_lstm_reaches_is_refused(edit, tmp_path):
    model, path = stateful_checkpoint(tmp_path, edit)
    with pytest.raises(ModelFormatError, match="no LSTM reaches"):
        actif.StreamingExplainer.restore(path, model)
