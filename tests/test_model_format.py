"""The .npz model format: round trips and every way a file can be wrong."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

import actif
from actif.errors import ModelFormatError
from actif.model_spec import ModelSpec, random_spec


@pytest.fixture
def spec():
    return random_spec(5, 7, 2, pooling="mean", num_layers=2, normalization=True, seed=1,
                       feature_names=list("abcde"))


def test_round_trip_preserves_everything(spec, tmp_path):
    spec.metadata = {"trained_on": "synthetic", "mae_cm": 3.5}
    path = tmp_path / "m.npz"
    spec.save(path)
    back = ModelSpec.load(path)
    assert back.header() == spec.header()
    for name, arr in spec.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], arr)
    assert ModelSpec.load(path.read_bytes()).header() == spec.header()
    m = actif.load(path, backend="numpy")
    assert m.feature_names == list("abcde") and m.spec.metadata["mae_cm"] == 3.5


def test_save_is_atomic(spec, tmp_path):
    path = tmp_path / "m.npz"
    spec.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


def rewrite(path, tmp_path, edit_header=None, edit_members=None):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if edit_header:
        header = json.loads(np.load(io.BytesIO(members["header.npy"])).tobytes())
        edit_header(header)
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(header).encode(), np.uint8))
        members["header.npy"] = buf.getvalue()
    if edit_members:
        edit_members(members)
    out = tmp_path / "bad.npz"
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return out


def npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


CORRUPTIONS = {
    "wrong version": dict(edit_header=lambda h: h.update(version=99)),
    "not actif": dict(edit_header=lambda h: h.update(format="other")),
    "shape mismatch": dict(edit_header=lambda h: h["layers"][1].update(hidden_size=8)),
    "huge declared size": dict(edit_header=lambda h: h["layers"][1].update(hidden_size=60000)),
    "unknown layer": dict(edit_header=lambda h: h["layers"].insert(2, {"type": "conv"})),
    "bad pooling": dict(edit_header=lambda h: h["layers"][3].update(mode="median")),
    "missing member": dict(edit_members=lambda m: m.pop("lstm.0.w_hh.npy")),
    "wrong dtype": dict(edit_members=lambda m: m.update({"lstm.0.b_ih.npy": npy(np.zeros(28, np.int64))})),
    "wrong member shape": dict(edit_members=lambda m: m.update({"lstm.0.b_ih.npy": npy(np.zeros(29, np.float32))})),
    "nan weights": dict(edit_members=lambda m: m.update({"lstm.0.b_ih.npy": npy(np.full(28, np.nan, np.float32))})),
    "header not json": dict(edit_members=lambda m: m.update({"header.npy": npy(np.frombuffer(b"{oops", np.uint8))})),
    "object array": dict(edit_members=lambda m: m.update({"lstm.0.b_ih.npy": npy(np.array([None] * 28, dtype=object))})),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_files_raise_model_format_error(spec, tmp_path, case):
    path = tmp_path / "m.npz"
    spec.save(path)
    bad = rewrite(path, tmp_path, **CORRUPTIONS[case])
    with pytest.raises(ModelFormatError):
        ModelSpec.load(bad)


def test_truncated_and_random_files(spec, tmp_path):
    path = tmp_path / "m.npz"
    spec.save(path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) - 30):
        with pytest.raises(ModelFormatError):
            ModelSpec.load(data[:cut])
    rng = np.random.default_rng(0)
    for _ in range(20):
        with pytest.raises(ModelFormatError):
            ModelSpec.load(rng.bytes(int(rng.integers(1, 4000))))
    with pytest.raises(FileNotFoundError):
        actif.load(tmp_path / "missing.npz")


def test_validation_names_the_problem(spec):
    spec.pooling = "median"
    with pytest.raises(ModelFormatError, match="pooling"):
        spec.validate()
    spec.pooling = "last"
    spec.lstm[1].w_hh = spec.lstm[1].w_hh[:, :3]
    with pytest.raises(ModelFormatError, match="lstm.1.w_hh"):
        spec.validate()


def test_model_facts(spec):
    m = actif.Model(spec, "numpy")
    assert (m.input_size, m.hidden_size, m.output_size, m.num_layers, m.window) == (5, 7, 2, 2, 10)
    assert "numpy" in repr(m)
    assert m.output_names == ["y0", "y1"]


@pytest.mark.parametrize("var", [-1.0, np.nan], ids=["negative", "nan"])
def test_batchnorm_with_unusable_variance_is_a_format_error(var):
    """Importers fold batch norm through one helper; a hostile running variance must be a
    ModelFormatError, not a NaN scale passed on with a RuntimeWarning."""
    from actif.model_spec import batchnorm_to_affine

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelFormatError, match="variance"):
            batchnorm_to_affine(None, None, np.zeros(2), np.array([1.0, var]), 1e-5)
    scale, shift = batchnorm_to_affine(None, None, np.array([1.0, 2.0]), np.array([3.0, 0.0]), 1.0)
    np.testing.assert_allclose(scale, [0.5, 1.0])
    np.testing.assert_allclose(shift, [-0.5, -2.0])
