"""Clear errors at the edge (issue: hardening): every CLI failure over a file is one line
on stderr naming the file and what is wrong, exit status 2, no traceback, and nothing
is computed before the output path is known to be writable."""

from __future__ import annotations

import os

import numpy as np
import pytest

import actif
from actif.cli import main


@pytest.fixture
def files(tmp_path):
    actif.random_model(3, 8, seed=0).save(tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", np.zeros((4, 10, 3), np.float32))
    np.save(tmp_path / "empty.npy", np.zeros((0, 10, 3), np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(5))
    (tmp_path / "zero.npy").write_bytes(b"")
    (tmp_path / "zero.npz").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    return tmp_path


CASES = [
    (["explain", "--model", "m.npz", "--data", "adir"], "adir", "directory"),
    (["explain", "--model", "m.npz", "--data", "missing.npy"], "missing.npy", "no data file"),
    (["explain", "--model", "m.npz", "--data", "zero.npy"], "zero.npy", ""),
    (["explain", "--model", "m.npz", "--data", "zero.npz"], "zero.npz", ""),
    (["explain", "--model", "m.npz", "--data", "empty.npy"], "empty.npy", "no windows"),
    (["explain", "--model", "m.npz", "--data", "flat.npy"], "flat.npy", "shape"),
    (["explain", "--model", "adir", "--data", "X.npy"], "adir", "directory"),
    (["explain", "--model", "zero.npy", "--data", "X.npy"], "zero.npy", "model"),
    (["explain", "--model", "m.npz", "--data", "X.npy", "--out", "adir"], "adir", "directory"),
    (["explain", "--model", "m.npz", "--data", "X.npy", "--out", "nodir/r.json"], "nodir/r.json", "does not exist"),
    (["explain", "--model", "m.npz", "--data", "X.npy", "--plot", "adir"], "adir", "directory"),
    (["export", "--model", "m.npz", "--to", "adir"], "adir", "directory"),
    (["export", "--model", "m.npz", "--to", "nodir/m.onnx"], "nodir/m.onnx", "does not exist"),
    (["export", "--model", "adir", "--to", "m2.npz"], "adir", "directory"),
    (["demo", "--out", "m.npz"], "m.npz", "directory"),
    (["demo", "--model", "adir"], "adir", "directory"),
    (["train", "--out", "adir"], "adir", "directory"),
    # merge: every path checked before the cluster job starts
    (["merge", "adir", "--out", "adir"], "adir", "directory"),
    (["merge", "adir", "--out", "nodir/s.stats"], "nodir/s.stats", "does not exist"),
    (["merge", "adir", "--out", "s.stats", "--json", "nodir/s.json"], "nodir/s.json", "does not exist"),
    (["merge", "adir", "--out", "s.stats", "--plot", "adir"], "adir", "directory"),
    (["merge", "adir", "--out", "s.stats", "--model", "missing.npz"], "missing.npz", "no model file"),
]


@pytest.mark.parametrize("argv, names, says", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_file_failures_are_one_line_naming_the_file_with_status_2(argv, names, says, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert names in lines[0] and says.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("which", ["data", "model", "out"])
def test_unreadable_or_unwritable_files_are_one_line(which, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    argv = ["explain", "--model", "m.npz", "--data", "X.npy"]
    denied = {"data": "X.npy", "model": "m.npz", "out": str(files / "locked")}[which]
    if which == "out":
        (files / "locked").mkdir()
        argv += ["--out", "locked/r.json"]
    # permissions do not bind root (CI may run as root): deny through os.access, which
    # is what the edge checks consult
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == denied else real_access(p, mode))
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "permission denied" in lines[0], lines


def test_a_bad_output_path_is_refused_before_any_work(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert main(["explain", "--model", "m.npz", "--data", "X.npy", "--out", "adir"]) == 2
    assert capsys.readouterr().out == ""  # no ranking was computed and printed first


def test_merge_refuses_bad_paths_before_starting_a_cluster(files, capsys, monkeypatch):
    from actif import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("the cluster job started before the paths were checked")

    monkeypatch.setattr(distributed, "merge_with_report", no_cluster)
    monkeypatch.chdir(files)
    assert main(["merge", "adir", "--out", "nodir/s.stats"]) == 2
    assert "nodir/s.stats" in capsys.readouterr().err


def test_an_internal_fault_is_one_line_with_status_1_unless_asked(files, capsys, monkeypatch):
    from actif.commands import explain

    def broken(args):
        raise RuntimeError("simulated fault")

    monkeypatch.chdir(files)
    monkeypatch.setattr(explain, "run", broken)
    monkeypatch.delenv("ACTIF_TRACEBACK", raising=False)
    assert main(["explain", "--model", "m.npz", "--data", "X.npy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: simulated fault" in err and "ACTIF_TRACEBACK" in err
    monkeypatch.setenv("ACTIF_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="simulated fault"):
        main(["explain", "--model", "m.npz", "--data", "X.npy"])
