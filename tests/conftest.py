"""Shared fixtures: backends under test, ISA pinning, data directory."""

from __future__ import annotations

import os

import numpy as np
import pytest

import actif


def backend_variants() -> list[tuple[str, str | None]]:
    """(backend, isa) pairs to test: every available backend besides the reference, and
    for the native backend every kernel set this CPU runs (scalar included)."""
    out: list[tuple[str, str | None]] = []
    for name in actif.available_backends():
        if name == "numpy":
            continue
        if name == "cpp":
            from actif.backends.cpp import supported_isas

            out.extend(("cpp", isa) for isa in supported_isas())
        else:
            out.append((name, None))
    return out


def variant_id(v: tuple[str, str | None]) -> str:
    return v[0] if v[1] is None else f"{v[0]}-{v[1]}"


@pytest.fixture
def pinned_isa(request):
    """Pin the native kernel set for one test, then restore automatic choice."""
    isa = getattr(request, "param", None)
    if isa is None:
        yield None
        return
    from actif.backends.cpp import set_isa

    set_isa(isa)
    try:
        yield isa
    finally:
        set_isa("auto")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def data_dir():
    """The RobustVision recordings (ACTIF_DATA_DIR), or skip."""
    d = os.environ.get("ACTIF_DATA_DIR")
    if not d or not os.path.isdir(d):
        pytest.skip("RobustVision data not available (set ACTIF_DATA_DIR)")
    return d


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
