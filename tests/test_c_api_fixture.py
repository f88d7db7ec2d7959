"""The C API's fixture (cpp/tests/data) still matches the Python side.

cpp/tests/test_c_api.cpp checks the native loader and forward pass against
tiny_model_expected.txt; this checks that the committed model file loads in Python
and that the expected values are what the float64 NumPy reference computes today, so
a change of the format or of the reference cannot leave the C++ test checking stale
numbers.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

import actif

DATA = pathlib.Path(__file__).resolve().parents[1] / "cpp" / "tests" / "data"


def _script():
    spec = importlib.util.spec_from_file_location("make_tiny_model", DATA / "make_tiny_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _read_expected(name: str = "tiny_model_expected.txt") -> dict[str, np.ndarray]:
    tokens = (DATA / name).read_text(encoding="ascii").split()
    out, i = {}, 0
    while i < len(tokens):
        name, count = tokens[i], int(tokens[i + 1])
        out[name] = np.array(tokens[i + 2 : i + 2 + count], dtype=np.float64)
        i += 2 + count
    return out


def test_fixture_model_is_the_one_the_script_makes():
    saved = actif.ModelSpec.load(DATA / "tiny_model.npz")
    made = _script().make_spec()
    assert saved.header() == made.header()
    for name, arr in made.arrays().items():
        np.testing.assert_array_equal(saved.arrays()[name], arr, err_msg=name)


def test_fixture_expected_values_match_the_reference():
    module = _script()
    want = module.expected(actif.ModelSpec.load(DATA / "tiny_model.npz"))
    got = _read_expected()
    assert set(got) == set(want)
    for name, arr in want.items():
        np.testing.assert_allclose(got[name], np.ravel(arr), rtol=1e-15, atol=0, err_msg=name)


def test_fixture_attributions_match_the_reference():
    module = _script()
    want = module.expected_attribution(actif.ModelSpec.load(DATA / "tiny_model.npz"))
    got = _read_expected("tiny_model_attribution.txt")
    assert set(got) == set(want)
    for name, arr in want.items():
        np.testing.assert_allclose(got[name], np.ravel(arr), rtol=1e-12, atol=1e-15, err_msg=name)
