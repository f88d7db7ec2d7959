"""Checkpoints: resume equals an uninterrupted run, byte for byte; malformed or foreign
checkpoints are refused clearly; a SIGKILLed process resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import actif
from actif import checkpoint as ck
from actif.backends.base import Backend
from actif.errors import CheckpointMismatchError, ModelFormatError
from actif.model_spec import random_spec

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from stream_worker import position, state_digest, stream_samples  # noqa: E402

N_IN = 6
STEP_BACKENDS = [b for b in actif.available_backends() if actif.backends.backend_class(b).step is not Backend.step]


def make_model(backend="auto", seed=3, n_in=N_IN):
    return actif.Model(random_spec(n_in, 12, 2, pooling="max", normalization=True, seed=seed, window=8), backend)


def stream(rng, stateful, n):
    x = rng.normal(size=(n, N_IN) if stateful else (n, 8, N_IN)).astype(np.float32)
    x[3] = np.nan  # skipped rows belong in the counters too
    return x


def assert_same_stream(a: actif.StreamingExplainer, b: actif.StreamingExplainer) -> None:
    assert a.stats.to_bytes() == b.stats.to_bytes()
    assert (a.n_updates, dict(a.skipped)) == (b.n_updates, dict(b.skipped))
    if a.stateful:
        assert state_digest(a) == state_digest(b)


@pytest.mark.parametrize("backend", actif.available_backends())
@pytest.mark.parametrize("stateful", [False, True], ids=["window", "stateful"])
def test_resume_equals_uninterrupted_run(backend, stateful, tmp_path):
    model = make_model(backend)
    if stateful and backend not in STEP_BACKENDS:
        pytest.skip(f"{backend} has no stateful mode")
    data = stream(np.random.default_rng(0), stateful, 30)
    opts = dict(stateful=stateful, half_life=40.0, on_invalid="skip", aggregation="pen", trace="gates")
    whole = actif.StreamingExplainer(model, **opts)
    first = actif.StreamingExplainer(model, **opts)
    for x in data:
        whole.update(x)
    for x in data[:11]:
        first.update(x)
    path = first.checkpoint(tmp_path / "ck.bin")
    resumed = actif.StreamingExplainer.restore(path, model)
    assert (resumed.trace, resumed.aggregation, resumed.stateful, resumed.on_invalid) == ("gates", "pen", stateful, "skip")
    assert resumed.stats.half_life == 40.0 and resumed.skipped == Counter(non_finite=1)
    for x in data[11:]:
        resumed.update(x)
    assert_same_stream(resumed, whole)
    np.testing.assert_array_equal(resumed.scores(), whole.scores())
    assert os.listdir(tmp_path) == ["ck.bin"]  # no temporary file left behind


def test_checkpoint_every_n_accepted_updates(tmp_path):
    model = make_model()
    path = tmp_path / "auto.ck"
    st = actif.StreamingExplainer(model, stateful=True, on_invalid="skip", checkpoint_every=5, checkpoint_path=path)
    xs = stream(np.random.default_rng(1), True, 12)  # row 3 is skipped: 11 accepted
    for x in xs[:5]:
        st.update(x)
    assert not path.exists()  # 4 accepted so far
    st.update(xs[5])
    assert ck.read_file(path).n_updates == 5
    for x in xs[6:]:
        st.update(x)
    back = ck.read_file(path)
    assert back.n_updates == 10 and back.skipped == {"non_finite": 1} and back.options["checkpoint_every"] == 5
    resumed = actif.StreamingExplainer.restore(path, model)
    assert resumed.checkpoint_every == 5 and resumed.checkpoint_path == os.fspath(path)


def test_restore_refuses_another_model(tmp_path):
    st = actif.StreamingExplainer(make_model(), stateful=True)
    st.update(np.ones((3, N_IN), np.float32))
    path = st.checkpoint(tmp_path / "ck.bin")
    with pytest.raises(CheckpointMismatchError, match="5 input features|6 input features"):
        actif.StreamingExplainer.restore(path, make_model(n_in=5))
    with pytest.raises(CheckpointMismatchError, match="different model"):
        actif.StreamingExplainer.restore(path, make_model(seed=4))
    with pytest.raises(FileNotFoundError):
        actif.StreamingExplainer.restore(tmp_path / "missing.ck", make_model())


def corruptions(blob: bytes) -> dict[str, bytes]:
    n = len(blob)
    return {
        "empty": b"",
        "truncated": blob[: n // 2],
        "one byte short": blob[:-1],
        "padded": blob + b"\0",
        "bad magic": b"X" + blob[1:],
        "version 2": blob[:8] + (2).to_bytes(4, "little") + blob[12:],
        "flipped payload bit": blob[: n - 20] + bytes([blob[n - 20] ^ 0x10]) + blob[n - 19 :],
        "flipped header bit": blob[:40] + bytes([blob[40] ^ 0x01]) + blob[41:],
        "huge header length": blob[:12] + (1 << 31).to_bytes(4, "little") + blob[16:],
        "huge payload length": blob[:16] + (1 << 62).to_bytes(8, "little") + blob[24:],
        "random": np.random.default_rng(0).bytes(n),
    }


@pytest.mark.parametrize("case", sorted(corruptions(b"x" * 64)))
def test_malformed_checkpoints_raise_model_format_error(case, tmp_path):
    st = actif.StreamingExplainer(make_model(), stateful=True)
    st.update(np.ones((2, N_IN), np.float32))
    blob = open(st.checkpoint(tmp_path / "ck"), "rb").read()
    bad = tmp_path / "bad"
    bad.write_bytes(corruptions(blob)[case])
    with pytest.raises(ModelFormatError):
        actif.StreamingExplainer.restore(bad, make_model())


def reencode(blob: bytes, edit) -> bytes:
    """Decode, edit the header fields, re-encode with a valid CRC: deeper than a bit flip."""
    import json
    import struct
    import zlib

    _, _, hl, pl = struct.unpack_from("<8sIIQ", blob)
    header = json.loads(blob[24 : 24 + hl])
    edit(header)
    head = json.dumps(header).encode()
    body = struct.pack("<8sIIQ", ck.MAGIC, 1, len(head), pl) + head + blob[24 + hl : 24 + hl + pl]
    return body + struct.pack("<I", zlib.crc32(body))


SEMANTIC = {
    "unknown trace": lambda h: h["options"].update(trace="grad"),
    "negative count": lambda h: h["counters"].update(n_updates=-1),
    "bool as count": lambda h: h["counters"].update(n_updates=True),
    "wrong dtype": lambda h: h["state"]["arrays"][0].update(dtype="|O"),
    "shape past payload": lambda h: h["state"]["arrays"][0].update(shape=[1, 1 << 20]),
    "stateless with state": lambda h: h["options"].update(stateful=False),
    "half-life disagrees": lambda h: h["options"].update(half_life=3.0),
    "bad fingerprint": lambda h: h["model"].update(sha256="x"),
    "not a dict": lambda h: h.update(state=[1, 2]),
}


@pytest.mark.parametrize("case", sorted(SEMANTIC))
def test_semantically_wrong_checkpoints_with_valid_crc(case, tmp_path):
    st = actif.StreamingExplainer(make_model(), stateful=True)
    st.update(np.ones((2, N_IN), np.float32))
    blob = open(st.checkpoint(tmp_path / "ck"), "rb").read()
    with pytest.raises(ModelFormatError):
        ck.decode(reencode(blob, SEMANTIC[case]))


def test_state_shape_for_another_model_is_a_mismatch(tmp_path):
    st = actif.StreamingExplainer(make_model(), stateful=True)
    st.update(np.ones((2, N_IN), np.float32))
    blob = open(st.checkpoint(tmp_path / "ck"), "rb").read()
    data = ck.decode(blob)
    data.state_arrays["h.0"] = np.zeros((1, 3), np.float32)
    with pytest.raises(CheckpointMismatchError, match="h.0"):
        ck.load_state(make_model().new_state(1), data.state_arrays, 2)


@pytest.mark.parametrize("backend", STEP_BACKENDS)
def test_sigkill_mid_stream_then_resume(backend, tmp_path):
    """Kill a real streaming process with SIGKILL, restart it: it resumes from its last
    checkpoint and ends with the statistics and state of an uninterrupted run."""
    model = make_model(backend)
    model_path = tmp_path / "model.npz"
    model.save(model_path)
    ckpt = tmp_path / "stream.ck"
    total, every = (6000, 150) if backend == "cpp" else (2500, 100)  # the NumPy reference steps slowly
    cmd = [sys.executable, os.path.join(HERE, "stream_worker.py"), str(model_path), str(ckpt), backend, str(total), str(every)]
    victim = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        for line in victim.stdout:
            if line.startswith("progress") and int(line.split()[1]) >= total // 4:
                break
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    killed_at = position(actif.StreamingExplainer.restore(ckpt, model))
    assert 0 < killed_at < total, "the process must die mid-stream"

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    lines = resumed.stdout.splitlines()
    assert lines[0] == f"resumed {killed_at}"
    _, stats_hex, state_hex = lines[-1].split()

    reference = actif.StreamingExplainer(model, stateful=True, on_invalid="skip")
    for x in stream_samples(total, N_IN):
        reference.update(x)
    assert bytes.fromhex(stats_hex) == reference.stats.to_bytes()
    assert state_hex == state_digest(reference)
    final = ck.read_file(ckpt)  # the resumed run went on checkpointing to the same file
    assert final.n_updates == reference.n_updates - reference.n_updates % every


@pytest.mark.skipif(len(STEP_BACKENDS) < 2, reason="needs two backends with a stateful mode")
def test_restore_on_another_backend_of_the_same_model(tmp_path):
    """A checkpoint belongs to the model, not the engine: the state is cast to the new
    backend's dtype (exact float32 -> float64), and the stream goes on."""
    spec = random_spec(N_IN, 5, 1, pooling="last", seed=9)  # "last": an empty ring
    first, second = STEP_BACKENDS[:2]
    st = actif.StreamingExplainer(actif.Model(spec, first), stateful=True)
    xs = np.random.default_rng(2).normal(size=(20, N_IN)).astype(np.float32)
    st.update(xs[:10])
    path = st.checkpoint(tmp_path / "ck")
    moved = actif.StreamingExplainer.restore(path, actif.Model(spec, second))
    assert moved.state.ring.shape[1] == 0 and moved.state.steps == 10
    np.testing.assert_array_equal(moved.state.h[0].astype(np.float32), st.state.h[0])
    y_moved, y_same = moved.update(xs[10:]), st.update(xs[10:])
    np.testing.assert_allclose(y_moved, y_same, rtol=1e-4, atol=1e-5)
    assert moved.stats.count == st.stats.count == 20
